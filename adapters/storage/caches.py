"""Gemini's context caches, kept by the gateway in `<data_dir>/files.sqlite3` beside the files.

A cache belongs to the gateway key that made it, as a file does (`responses.visible`); one that has
expired is not found, and is deleted by the next create. Every call runs on one worker thread and
is awaited, so a cache made through one worker is found by the next turn on any other. The
PostgreSQL store (`pg_caches.py`) keeps the same contract for replicas.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from interlingua.adapters.dialects.gemini_caches import StoredCache
from interlingua.adapters.storage import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS caches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    model TEXT NOT NULL,
    display_name TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS caches_expires ON caches (expires);
"""
COLUMNS = "id, model, display_name, tokens, created, updated, expires"
# Found by the caller's key (?2, as `responses.visible`), and not expired (?3 is now).
_FOUND = "(owner IS NULL OR ?2 IS NULL OR owner = ?2) AND expires > ?3"
Page = tuple[list[StoredCache], bool]


class Caches(Protocol):
    """What the caches layer needs of a store. `owner` is the calling key's name (None: the gateway
    is open, and finds every cache). Each call may raise `ir.GatewayError` when the store is
    unreachable; None (False) answers an unknown cache, another key's, or an expired one."""

    async def create(self, owner: str | None, cache: StoredCache, content: bytes) -> None: ...
    async def get(self, owner: str | None, cache_id: str) -> tuple[StoredCache, bytes] | None: ...
    async def page(self, owner: str | None, after: str | None, limit: int) -> Page: ...
    async def extend(self, owner: str | None, cache_id: str, expires: int) -> StoredCache | None: ...
    async def delete(self, owner: str | None, cache_id: str) -> bool: ...
    async def aclose(self) -> None: ...


def stored_cache(row: Any) -> StoredCache:
    return StoredCache(*row[:7])


class CacheStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._thread = sqlite.OneThread("caches")

    async def create(self, owner: str | None, cache: StoredCache, content: bytes) -> None:
        def create() -> None:
            self._db.execute("DELETE FROM caches WHERE expires <= ?", (int(time.time()),))
            self._db.execute(f"INSERT INTO caches ({COLUMNS}, owner, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (cache.id, cache.model, cache.display_name, cache.tokens, cache.created, cache.updated,
                              cache.expires, owner, content))
        await self._thread.run(create)

    async def get(self, owner: str | None, cache_id: str) -> tuple[StoredCache, bytes] | None:
        row = await self._thread.run(lambda: self._db.execute(
            f"SELECT {COLUMNS}, content FROM caches WHERE id = ?1 AND {_FOUND}",
            (cache_id, owner, int(time.time()))).fetchone())
        return None if row is None else (stored_cache(row), bytes(row[7]))

    async def page(self, owner: str | None, after: str | None, limit: int) -> Page:
        def page() -> Page:
            start = self._db.execute("SELECT seq FROM caches WHERE id = ?", (after,)).fetchone() if after else None
            rows = self._db.execute(f"SELECT {COLUMNS} FROM caches WHERE {_FOUND} AND (?1 IS NULL OR seq > ?1) "
                                    "ORDER BY seq LIMIT ?4", (start[0] if start else None, owner, int(time.time()),
                                                              limit + 1)).fetchall()
            return [stored_cache(row) for row in rows[:limit]], len(rows) > limit
        return await self._thread.run(page)

    async def extend(self, owner: str | None, cache_id: str, expires: int) -> StoredCache | None:
        def extend() -> StoredCache | None:
            now = int(time.time())
            self._db.execute(f"UPDATE caches SET expires = ?4, updated = ?3 WHERE id = ?1 AND {_FOUND}",
                             (cache_id, owner, now, expires))
            row = self._db.execute(f"SELECT {COLUMNS} FROM caches WHERE id = ?1 AND {_FOUND}",
                                   (cache_id, owner, now)).fetchone()
            return None if row is None else stored_cache(row)
        return await self._thread.run(sqlite.in_transaction, self._db, extend)

    async def delete(self, owner: str | None, cache_id: str) -> bool:
        return await self._thread.run(lambda: self._db.execute(
            f"DELETE FROM caches WHERE id = ?1 AND {_FOUND}", (cache_id, owner, int(time.time()))).rowcount > 0)

    async def aclose(self) -> None:
        self._thread.shutdown()
        self._db.close()
