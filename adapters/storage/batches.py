"""Batches (`/v1/batches`), kept by the gateway in `<data_dir>/files.sqlite3` beside the files they
read and write: each batch's Batch object, and each of its requests' output line as it is answered,
so a batch the gateway stopped in the middle of is taken up again where it was, by any worker.

A running batch is leased: the worker running it renews its lease (`claim`) while it works, and a
batch whose lease ran out (its worker stopped) is found by `stale` and claimed by another. A
batch belongs to the key that created it, as a file does. Every call runs on one worker thread and
is awaited. The PostgreSQL store (`pg_batches.py`) keeps the same contract for replicas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import orjson

from interlingua.adapters.dialects.openai_batches import RUNNING
from interlingua.adapters.storage import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    status TEXT NOT NULL,
    holder TEXT,
    lease REAL NOT NULL DEFAULT 0,
    batch BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_status ON batches (status, lease);
CREATE TABLE IF NOT EXISTS batch_lines (
    batch TEXT NOT NULL,
    number INTEGER NOT NULL,
    status INTEGER NOT NULL,
    line BLOB NOT NULL,
    PRIMARY KEY (batch, number)
);
"""
_OWNED = "(owner IS NULL OR ?2 IS NULL OR owner = ?2)"  # as `responses.visible`; ?2 is the caller's key
Page = tuple[list[dict[str, Any]], bool]
Result = tuple[int, int, bytes]  # a request's line number, its answer's status, its output line


class Batches(Protocol):
    """What the batches layer needs of a store. `owner` is the calling key's name (None: every
    batch). Each call may raise `ir.GatewayError` when the store is unreachable."""

    async def create(self, owner: str | None, batch: dict[str, Any]) -> None: ...
    async def get(self, owner: str | None, batch_id: str) -> dict[str, Any] | None: ...
    async def page(self, owner: str | None, after: str | None, limit: int) -> Page: ...
    async def save(self, batch: dict[str, Any], unless: tuple[str, ...] = ()) -> bool: ...
    async def claim(self, batch_id: str, holder: str, until: float, now: float) -> bool: ...
    async def stale(self, now: float) -> list[tuple[str, str | None]]: ...
    async def record(self, batch_id: str, result: Result) -> None: ...
    async def results(self, batch_id: str) -> list[Result]: ...
    async def delete(self, owner: str | None, batch_id: str) -> bool: ...
    async def aclose(self) -> None: ...


class BatchStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._thread = sqlite.OneThread("batches")

    def _execute(self, query: str, *args: Any) -> Any:
        return self._db.execute(query, args)

    async def create(self, owner: str | None, batch: dict[str, Any]) -> None:
        await self._thread.run(self._execute, "INSERT INTO batches (id, owner, status, batch) VALUES (?, ?, ?, ?)",
                        batch["id"], owner, batch["status"], orjson.dumps(batch))

    async def get(self, owner: str | None, batch_id: str) -> dict[str, Any] | None:
        row = await self._thread.run(lambda: self._db.execute(f"SELECT batch FROM batches WHERE id = ?1 AND {_OWNED}",
                                                       (batch_id, owner)).fetchone())
        return None if row is None else orjson.loads(row[0])

    async def page(self, owner: str | None, after: str | None, limit: int) -> Page:
        def page() -> Page:
            start = self._db.execute("SELECT seq FROM batches WHERE id = ?", (after,)).fetchone() if after else None
            rows = self._db.execute(f"SELECT batch FROM batches WHERE {_OWNED} AND (?1 IS NULL OR seq < ?1) "
                                    "ORDER BY seq DESC LIMIT ?3",
                                    (start[0] if start else None, owner, limit + 1)).fetchall()
            return [orjson.loads(row[0]) for row in rows[:limit]], len(rows) > limit
        return await self._thread.run(page)

    async def save(self, batch: dict[str, Any], unless: tuple[str, ...] = ()) -> bool:
        """Write `batch` over its stored self, unless that is now in one of the statuses `unless`
        (a cancel another worker stored meanwhile); False if it was not written."""
        spared = f" AND status NOT IN ({', '.join('?' * len(unless))})" if unless else ""
        return bool(await self._thread.run(lambda: self._db.execute(
            f"UPDATE batches SET status = ?, batch = ? WHERE id = ?{spared}",
            (batch["status"], orjson.dumps(batch), batch["id"], *unless)).rowcount))

    async def claim(self, batch_id: str, holder: str, until: float, now: float) -> bool:
        """Lease a running batch to `holder` until `until`: one whose lease ran out, or its own."""
        return bool(await self._thread.run(lambda: self._db.execute(
            "UPDATE batches SET holder = ?1, lease = ?2 WHERE id = ?3 AND (lease < ?4 OR holder = ?1)",
            (holder, until, batch_id, now)).rowcount))

    async def stale(self, now: float) -> list[tuple[str, str | None]]:
        rows = await self._thread.run(lambda: self._db.execute(
            f"SELECT id, owner FROM batches WHERE status IN ({', '.join('?' * len(RUNNING))}) AND lease < ?",
            (*RUNNING, now)).fetchall())
        return [(row[0], row[1]) for row in rows]

    async def record(self, batch_id: str, result: Result) -> None:
        await self._thread.run(self._execute, "INSERT OR REPLACE INTO batch_lines VALUES (?, ?, ?, ?)", batch_id,
                               *result)

    async def results(self, batch_id: str) -> list[Result]:
        rows = await self._thread.run(lambda: self._db.execute(
            "SELECT number, status, line FROM batch_lines WHERE batch = ? ORDER BY number", (batch_id,)).fetchall())
        return [(row[0], row[1], bytes(row[2])) for row in rows]

    async def delete(self, owner: str | None, batch_id: str) -> bool:
        def delete() -> bool:
            if not self._db.execute(f"DELETE FROM batches WHERE id = ?1 AND {_OWNED}", (batch_id, owner)).rowcount:
                return False
            self._db.execute("DELETE FROM batch_lines WHERE batch = ?", (batch_id,))
            return True
        return await self._thread.run(delete)

    async def aclose(self) -> None:
        self._thread.shutdown()
        self._db.close()
