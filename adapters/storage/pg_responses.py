"""Stored Responses in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

The same contract as the SQLite store (`responses.py`): `put` never waits (the row is served from
memory until its write lands, on a background task that retries while the database is away),
reads are coroutines, and a conversation is rebuilt from its chain of `previous_id`s, here in one
recursive query, so a conversation started on one replica continues on any other. The Response and
the input items are kept as the bytes the client got, never re-encoded. Expired responses are not
found, and each replica sweeps them now and then while it writes, as the SQLite store does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.responses import MAX_CHAIN, SWEEP_BATCH, Retention, Row, chain, owned

log = logging.getLogger("interlingua.responses")

RETRY_S = 1.0
PENDING = 10_000  # rows kept in memory while the database is away; past that the oldest go
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created DOUBLE PRECISION NOT NULL,
    previous_id TEXT,
    response BYTEA NOT NULL,
    input BYTEA NOT NULL,
    owner TEXT
);
ALTER TABLE responses ADD COLUMN IF NOT EXISTS owner TEXT;
CREATE INDEX IF NOT EXISTS responses_created ON responses (created);
"""
_PUT = ("INSERT INTO responses (id, created, previous_id, response, input, owner) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (id) DO UPDATE SET previous_id = EXCLUDED.previous_id, response = EXCLUDED.response, "
        "input = EXCLUDED.input, owner = EXCLUDED.owner")
_CHAIN = """
WITH RECURSIVE turn(id, previous_id, response, input, owner, depth) AS (
    SELECT id, previous_id, response, input, owner, 1 FROM responses WHERE id = $1 AND created >= $3
    UNION ALL
    SELECT r.id, r.previous_id, r.response, r.input, r.owner, turn.depth + 1
    FROM responses r JOIN turn ON r.id = turn.previous_id WHERE turn.depth < $2 AND r.created >= $3
)
SELECT id, previous_id, response, input, owner FROM turn
"""



_SWEEP = "DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE created < $1 LIMIT $2)"


class PgResponseStore:
    def __init__(self, url: str, keep_days: float = 30.0) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "Responses store")
        self.retention = Retention(keep_days)
        self._pending: dict[str, Row] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._writing: dict[str, asyncio.Task[None]] = {}  # each response's last write

    async def warm(self) -> None:
        await self.db.warm()

    def put(self, owner: str | None, response: dict[str, Any], input_items: list[Any],
            previous_id: str | None) -> None:
        row: Row = (previous_id, orjson.dumps(response), orjson.dumps(input_items), owner)
        if len(self._pending) >= PENDING:
            log.warning("Responses store: %d responses not yet written; dropping the oldest", len(self._pending))
            del self._pending[next(iter(self._pending))]
        response_id = response["id"]
        self._pending[response_id] = row
        task = asyncio.get_running_loop().create_task(self._write(response_id, row, self._writing.get(response_id)))
        self._writing[response_id] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._written(response_id, done))

    def _written(self, response_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._writing.get(response_id) is task:
            del self._writing[response_id]

    async def _write(self, response_id: str, row: Row, after: asyncio.Task[None] | None) -> None:
        # A response put again (a background one as it runs) is written after its earlier write, on
        # whichever connection: the last put must be what stays.
        if after is not None:
            await asyncio.wait((after,))
        while self._pending.get(response_id) is row:
            try:
                pool = await self.db.pool()
                await pool.execute(_PUT, response_id, time.time(), *row)
            except postgres.ERRORS as exc:
                log.warning("Responses store: %s not written yet (%s); retrying", response_id, type(exc).__name__)
                await asyncio.sleep(RETRY_S)
                continue
            if self._pending.get(response_id) is row:
                del self._pending[response_id]
        if self.retention.due():
            await self._sweep()

    async def _sweep(self) -> None:
        """Delete expired responses a batch at a time; a database away now is swept next time."""
        cutoff, gone = self.retention.cutoff(), f"DELETE {SWEEP_BATCH}"
        try:
            pool = await self.db.pool()
            while gone == f"DELETE {SWEEP_BATCH}":
                gone = await pool.execute(_SWEEP, cutoff, SWEEP_BATCH)
        except postgres.ERRORS as exc:
            log.warning("Responses store: expired responses not deleted yet (%s)", type(exc).__name__)

    async def _rows(self, response_id: str) -> dict[str, Row]:
        rows: dict[str, Row] = {}
        current: str | None = response_id
        while current is not None and current in self._pending and len(rows) < MAX_CHAIN:
            rows[current] = self._pending[current]
            current = rows[current][0]
        if current is None or current in rows:
            return rows
        try:
            pool = await self.db.pool()
            found = await pool.fetch(_CHAIN, current, MAX_CHAIN, self.retention.cutoff())
        except postgres.ERRORS:
            raise postgres.unreachable("Responses store") from None
        rows.update({r["id"]: (r["previous_id"], r["response"], r["input"], r["owner"]) for r in found})
        return rows

    async def _row(self, response_id: str) -> Row | None:
        pending = self._pending.get(response_id)
        if pending is not None:
            return pending
        try:
            pool = await self.db.pool()
            found = await pool.fetchrow("SELECT previous_id, response, input, owner FROM responses WHERE id = $1 "
                                        "AND created >= $2", response_id, self.retention.cutoff())
        except postgres.ERRORS:
            raise postgres.unreachable("Responses store") from None
        return None if found is None else (found["previous_id"], found["response"], found["input"], found["owner"])

    async def get(self, owner: str | None, response_id: str) -> dict[str, Any] | None:
        row = owned(await self._row(response_id), owner)
        return orjson.loads(row[1]) if row else None

    async def input_items(self, owner: str | None, response_id: str) -> list[Any] | None:
        row = owned(await self._row(response_id), owner)
        return orjson.loads(row[2]) if row else None

    async def history(self, owner: str | None, response_id: str) -> list[Any] | None:
        rows = await self._rows(response_id)
        return chain(lambda found: owned(rows.get(found), owner), response_id)

    async def delete(self, owner: str | None, response_id: str) -> bool:
        pending = self._pending.get(response_id)
        if pending is not None and owned(pending, owner) is None:
            return False
        self._pending.pop(response_id, None)
        try:
            pool = await self.db.pool()
            deleted = await pool.execute("DELETE FROM responses WHERE id = $1 AND created >= $2 AND "
                                         "(owner IS NULL OR $3::text IS NULL OR owner = $3)", response_id,
                                         self.retention.cutoff(), owner)
        except postgres.ERRORS:
            raise postgres.unreachable("Responses store") from None
        return pending is not None or deleted != "DELETE 0"

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for task in self._tasks:
            task.cancel()
        await self.db.aclose()
