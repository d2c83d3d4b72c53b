"""The usage ledger in PostgreSQL, for replicas on several machines: `[storage] url = "postgresql://..."`.

Like the SQLite ledger, callers only append to a queue and one background task writes batches,
one transaction each, so the request path never waits on the database. The schema is made on the
first connection (`postgres.migrate`), safely when replicas start together. If PostgreSQL goes
away, rows stay queued (at most `capacity`; past that the oldest are dropped, with a warning) and
the writer reconnects every `RETRY_S` seconds; a batch is removed from the queue only once its
transaction committed, so a database restart loses none.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import astuple, fields
from typing import Any

import asyncpg

from interlingua.adapters.storage.ledger import UsageRecord
from interlingua.adapters.storage.postgres import ERRORS, migrate

log = logging.getLogger("interlingua.ledger")

RETRY_S = 1.0
BATCH = 512
_COLUMNS = tuple(f.name for f in fields(UsageRecord))
_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    id BIGSERIAL PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    "key" TEXT NOT NULL,
    model TEXT NOT NULL,
    upstream TEXT NOT NULL,
    dialect TEXT NOT NULL,
    operation TEXT NOT NULL,
    status INTEGER NOT NULL,
    input_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    ttfb_ms DOUBLE PRECISION,
    total_ms DOUBLE PRECISION NOT NULL,
    stream BOOLEAN NOT NULL,
    estimated BOOLEAN NOT NULL,
    characters BIGINT NOT NULL DEFAULT 0,
    audio_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    images BIGINT NOT NULL DEFAULT 0,
    pages BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS usage_key_ts ON usage ("key", ts);
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
"""


class PgLedger:
    def __init__(self, url: str, capacity: int = 100_000) -> None:
        self.url = url
        self._queue: deque[UsageRecord] = deque(maxlen=capacity)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._dropped = 0
        self.connected = False

    def record(self, rec: UsageRecord) -> None:
        if self._closed:
            return
        if len(self._queue) == self._queue.maxlen:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.warning("usage ledger queue full while PostgreSQL is unreachable: %d oldest rows dropped",
                            self._dropped)
        self._queue.append(rec)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        conn: Any = None
        while True:
            if not self._queue:
                if self._closed:
                    break
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.url, timeout=5)
                    await migrate(conn, _SCHEMA)
                    if not self.connected:
                        log.warning("usage ledger connected to PostgreSQL; %d queued rows to write", len(self._queue))
                    self.connected = True
                batch = [astuple(self._queue[i]) for i in range(min(BATCH, len(self._queue)))]
                async with conn.transaction():
                    await conn.copy_records_to_table("usage", records=batch, columns=_COLUMNS)
                for _ in batch:
                    self._queue.popleft()
            except ERRORS as exc:
                if self.connected:
                    log.warning("usage ledger cannot write to PostgreSQL (%s): %d rows queued, retrying",
                                type(exc).__name__, len(self._queue))
                self.connected = False
                if conn is not None:
                    conn.terminate()
                    conn = None
                if self._closed:
                    break
                await asyncio.sleep(RETRY_S)
        if conn is not None:
            await conn.close()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued row is written (tests, and shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._queue and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    async def ready(self) -> str | None:
        try:
            conn = await asyncpg.connect(self.url, timeout=2)
        except ERRORS:
            return "PostgreSQL is unreachable (usage rows are queued meanwhile)"
        await conn.close()
        return None

    async def aclose(self) -> None:
        await self.drain()
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._queue:
            log.warning("usage ledger closed with %d rows PostgreSQL never took", len(self._queue))


# What `totals` can group by, as in `ledger.GROUPS`: the column's expression, and its name.
GROUPS = {"key": ('"key" AS key', '"key"'), "model": ("model", "model"),
          "day": ("to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day", "day")}
# PostgreSQL sums integers as numeric, which JSON and the table want back as integers.
_SUMS = """COUNT(*) AS requests, SUM((status >= 400)::int)::bigint AS errors,
       SUM(input_tokens)::bigint AS input_tokens, SUM(cached_tokens)::bigint AS cached_tokens,
       SUM(output_tokens)::bigint AS output_tokens, SUM(reasoning_tokens)::bigint AS reasoning_tokens,
       SUM(characters)::bigint AS characters, SUM(audio_seconds) AS audio_seconds, SUM(images)::bigint AS images,
       SUM(pages)::bigint AS pages, SUM(cost_usd) AS cost_usd, AVG(ttfb_ms) AS avg_ttfb_ms,
       AVG(total_ms) AS avg_total_ms"""


async def totals(url: str, by: tuple[str, ...] = ("key", "model"), since: float | None = None,
                 until: float | None = None) -> list[dict[str, Any]]:
    """`ledger.totals()` from PostgreSQL: sums per group of requests that started in [since, until),
    [] before any row was written."""
    order = ", ".join(GROUPS[name][1] for name in by)
    return await _read(url, f"SELECT {', '.join(GROUPS[name][0] for name in by)}, {_SUMS} FROM usage{{where}} "
                            f"GROUP BY {order} ORDER BY {order}", since, until)


async def series(url: str, step: int, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """`ledger.series()` from PostgreSQL: `totals` per key and model in buckets of `step` seconds."""
    return await _read(url, f'SELECT (FLOOR(ts / {int(step)}) * {int(step)})::bigint AS t, "key" AS key, model, '
                            f'{_SUMS} FROM usage{{where}} GROUP BY t, "key", model ORDER BY t, "key", model',
                       since, until)


async def _read(url: str, sql: str, since: float | None, until: float | None) -> list[dict[str, Any]]:
    """Rows of `sql` with `{where}` made from the time range; [] before any row was written."""
    clauses, params = [], []
    for bound, op in ((since, ">="), (until, "<")):
        if bound is not None:
            params.append(bound)
            clauses.append(f"ts {op} ${len(params)}")
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if await conn.fetchval("SELECT to_regclass('usage')") is None:
            return []
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        return [dict(row) for row in await conn.fetch(sql.format(where=where), *params)]
    finally:
        await conn.close()


async def spend(url: str, key: str, since: float) -> float:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        if await conn.fetchval("SELECT to_regclass('usage')") is None:
            return 0.0
        return float(await conn.fetchval('SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE "key" = $1 AND ts >= $2',
                                         key, since))
    finally:
        await conn.close()
