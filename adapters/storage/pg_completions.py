"""Stored Chat Completions in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

The same contract as the SQLite store (`completions.py`): every call is awaited, so a completion is
kept before its client has the end of its answer, and any replica finds it. The metadata is JSONB,
so a list's metadata filter is the database's containment test. A database that is away is a 503
the client may retry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from interlingua.adapters.dialects.openai_pages import Page
from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.completions import with_metadata
from interlingua.adapters.storage.responses import SWEEP_BATCH, Retention

log = logging.getLogger("interlingua.completions")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_completions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    created DOUBLE PRECISION NOT NULL,
    model TEXT,
    answered TEXT,
    metadata JSONB NOT NULL,
    completion BYTEA NOT NULL,
    messages BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_completions_created ON chat_completions (created);
"""
# Found by the caller's key ($2, as `responses.visible`), and not expired ($3 is the cutoff).
_FOUND = "(owner IS NULL OR $2::text IS NULL OR owner = $2) AND created >= $3"
_SWEEP = ("DELETE FROM chat_completions WHERE seq IN (SELECT seq FROM chat_completions WHERE created < $1 "
          "LIMIT $2)")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class PgCompletionStore:
    def __init__(self, url: str, keep_days: float = 30.0) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "completions store")
        self.retention = Retention(keep_days)

    async def warm(self) -> None:
        await self.db.warm()

    async def put(self, owner: str | None, completion: dict[str, Any], messages: list[Any], model: str | None,
                  metadata: dict[str, str]) -> None:
        async def put(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO chat_completions (id, owner, created, model, answered, metadata, completion, messages) "
                "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) ON CONFLICT (id) DO UPDATE SET owner = $2, "
                "created = $3, model = $4, answered = $5, metadata = $6::jsonb, completion = $7, messages = $8",
                completion["id"], owner, time.time(), model, completion.get("model"), _json(metadata),
                orjson.dumps(completion), orjson.dumps(messages))
            if self.retention.due():
                cutoff, gone = self.retention.cutoff(), f"DELETE {SWEEP_BATCH}"
                while gone == f"DELETE {SWEEP_BATCH}":
                    gone = await conn.execute(_SWEEP, cutoff, SWEEP_BATCH)
        await self.db.run(put)

    async def _one(self, columns: str, owner: str | None, completion_id: str) -> Any:
        return await self.db.run(lambda conn: conn.fetchrow(
            f"SELECT {columns} FROM chat_completions WHERE id = $1 AND {_FOUND}", completion_id, owner,
            self.retention.cutoff()))

    async def get(self, owner: str | None, completion_id: str) -> dict[str, Any] | None:
        row = await self._one("completion, metadata::text AS metadata", owner, completion_id)
        return None if row is None else with_metadata(row["completion"], row["metadata"])

    async def messages(self, owner: str | None, completion_id: str) -> list[Any] | None:
        row = await self._one("messages", owner, completion_id)
        return None if row is None else orjson.loads(row["messages"])

    async def page(self, owner: str | None, after: str | None, limit: int, desc: bool, model: str | None,
                   metadata: dict[str, str]) -> Page:
        async def page(conn: Any) -> Page:
            start = await conn.fetchval("SELECT seq FROM chat_completions WHERE id = $1", after) if after else None
            rows = await conn.fetch(
                f"SELECT completion, metadata::text AS metadata FROM chat_completions WHERE {_FOUND} "
                f"AND ($1::bigint IS NULL OR seq {'<' if desc else '>'} $1) "
                "AND ($4::text IS NULL OR model = $4 OR answered = $4) AND metadata @> $5::jsonb "
                f"ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT $6",
                start, owner, self.retention.cutoff(), model, _json(metadata), limit + 1)
            return [with_metadata(row["completion"], row["metadata"]) for row in rows[:limit]], len(rows) > limit
        found: Page = await self.db.run(page)
        return found

    async def update(self, owner: str | None, completion_id: str, metadata: dict[str, str]) -> dict[str, Any] | None:
        row = await self.db.run(lambda conn: conn.fetchrow(
            f"UPDATE chat_completions SET metadata = $4::jsonb WHERE id = $1 AND {_FOUND} "
            "RETURNING completion, metadata::text AS metadata", completion_id, owner, self.retention.cutoff(),
            _json(metadata)))
        return None if row is None else with_metadata(row["completion"], row["metadata"])

    async def delete(self, owner: str | None, completion_id: str) -> bool:
        gone = await self.db.run(lambda conn: conn.execute(
            f"DELETE FROM chat_completions WHERE id = $1 AND {_FOUND}", completion_id, owner, self.retention.cutoff()))
        return bool(gone != "DELETE 0")

    async def aclose(self) -> None:
        await self.db.aclose()
