"""OpenAI's vector stores in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

The same contract as the SQLite store (`vector_stores.py`): a store made through one replica is
searched through any other, and every replica's indexer claims waiting files from the one table.
Two replicas claiming at once skip each other's rows (`FOR UPDATE SKIP LOCKED`), so a file is
indexed by one of them, and taken up again by any when its lease runs out. Every change that bumps
a store's `version` locks the store's row first, before its files, batches and chunks, so that a
store deleted while its files are indexed waits rather than deadlocks. A store and its counts are
read in one statement, so the counts are of the files as they were when the store was. A database
that is away is a 503 the client may retry; to the indexer, a sweep that looks again later.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from interlingua.adapters.dialects.openai_vector_stores import (
    Attributes,
    StoreAsk,
    StoredBatch,
    StoredStore,
    StoredVectorFile,
)
from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.vector_stores import (
    FILE_COLUMNS,
    STORE_COLUMNS,
    Chunk,
    Claimed,
    Page,
    Piece,
    counts_of,
    file_values,
    stored_file,
    stored_store,
    updated_fields,
    usage_of,
)

log = logging.getLogger("interlingua.vector_stores")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vector_stores (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    name TEXT NOT NULL,
    description TEXT,
    metadata TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_active BIGINT NOT NULL,
    expires_days INTEGER,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS vector_store_files (
    seq BIGSERIAL PRIMARY KEY,
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    created BIGINT NOT NULL,
    status TEXT NOT NULL,
    attributes TEXT NOT NULL,
    chunk_size INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL,
    usage_bytes BIGINT NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    batch_id TEXT,
    lease BIGINT NOT NULL DEFAULT 0,
    UNIQUE (store_id, file_id)
);
CREATE INDEX IF NOT EXISTS vector_store_files_waiting ON vector_store_files (status, lease);
CREATE INDEX IF NOT EXISTS vector_store_files_batch ON vector_store_files (batch_id);
CREATE INDEX IF NOT EXISTS vector_store_files_file ON vector_store_files (file_id);
CREATE TABLE IF NOT EXISTS vector_file_batches (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    store_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    cancelled BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS vector_chunks (
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    start BIGINT NOT NULL,
    text TEXT NOT NULL,
    vectors BYTEA NOT NULL,
    PRIMARY KEY (store_id, file_id, n)
);
"""
# `TALLY` of the SQLite store: PostgreSQL does not sum booleans. Named apart from every column of
# the tables it is joined to.
_TALLY = ("COUNT(*) FILTER (WHERE status = 'in_progress') AS tally_in_progress, "
          "COUNT(*) FILTER (WHERE status = 'completed') AS tally_completed, "
          "COUNT(*) FILTER (WHERE status = 'failed') AS tally_failed, "
          "COUNT(*) FILTER (WHERE status = 'cancelled') AS tally_cancelled, "
          "SUM(usage_bytes) AS tally_bytes")
_VISIBLE = "(owner IS NULL OR $2::text IS NULL OR owner = $2)"  # as `responses.visible`; $2 is the caller's key
# A store's columns (`STORE_COLUMNS`), then its files' `_TALLY`.
_STORES = (f"SELECT {STORE_COLUMNS}, tally.* FROM vector_stores CROSS JOIN LATERAL "
           f"(SELECT {_TALLY} FROM vector_store_files f WHERE f.store_id = vector_stores.id) tally")
_BATCH = (f"SELECT b.id, b.store_id, b.created, b.cancelled, tally.* FROM vector_file_batches b CROSS JOIN LATERAL "
          f"(SELECT {_TALLY} FROM vector_store_files f WHERE f.batch_id = b.id) tally "
          "WHERE b.id = $1 AND b.store_id = $2")
# A file added again is as new: its row replaced, as SQLite's INSERT OR REPLACE does (a new seq: it
# lists after the files added before it; no lease, error or usage).
_ADD = (f"INSERT INTO vector_store_files ({FILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        "ON CONFLICT (store_id, file_id) DO UPDATE SET "
        + ", ".join(f"{column} = EXCLUDED.{column}" for column in FILE_COLUMNS.split(", ")[2:])
        + ", lease = 0, seq = DEFAULT")
_CLAIM = (f"SELECT s.owner, {', '.join('f.' + column for column in FILE_COLUMNS.split(', '))}, f.seq "
          "FROM vector_store_files f JOIN vector_stores s ON s.id = f.store_id "
          "WHERE f.status = 'in_progress' AND f.lease < $1 ORDER BY f.seq LIMIT $2 FOR UPDATE OF f SKIP LOCKED")


def _stored(row: Any) -> StoredStore:
    found = tuple(row)
    return stored_store(found, found[7:])


async def _store(conn: Any, owner: str | None, store_id: str) -> StoredStore | None:
    row = await conn.fetchrow(f"{_STORES} WHERE id = $1 AND {_VISIBLE}", store_id, owner)
    return None if row is None else _stored(row)


async def _batch(conn: Any, store_id: str, batch_id: str) -> StoredBatch | None:
    row = await conn.fetchrow(_BATCH, batch_id, store_id)
    if row is None:
        return None
    found = tuple(row)
    return StoredBatch(found[0], found[1], found[2], bool(found[3]), counts_of(found[4:])[0])


async def _bump(conn: Any, store_id: str) -> None:
    await conn.execute("UPDATE vector_stores SET version = version + 1 WHERE id = $1", store_id)


async def _add(conn: Any, files: list[StoredVectorFile]) -> None:
    if files:
        await conn.executemany(_ADD, [file_values(stored) for stored in files])
        await conn.executemany("DELETE FROM vector_chunks WHERE store_id = $1 AND file_id = $2",
                               [(stored.store_id, stored.file_id) for stored in files])


class PgVectorStoreStore:
    def __init__(self, url: str) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "vector stores store")

    async def warm(self) -> None:
        await self.db.warm()

    async def create(self, owner: str | None, store: StoredStore, files: list[StoredVectorFile]) -> None:
        async def create(conn: Any) -> None:
            await conn.execute(f"INSERT INTO vector_stores ({STORE_COLUMNS}, owner) VALUES ($1, $2, $3, $4, $5, $6, "
                               "$7, $8)", store.id, store.name, store.description,
                               orjson.dumps(store.metadata).decode(), store.created, store.last_active,
                               store.expires_days, owner)
            await _add(conn, files)
        await self.db.run(create, transaction=True)

    async def get(self, owner: str | None, store_id: str) -> StoredStore | None:
        found: StoredStore | None = await self.db.run(lambda conn: _store(conn, owner, store_id))
        return found

    async def page(self, owner: str | None, after: str | None, limit: int, desc: bool) -> Page:
        async def page(conn: Any) -> Page:
            start = await conn.fetchval("SELECT seq FROM vector_stores WHERE id = $1", after) if after else None
            rows = await conn.fetch(f"{_STORES} WHERE {_VISIBLE} AND ($1::bigint IS NULL OR seq {'<' if desc else '>'} "
                                    f"$1) ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT $3", start, owner, limit + 1)
            return [_stored(row) for row in rows[:limit]], len(rows) > limit
        found: Page = await self.db.run(page)
        return found

    async def update(self, owner: str | None, store_id: str, ask: StoreAsk) -> StoredStore | None:
        changes = updated_fields(ask)

        async def update(conn: Any) -> StoredStore | None:
            if changes:
                sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(changes, start=3))
                await conn.execute(f"UPDATE vector_stores SET {sets} WHERE id = $1 AND {_VISIBLE}", store_id, owner,
                                   *changes.values())
            return await _store(conn, owner, store_id)
        found: StoredStore | None = await self.db.run(update, transaction=True)
        return found

    async def touch(self, store_id: str, now: int) -> None:
        await self.db.run(lambda conn: conn.execute("UPDATE vector_stores SET last_active = $1 WHERE id = $2", now,
                                                    store_id))

    async def delete(self, owner: str | None, store_id: str) -> bool:
        async def delete(conn: Any) -> bool:
            if await conn.execute(f"DELETE FROM vector_stores WHERE id = $1 AND {_VISIBLE}", store_id,
                                  owner) == "DELETE 0":
                return False
            for table in ("vector_file_batches", "vector_store_files", "vector_chunks"):
                await conn.execute(f"DELETE FROM {table} WHERE store_id = $1", store_id)
            return True
        return bool(await self.db.run(delete, transaction=True))

    async def add_files(self, store_id: str, files: list[StoredVectorFile], batch: StoredBatch | None,
                        held_until: int = 0) -> None:
        async def add(conn: Any) -> None:
            await _bump(conn, store_id)
            if batch is not None:
                await conn.execute("INSERT INTO vector_file_batches (id, store_id, created) VALUES ($1, $2, $3)",
                                   batch.id, batch.store_id, batch.created)
            await _add(conn, files)
            if held_until:
                await conn.executemany("UPDATE vector_store_files SET lease = $1 WHERE store_id = $2 AND file_id = $3",
                                       [(held_until, stored.store_id, stored.file_id) for stored in files])
        await self.db.run(add, transaction=True)

    async def get_file(self, store_id: str, file_id: str) -> StoredVectorFile | None:
        row = await self.db.run(lambda conn: conn.fetchrow(
            f"SELECT {FILE_COLUMNS} FROM vector_store_files WHERE store_id = $1 AND file_id = $2", store_id, file_id))
        return None if row is None else stored_file(row)

    async def page_files(self, store_id: str, batch_id: str | None, status: str | None, after: str | None,
                         limit: int, desc: bool) -> Page:
        async def page(conn: Any) -> Page:
            start = await conn.fetchval("SELECT seq FROM vector_store_files WHERE store_id = $1 AND file_id = $2",
                                        store_id, after) if after else None
            rows = await conn.fetch(
                f"SELECT {FILE_COLUMNS} FROM vector_store_files WHERE store_id = $1 AND ($2::text IS NULL OR "
                "batch_id = $2) AND ($3::text IS NULL OR status = $3) "
                f"AND ($4::bigint IS NULL OR seq {'<' if desc else '>'} $4) ORDER BY seq {'DESC' if desc else 'ASC'} "
                "LIMIT $5", store_id, batch_id, status, start, limit + 1)
            return [stored_file(row) for row in rows[:limit]], len(rows) > limit
        found: Page = await self.db.run(page)
        return found

    async def set_attributes(self, store_id: str, file_id: str,
                             attributes: Attributes | None) -> StoredVectorFile | None:
        async def update(conn: Any) -> Any:
            await _bump(conn, store_id)
            return await conn.fetchrow(f"UPDATE vector_store_files SET attributes = $1 WHERE store_id = $2 AND "
                                       f"file_id = $3 RETURNING {FILE_COLUMNS}",
                                       orjson.dumps(attributes or {}).decode(), store_id, file_id)
        row = await self.db.run(update, transaction=True)
        return None if row is None else stored_file(row)

    async def delete_file(self, store_id: str, file_id: str) -> bool:
        async def delete(conn: Any) -> bool:
            await _bump(conn, store_id)
            gone = await conn.execute("DELETE FROM vector_store_files WHERE store_id = $1 AND file_id = $2", store_id,
                                      file_id)
            await conn.execute("DELETE FROM vector_chunks WHERE store_id = $1 AND file_id = $2", store_id, file_id)
            return bool(gone != "DELETE 0")
        return bool(await self.db.run(delete, transaction=True))

    async def forget_file(self, file_id: str) -> None:
        async def forget(conn: Any) -> None:
            stores = [row[0] for row in await conn.fetch(
                "SELECT id FROM vector_stores WHERE id IN (SELECT store_id FROM vector_store_files WHERE file_id = $1) "
                "ORDER BY id FOR UPDATE", file_id)]  # the stores' rows first, as every change that bumps them
            await conn.execute("DELETE FROM vector_store_files WHERE store_id = ANY($1::text[]) AND file_id = $2",
                               stores, file_id)
            await conn.execute("DELETE FROM vector_chunks WHERE store_id = ANY($1::text[]) AND file_id = $2", stores,
                               file_id)
            await conn.execute("UPDATE vector_stores SET version = version + 1 WHERE id = ANY($1::text[])", stores)
        await self.db.run(forget, transaction=True)

    async def get_batch(self, store_id: str, batch_id: str) -> StoredBatch | None:
        found: StoredBatch | None = await self.db.run(lambda conn: _batch(conn, store_id, batch_id))
        return found

    async def cancel_batch(self, store_id: str, batch_id: str) -> StoredBatch | None:
        async def cancel(conn: Any) -> StoredBatch | None:
            if await conn.execute("UPDATE vector_file_batches SET cancelled = TRUE WHERE id = $1 AND store_id = $2",
                                  batch_id, store_id) == "UPDATE 0":
                return None
            await conn.execute("UPDATE vector_store_files SET status = 'cancelled' WHERE batch_id = $1 "
                               "AND status = 'in_progress'", batch_id)
            return await _batch(conn, store_id, batch_id)
        found: StoredBatch | None = await self.db.run(cancel, transaction=True)
        return found

    async def claim(self, until: int, most: int) -> list[Claimed]:
        async def claim(conn: Any) -> list[Claimed]:
            rows = [tuple(row) for row in await conn.fetch(_CLAIM, int(time.time()), most)]
            if rows:
                await conn.execute("UPDATE vector_store_files SET lease = $1 WHERE seq = ANY($2::bigint[])", until,
                                   [row[-1] for row in rows])
            return [(row[0], stored_file(row[1:])) for row in rows]
        found: list[Claimed] = await self.db.run(claim, transaction=True)
        return found

    async def renew(self, store_id: str, file_id: str, until: int) -> None:
        await self.db.run(lambda conn: conn.execute(
            "UPDATE vector_store_files SET lease = $1 WHERE store_id = $2 AND file_id = $3 AND status = 'in_progress'",
            until, store_id, file_id))

    async def finish(self, store_id: str, file_id: str, chunks: list[Piece]) -> bool:
        usage = usage_of(chunks)

        async def finish(conn: Any) -> bool:
            await conn.execute("SELECT 1 FROM vector_stores WHERE id = $1 FOR UPDATE", store_id)
            if await conn.execute("UPDATE vector_store_files SET status = 'completed', usage_bytes = $1 "
                                  "WHERE store_id = $2 AND file_id = $3 AND status = 'in_progress'", usage, store_id,
                                  file_id) == "UPDATE 0":
                return False  # cancelled, removed or taken up again meanwhile
            await conn.execute("DELETE FROM vector_chunks WHERE store_id = $1 AND file_id = $2", store_id, file_id)
            if chunks:
                await conn.executemany("INSERT INTO vector_chunks (store_id, file_id, n, start, text, vectors) "
                                       "VALUES ($1, $2, $3, $4, $5, $6)",
                                       [(store_id, file_id, n, *chunk) for n, chunk in enumerate(chunks)])
            await _bump(conn, store_id)
            return True
        return bool(await self.db.run(finish, transaction=True))

    async def fail(self, store_id: str, file_id: str, code: str, message: str) -> None:
        await self.db.run(lambda conn: conn.execute(
            "UPDATE vector_store_files SET status = 'failed', error_code = $1, error_message = $2 "
            "WHERE store_id = $3 AND file_id = $4 AND status = 'in_progress'", code, message, store_id, file_id))

    async def version(self, store_id: str) -> int:
        found = await self.db.run(lambda conn: conn.fetchval("SELECT version FROM vector_stores WHERE id = $1",
                                                             store_id))
        return int(found) if found is not None else -1

    async def chunks(self, store_id: str) -> tuple[int, list[Chunk]]:
        async def chunks(conn: Any) -> tuple[int, list[Chunk]]:
            # One snapshot: the chunks are those of the version read.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                version = await conn.fetchval("SELECT version FROM vector_stores WHERE id = $1", store_id)
                rows = await conn.fetch(
                    "SELECT c.file_id, f.filename, f.attributes, c.text, c.vectors FROM vector_chunks c "
                    "JOIN vector_store_files f ON f.store_id = c.store_id AND f.file_id = c.file_id "
                    "WHERE c.store_id = $1 AND f.status = 'completed' ORDER BY f.seq, c.n", store_id)
            return (int(version) if version is not None else -1,
                    [(row[0], row[1], orjson.loads(row[2]), row[3], bytes(row[4])) for row in rows])
        found: tuple[int, list[Chunk]] = await self.db.run(chunks)
        return found

    async def texts(self, store_id: str, file_id: str) -> list[tuple[int, str]]:
        rows = await self.db.run(lambda conn: conn.fetch(
            "SELECT start, text FROM vector_chunks WHERE store_id = $1 AND file_id = $2 ORDER BY n", store_id,
            file_id))
        return [(row[0], row[1]) for row in rows]

    async def aclose(self) -> None:
        await self.db.aclose()
