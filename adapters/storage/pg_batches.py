"""Batches in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

The same contract as the SQLite store (`batches.py`): a running batch is leased by the replica
running it, and one whose lease ran out is taken up by another, where its recorded lines end. A
database that is away is a 503 the client may retry.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from interlingua.adapters.dialects.openai_batches import RUNNING
from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.batches import Page, Result

log = logging.getLogger("interlingua.batches")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    status TEXT NOT NULL,
    holder TEXT,
    lease DOUBLE PRECISION NOT NULL DEFAULT 0,
    batch BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_status ON batches (status, lease);
CREATE TABLE IF NOT EXISTS batch_lines (
    batch TEXT NOT NULL,
    number INTEGER NOT NULL,
    status INTEGER NOT NULL,
    line BYTEA NOT NULL,
    PRIMARY KEY (batch, number)
);
"""
_OWNED = "(owner IS NULL OR $2::text IS NULL OR owner = $2)"  # as `responses.visible`; $2 is the caller's key


class PgBatchStore:
    def __init__(self, url: str) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "batches store")

    async def warm(self) -> None:
        await self.db.warm()

    async def create(self, owner: str | None, batch: dict[str, Any]) -> None:
        await self.db.run(lambda conn: conn.execute("INSERT INTO batches (id, owner, status, batch) VALUES "
                                                    "($1, $2, $3, $4)", batch["id"], owner, batch["status"],
                                                    orjson.dumps(batch)))

    async def get(self, owner: str | None, batch_id: str) -> dict[str, Any] | None:
        found = await self.db.run(lambda conn: conn.fetchval(
            f"SELECT batch FROM batches WHERE id = $1 AND {_OWNED}", batch_id, owner))
        return None if found is None else orjson.loads(found)

    async def page(self, owner: str | None, after: str | None, limit: int) -> Page:
        async def page(conn: Any) -> Page:
            start = await conn.fetchval("SELECT seq FROM batches WHERE id = $1", after) if after else None
            rows = await conn.fetch(f"SELECT batch FROM batches WHERE {_OWNED} AND ($1::bigint IS NULL OR seq < $1) "
                                    "ORDER BY seq DESC LIMIT $3", start, owner, limit + 1)
            return [orjson.loads(row["batch"]) for row in rows[:limit]], len(rows) > limit
        found: Page = await self.db.run(page)
        return found

    async def save(self, batch: dict[str, Any], unless: tuple[str, ...] = ()) -> bool:
        status = await self.db.run(lambda conn: conn.execute(
            "UPDATE batches SET status = $1, batch = $2 WHERE id = $3 AND NOT (status = ANY($4::text[]))",
            batch["status"], orjson.dumps(batch), batch["id"], list(unless)))
        return bool(status != "UPDATE 0")

    async def claim(self, batch_id: str, holder: str, until: float, now: float) -> bool:
        status = await self.db.run(lambda conn: conn.execute(
            "UPDATE batches SET holder = $1, lease = $2 WHERE id = $3 AND (lease < $4 OR holder = $1)",
            holder, until, batch_id, now))
        return bool(status != "UPDATE 0")

    async def stale(self, now: float) -> list[tuple[str, str | None]]:
        rows = await self.db.run(lambda conn: conn.fetch(
            "SELECT id, owner FROM batches WHERE status = ANY($1::text[]) AND lease < $2", list(RUNNING), now))
        return [(row["id"], row["owner"]) for row in rows]

    async def record(self, batch_id: str, result: Result) -> None:
        await self.db.run(lambda conn: conn.execute(
            "INSERT INTO batch_lines VALUES ($1, $2, $3, $4) ON CONFLICT (batch, number) DO UPDATE SET "
            "status = EXCLUDED.status, line = EXCLUDED.line", batch_id, *result))

    async def results(self, batch_id: str) -> list[Result]:
        rows = await self.db.run(lambda conn: conn.fetch(
            "SELECT number, status, line FROM batch_lines WHERE batch = $1 ORDER BY number", batch_id))
        return [(row["number"], row["status"], bytes(row["line"])) for row in rows]

    async def delete(self, owner: str | None, batch_id: str) -> bool:
        async def delete(conn: Any) -> bool:
            if await conn.execute(f"DELETE FROM batches WHERE id = $1 AND {_OWNED}", batch_id, owner) == "DELETE 0":
                return False
            await conn.execute("DELETE FROM batch_lines WHERE batch = $1", batch_id)
            return True
        return bool(await self.db.run(delete, transaction=True))

    async def aclose(self) -> None:
        await self.db.aclose()
