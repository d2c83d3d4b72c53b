"""Managed keys in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

As in the SQLite store, lookups answer from an in-memory snapshot by digest. Every change bumps a
version row in the same transaction; each replica's background task reads that version every
`REFRESH_S` seconds and reloads the snapshot when it moved, so a key made or revoked on one
replica is known to all within that time. While PostgreSQL is away the last snapshot stays in
force (logged): keys keep working, and admin changes answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any

import asyncpg
import orjson

from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.keys import REFRESH_S, KeyExists, ManagedKey

log = logging.getLogger("interlingua.keys")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    sha256 BYTEA NOT NULL UNIQUE,
    models TEXT NOT NULL,
    rpm INTEGER,
    tpm INTEGER,
    budget DOUBLE PRECISION,
    budget_period TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS keys_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL);
INSERT INTO keys_version VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
"""
_BUMP = "UPDATE keys_version SET version = version + 1 WHERE id = 1"



class PgKeyStore:
    def __init__(self, url: str) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "managed keys")
        self._by_digest: dict[bytes, ManagedKey] = {}
        self._version = -1
        self._watcher: asyncio.Task[None] | None = None
        self._failing = False

    async def warm(self) -> None:
        await self.db.warm()

    async def _refresh(self) -> None:
        pool = await self.db.pool()
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            version = await conn.fetchval("SELECT version FROM keys_version WHERE id = 1")
            if version == self._version:
                return
            rows = await conn.fetch("SELECT name, sha256, models, rpm, tpm, budget, budget_period, created FROM keys")
        self._by_digest = {bytes(r["sha256"]): ManagedKey(r["name"], tuple(orjson.loads(r["models"])), r["rpm"],
                                                          r["tpm"], r["budget"], r["budget_period"], r["created"])
                           for r in rows}
        self._version = version

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self._refresh()
            except postgres.ERRORS as exc:
                if not self._failing:
                    log.warning("managed keys: PostgreSQL unreachable (%s), the last known keys stay in force",
                                type(exc).__name__)
                self._failing = True
                continue
            if self._failing:
                log.warning("managed keys: PostgreSQL is back")
            self._failing = False

    async def lookup(self, digest: bytes) -> ManagedKey | None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
            with contextlib.suppress(*postgres.ERRORS):  # a database that is away: known keys only
                await self._refresh()
        return self._by_digest.get(digest)

    async def _change(self, statement: str, *args: Any) -> str:
        try:
            pool = await self.db.pool()
            async with pool.acquire() as conn, conn.transaction():
                status: str = await conn.execute(statement, *args)
                await conn.execute(_BUMP)
            await self._refresh()
        except asyncpg.UniqueViolationError:
            raise
        except postgres.ERRORS:
            raise postgres.unreachable("key store") from None
        return status

    async def keys(self) -> list[ManagedKey]:
        try:
            await self._refresh()
        except postgres.ERRORS:
            raise postgres.unreachable("key store") from None
        return sorted(self._by_digest.values(), key=lambda k: k.name)

    async def get(self, name: str) -> ManagedKey | None:
        return next((k for k in await self.keys() if k.name == name), None)

    async def create(self, key: ManagedKey, digest: bytes) -> ManagedKey:
        key = replace(key, created=time.time())
        try:
            await self._change("INSERT INTO keys VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", key.name, digest,
                               orjson.dumps(list(key.models)).decode(), key.rpm, key.tpm, key.budget,
                               key.budget_period, key.created)
        except asyncpg.UniqueViolationError:
            raise KeyExists(key.name) from None
        return key

    async def update(self, key: ManagedKey) -> bool:
        status = await self._change(
            "UPDATE keys SET models = $2, rpm = $3, tpm = $4, budget = $5, budget_period = $6 WHERE name = $1",
            key.name, orjson.dumps(list(key.models)).decode(), key.rpm, key.tpm, key.budget, key.budget_period)
        return status != "UPDATE 0"

    async def rotate(self, name: str, digest: bytes) -> bool:
        return await self._change("UPDATE keys SET sha256 = $2 WHERE name = $1", name, digest) != "UPDATE 0"

    async def delete(self, name: str) -> bool:
        return await self._change("DELETE FROM keys WHERE name = $1", name) != "DELETE 0"

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.db.aclose()
