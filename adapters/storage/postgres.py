"""What the PostgreSQL stores share: one pool per URL's use, and schema migrations that are safe
when several replicas start at once (a transaction-scoped advisory lock around `CREATE ... IF NOT
EXISTS`, which alone races on PostgreSQL's catalogs)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from interlingua.adapters.ir import GatewayError

MIGRATION_LOCK = 7_310_001  # any constant shared by every replica
# A migration may build an index on a table that has grown for months; the replicas that start
# meanwhile wait for its lock rather than give up at the pool's 10 s command timeout.
MIGRATION_TIMEOUT = 600.0
# The database is not there, or went away mid-statement (asyncpg then may find its connection in a
# state it cannot leave: InternalClientError).
ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, TimeoutError)


def unreachable(store: str) -> GatewayError:
    """What a client gets while the database behind `store` is away: a 503 it may retry."""
    return GatewayError("unavailable", f"the {store} is unreachable; try again shortly", retryable=True)


async def migrate(conn: Any, schema: str) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK, timeout=MIGRATION_TIMEOUT)
        await conn.execute(schema, timeout=MIGRATION_TIMEOUT)


async def pool(url: str, schema: str) -> Any:
    """A small pool whose every new connection has made sure of `schema` once."""
    made = await asyncpg.create_pool(url, min_size=1, max_size=4, timeout=5, command_timeout=10)
    async with made.acquire() as conn:
        await migrate(conn, schema)
    return made


class Database:
    """A store's pool, opened (and migrated) on first use, or at start-up by `warm`."""

    def __init__(self, url: str, schema: str, log: logging.Logger, name: str) -> None:
        self.url = url
        self._schema = schema
        self._log = log
        self._name = name  # what the log calls the store
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def warm(self) -> None:
        """Connect now, so the first request does not pay for it; a database that is away is only
        logged: the store connects when it is back."""
        try:
            await self.pool()
        except ERRORS as exc:
            self._log.warning("%s: PostgreSQL unreachable at start-up (%s)", self._name, type(exc).__name__)

    async def pool(self) -> Any:
        async with self._opening:
            if self._pool is None:
                self._pool = await pool(self.url, self._schema)
        return self._pool

    async def run(self, work: Any, transaction: bool = False) -> Any:
        """`await work(conn)` on a pooled connection (in one transaction, if asked); the database
        away is the 503 of `unreachable`."""
        try:
            pool = await self.pool()
            async with pool.acquire() as conn:
                if not transaction:
                    return await work(conn)
                async with conn.transaction():
                    return await work(conn)
        except ERRORS:
            raise unreachable(self._name) from None

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
