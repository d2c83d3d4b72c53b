"""Gemini's context caches in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

The same contract as the SQLite store (`caches.py`): every call is awaited, so a cache made through
one replica is read by a turn through any other. A database that is away is a 503 the client may
retry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from interlingua.adapters.dialects.gemini_caches import StoredCache
from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.caches import COLUMNS, Page, stored_cache

log = logging.getLogger("interlingua.caches")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS caches (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    model TEXT NOT NULL,
    display_name TEXT NOT NULL,
    tokens BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    content BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS caches_expires ON caches (expires);
"""
# Found by the caller's key ($2, as `responses.visible`), and not expired ($3 is now).
_FOUND = "(owner IS NULL OR $2::text IS NULL OR owner = $2) AND expires > $3"


class PgCacheStore:
    def __init__(self, url: str) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "caches store")

    async def warm(self) -> None:
        await self.db.warm()

    async def create(self, owner: str | None, cache: StoredCache, content: bytes) -> None:
        async def create(conn: Any) -> None:
            await conn.execute("DELETE FROM caches WHERE expires <= $1", int(time.time()))
            await conn.execute(f"INSERT INTO caches ({COLUMNS}, owner, content) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                               "$8, $9)", cache.id, cache.model, cache.display_name, cache.tokens, cache.created,
                               cache.updated, cache.expires, owner, content)
        await self.db.run(create)

    async def get(self, owner: str | None, cache_id: str) -> tuple[StoredCache, bytes] | None:
        row = await self.db.run(lambda conn: conn.fetchrow(
            f"SELECT {COLUMNS}, content FROM caches WHERE id = $1 AND {_FOUND}", cache_id, owner, int(time.time())))
        return None if row is None else (stored_cache(row), bytes(row["content"]))

    async def page(self, owner: str | None, after: str | None, limit: int) -> Page:
        async def page(conn: Any) -> Page:
            start = await conn.fetchval("SELECT seq FROM caches WHERE id = $1", after) if after else None
            rows = await conn.fetch(f"SELECT {COLUMNS} FROM caches WHERE {_FOUND} AND ($1::bigint IS NULL OR seq > $1) "
                                    "ORDER BY seq LIMIT $4", start, owner, int(time.time()), limit + 1)
            return [stored_cache(row) for row in rows[:limit]], len(rows) > limit
        found: Page = await self.db.run(page)
        return found

    async def extend(self, owner: str | None, cache_id: str, expires: int) -> StoredCache | None:
        row = await self.db.run(lambda conn: conn.fetchrow(
            f"UPDATE caches SET expires = $4, updated = $3 WHERE id = $1 AND {_FOUND} RETURNING {COLUMNS}",
            cache_id, owner, int(time.time()), expires))
        return None if row is None else stored_cache(row)

    async def delete(self, owner: str | None, cache_id: str) -> bool:
        gone = await self.db.run(lambda conn: conn.execute(
            f"DELETE FROM caches WHERE id = $1 AND {_FOUND}", cache_id, owner, int(time.time())))
        return bool(gone != "DELETE 0")

    async def aclose(self) -> None:
        await self.db.aclose()
