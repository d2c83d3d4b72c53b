"""OpenAI's vector stores, kept by the gateway in `<data_dir>/vectors.sqlite3`: the stores, their
files (each file's status, attributes and chunking), file batches, and each file's chunks with their
embeddings.

A store belongs to the gateway key that made it (`responses.visible`); its files and batches are
reached through it, so the layer checks the store first. A file waits `in_progress` until a process
claims it for a lease (`claim`), reads and embeds it, and stores its chunks (`finish`) or its
failure: a worker that stops midway leaves the lease to run out, and the next claim, by any worker,
takes the file up again. Every change to what a search reads bumps the store's `version`, so a
process's cached index of the store knows when it is stale. The PostgreSQL store
(`pg_vector_stores.py`) keeps the same contract for replicas.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import orjson

from interlingua.adapters.dialects.openai_vector_stores import (
    Attributes,
    Chunking,
    Counts,
    StoreAsk,
    StoredBatch,
    StoredStore,
    StoredVectorFile,
)
from interlingua.adapters.storage import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vector_stores (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    name TEXT NOT NULL,
    description TEXT,
    metadata TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_active INTEGER NOT NULL,
    expires_days INTEGER,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS vector_store_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    attributes TEXT NOT NULL,
    chunk_size INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL,
    usage_bytes INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    batch_id TEXT,
    lease INTEGER NOT NULL DEFAULT 0,
    UNIQUE (store_id, file_id)
);
CREATE INDEX IF NOT EXISTS vector_store_files_waiting ON vector_store_files (status, lease);
CREATE INDEX IF NOT EXISTS vector_store_files_batch ON vector_store_files (batch_id);
CREATE INDEX IF NOT EXISTS vector_store_files_file ON vector_store_files (file_id);
CREATE TABLE IF NOT EXISTS vector_file_batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    store_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS vector_chunks (
    store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    start INTEGER NOT NULL,
    text TEXT NOT NULL,
    vectors BLOB NOT NULL,
    PRIMARY KEY (store_id, file_id, n)
);
"""
STORE_COLUMNS = "id, name, description, metadata, created, last_active, expires_days"
FILE_COLUMNS = ("store_id, file_id, filename, created, status, attributes, chunk_size, chunk_overlap, usage_bytes, "
                "error_code, error_message, batch_id")
# A store's files counted by status, and their bytes: `{tally}` of the files where `{where}`.
TALLY = ("SUM(status = 'in_progress'), SUM(status = 'completed'), SUM(status = 'failed'), "
         "SUM(status = 'cancelled'), SUM(usage_bytes)")
_VISIBLE = "(owner IS NULL OR ?2 IS NULL OR owner = ?2)"
Page = tuple[list[Any], bool]
Chunk = tuple[str, str, Attributes, str, bytes]  # file id, filename, attributes, text, vectors
Piece = tuple[int, str, bytes]  # a chunk as indexed: where it starts in the file's text, its text, its vectors
Claimed = tuple[str | None, StoredVectorFile]  # the store's owner, and the file to index


class VectorStores(Protocol):
    """What the vector stores layer needs of a store. `owner` is the calling key's name (None: the
    gateway is open, and finds every store). Each call may raise `ir.GatewayError` when the store is
    unreachable; None (False) answers an unknown store or file, or another key's store."""

    async def create(self, owner: str | None, store: StoredStore, files: list[StoredVectorFile]) -> None: ...
    async def get(self, owner: str | None, store_id: str) -> StoredStore | None: ...
    async def page(self, owner: str | None, after: str | None, limit: int, desc: bool) -> Page: ...
    async def update(self, owner: str | None, store_id: str, ask: StoreAsk) -> StoredStore | None: ...
    async def touch(self, store_id: str, now: int) -> None: ...
    async def delete(self, owner: str | None, store_id: str) -> bool: ...
    async def add_files(self, store_id: str, files: list[StoredVectorFile], batch: StoredBatch | None,
                        held_until: int = 0) -> None:
        """`held_until`: no process claims the files before then (an upload of their bytes is under way)."""
    async def get_file(self, store_id: str, file_id: str) -> StoredVectorFile | None: ...
    async def page_files(self, store_id: str, batch_id: str | None, status: str | None, after: str | None,
                         limit: int, desc: bool) -> Page: ...
    async def set_attributes(self, store_id: str, file_id: str,
                             attributes: Attributes | None) -> StoredVectorFile | None: ...
    async def delete_file(self, store_id: str, file_id: str) -> bool: ...
    async def forget_file(self, file_id: str) -> None: ...
    async def get_batch(self, store_id: str, batch_id: str) -> StoredBatch | None: ...
    async def cancel_batch(self, store_id: str, batch_id: str) -> StoredBatch | None: ...
    async def claim(self, until: int, most: int) -> list[Claimed]: ...
    async def renew(self, store_id: str, file_id: str, until: int) -> None: ...
    async def finish(self, store_id: str, file_id: str, chunks: list[Piece]) -> bool: ...
    async def fail(self, store_id: str, file_id: str, code: str, message: str) -> None: ...
    async def version(self, store_id: str) -> int: ...
    async def chunks(self, store_id: str) -> tuple[int, list[Chunk]]: ...
    async def texts(self, store_id: str, file_id: str) -> list[tuple[int, str]]: ...
    async def aclose(self) -> None: ...


def counts_of(row: Any) -> tuple[Counts, int]:
    """`TALLY`'s values (NULL where a store has no files)."""
    return Counts(*(int(n or 0) for n in row[:4])), int(row[4] or 0)


def stored_store(row: Any, tally: Any) -> StoredStore:
    counts, usage = counts_of(tally)
    return StoredStore(row[0], row[1], row[2], orjson.loads(row[3]), row[4], row[5], row[6], counts, usage)


def stored_file(row: Any) -> StoredVectorFile:
    error = (row[9], row[10]) if row[9] else None
    return StoredVectorFile(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]), Chunking(row[6], row[7]),
                            row[8], error, row[11])


def usage_of(chunks: list[Piece]) -> int:
    """The bytes a file's chunks hold: their text (UTF-8) and vectors."""
    return sum(len(text.encode()) + len(vectors) for _, text, vectors in chunks)


def file_values(stored: StoredVectorFile) -> tuple[Any, ...]:
    """A file's row, in `FILE_COLUMNS` order."""
    return (stored.store_id, stored.file_id, stored.filename, stored.created, stored.status,
            orjson.dumps(stored.attributes).decode(), stored.chunking.size, stored.chunking.overlap,
            stored.usage_bytes, None, None, stored.batch_id)


def updated_fields(ask: StoreAsk) -> dict[str, Any]:
    """The store's columns an update sets."""
    changes: dict[str, Any] = {}
    if ask.name is not None:
        changes["name"] = ask.name
    if ask.metadata is not None:
        changes["metadata"] = orjson.dumps(ask.metadata).decode()
    if ask.expires_days is not None or ask.clear_expiry:
        changes["expires_days"] = ask.expires_days
    return changes


class VectorStoreStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._thread = sqlite.OneThread("vector-stores")

    def _store(self, owner: str | None, store_id: str) -> StoredStore | None:
        row = self._db.execute(f"SELECT {STORE_COLUMNS} FROM vector_stores WHERE id = ?1 AND {_VISIBLE}",
                               (store_id, owner)).fetchone()
        if row is None:
            return None
        tally = self._db.execute(f"SELECT {TALLY} FROM vector_store_files WHERE store_id = ?", (store_id,)).fetchone()
        return stored_store(row, tally)

    def _bump(self, store_id: str) -> None:
        self._db.execute("UPDATE vector_stores SET version = version + 1 WHERE id = ?", (store_id,))

    def _add(self, files: list[StoredVectorFile]) -> None:
        for stored in files:
            self._db.execute("DELETE FROM vector_chunks WHERE store_id = ? AND file_id = ?",
                             (stored.store_id, stored.file_id))
            self._db.execute(f"INSERT OR REPLACE INTO vector_store_files ({FILE_COLUMNS}) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", file_values(stored))

    async def create(self, owner: str | None, store: StoredStore, files: list[StoredVectorFile]) -> None:
        def create() -> None:
            self._db.execute(f"INSERT INTO vector_stores ({STORE_COLUMNS}, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (store.id, store.name, store.description, orjson.dumps(store.metadata).decode(),
                              store.created, store.last_active, store.expires_days, owner))
            self._add(files)
        await self._thread.run(sqlite.in_transaction, self._db, create)

    async def get(self, owner: str | None, store_id: str) -> StoredStore | None:
        return await self._thread.run(self._store, owner, store_id)

    async def page(self, owner: str | None, after: str | None, limit: int, desc: bool) -> Page:
        def page() -> Page:
            start = (self._db.execute("SELECT seq FROM vector_stores WHERE id = ?", (after,)).fetchone()
                     if after else None)
            rows = self._db.execute(
                f"SELECT id FROM vector_stores WHERE {_VISIBLE} AND (?1 IS NULL OR seq {'<' if desc else '>'} ?1) "
                f"ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT ?3", (start[0] if start else None, owner, limit + 1))
            ids = [row[0] for row in rows.fetchall()]
            return [self._store(None, store_id) for store_id in ids[:limit]], len(ids) > limit
        return await self._thread.run(page)

    async def update(self, owner: str | None, store_id: str, ask: StoreAsk) -> StoredStore | None:
        changes = updated_fields(ask)

        def update() -> StoredStore | None:
            if changes:
                sets = ", ".join(f"{name} = ?" for name in changes)
                self._db.execute(f"UPDATE vector_stores SET {sets} WHERE id = ? AND (owner IS NULL OR ? IS NULL "
                                 "OR owner = ?)", (*changes.values(), store_id, owner, owner))
            return self._store(owner, store_id)
        return await self._thread.run(sqlite.in_transaction, self._db, update)

    async def touch(self, store_id: str, now: int) -> None:
        await self._thread.run(lambda: self._db.execute("UPDATE vector_stores SET last_active = ? WHERE id = ?",
                                                        (now, store_id)))

    async def delete(self, owner: str | None, store_id: str) -> bool:
        def delete() -> bool:
            if not self._db.execute(f"DELETE FROM vector_stores WHERE id = ?1 AND {_VISIBLE}",
                                    (store_id, owner)).rowcount:
                return False
            for table in ("vector_store_files", "vector_file_batches", "vector_chunks"):
                self._db.execute(f"DELETE FROM {table} WHERE store_id = ?", (store_id,))
            return True
        return await self._thread.run(sqlite.in_transaction, self._db, delete)

    async def add_files(self, store_id: str, files: list[StoredVectorFile], batch: StoredBatch | None,
                        held_until: int = 0) -> None:
        def add() -> None:
            if batch is not None:
                self._db.execute("INSERT INTO vector_file_batches (id, store_id, created) VALUES (?, ?, ?)",
                                 (batch.id, batch.store_id, batch.created))
            self._add(files)
            if held_until:
                self._db.executemany("UPDATE vector_store_files SET lease = ? WHERE store_id = ? AND file_id = ?",
                                     [(held_until, stored.store_id, stored.file_id) for stored in files])
            self._bump(store_id)
        await self._thread.run(sqlite.in_transaction, self._db, add)

    async def get_file(self, store_id: str, file_id: str) -> StoredVectorFile | None:
        row = await self._thread.run(lambda: self._db.execute(
            f"SELECT {FILE_COLUMNS} FROM vector_store_files WHERE store_id = ? AND file_id = ?",
            (store_id, file_id)).fetchone())
        return None if row is None else stored_file(row)

    async def page_files(self, store_id: str, batch_id: str | None, status: str | None, after: str | None,
                         limit: int, desc: bool) -> Page:
        def page() -> Page:
            start = self._db.execute("SELECT seq FROM vector_store_files WHERE store_id = ? AND file_id = ?",
                                     (store_id, after)).fetchone() if after else None
            rows = self._db.execute(
                f"SELECT {FILE_COLUMNS} FROM vector_store_files WHERE store_id = ?1 AND (?2 IS NULL OR batch_id = ?2) "
                f"AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR seq {'<' if desc else '>'} ?4) "
                f"ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT ?5",
                (store_id, batch_id, status, start[0] if start else None, limit + 1)).fetchall()
            return [stored_file(row) for row in rows[:limit]], len(rows) > limit
        return await self._thread.run(page)

    async def set_attributes(self, store_id: str, file_id: str,
                             attributes: Attributes | None) -> StoredVectorFile | None:
        def update() -> None:
            self._db.execute("UPDATE vector_store_files SET attributes = ? WHERE store_id = ? AND file_id = ?",
                             (orjson.dumps(attributes or {}).decode(), store_id, file_id))
            self._bump(store_id)
        await self._thread.run(sqlite.in_transaction, self._db, update)
        return await self.get_file(store_id, file_id)

    async def delete_file(self, store_id: str, file_id: str) -> bool:
        def delete() -> bool:
            gone = self._db.execute("DELETE FROM vector_store_files WHERE store_id = ? AND file_id = ?",
                                    (store_id, file_id)).rowcount > 0
            self._db.execute("DELETE FROM vector_chunks WHERE store_id = ? AND file_id = ?", (store_id, file_id))
            self._bump(store_id)
            return gone
        return await self._thread.run(sqlite.in_transaction, self._db, delete)

    async def forget_file(self, file_id: str) -> None:
        def forget() -> None:
            stores = [row[0] for row in self._db.execute("SELECT store_id FROM vector_store_files WHERE file_id = ?",
                                                         (file_id,)).fetchall()]
            for store_id in stores:
                for table in ("vector_store_files", "vector_chunks"):
                    self._db.execute(f"DELETE FROM {table} WHERE store_id = ? AND file_id = ?", (store_id, file_id))
                self._bump(store_id)
        await self._thread.run(sqlite.in_transaction, self._db, forget)

    def _batch(self, store_id: str, batch_id: str) -> StoredBatch | None:
        row = self._db.execute("SELECT id, store_id, created, cancelled FROM vector_file_batches "
                               "WHERE id = ? AND store_id = ?", (batch_id, store_id)).fetchone()
        if row is None:
            return None
        tally = self._db.execute(f"SELECT {TALLY} FROM vector_store_files WHERE batch_id = ?", (batch_id,)).fetchone()
        return StoredBatch(row[0], row[1], row[2], bool(row[3]), counts_of(tally)[0])

    async def get_batch(self, store_id: str, batch_id: str) -> StoredBatch | None:
        return await self._thread.run(self._batch, store_id, batch_id)

    async def cancel_batch(self, store_id: str, batch_id: str) -> StoredBatch | None:
        def cancel() -> StoredBatch | None:
            if not self._db.execute("UPDATE vector_file_batches SET cancelled = 1 WHERE id = ? AND store_id = ?",
                                    (batch_id, store_id)).rowcount:
                return None
            self._db.execute("UPDATE vector_store_files SET status = 'cancelled' WHERE batch_id = ? "
                             "AND status = 'in_progress'", (batch_id,))
            return self._batch(store_id, batch_id)
        return await self._thread.run(sqlite.in_transaction, self._db, cancel)

    async def claim(self, until: int, most: int) -> list[Claimed]:
        def claim() -> list[Claimed]:
            rows = self._db.execute(
                f"SELECT s.owner, {', '.join('f.' + c for c in FILE_COLUMNS.split(', '))} FROM vector_store_files f "
                "JOIN vector_stores s ON s.id = f.store_id WHERE f.status = 'in_progress' AND f.lease < ? "
                "ORDER BY f.seq LIMIT ?", (int(time.time()), most)).fetchall()
            for row in rows:
                self._db.execute("UPDATE vector_store_files SET lease = ? WHERE store_id = ? AND file_id = ?",
                                 (until, row[1], row[2]))
            return [(row[0], stored_file(row[1:])) for row in rows]
        return await self._thread.run(sqlite.in_transaction, self._db, claim)

    async def renew(self, store_id: str, file_id: str, until: int) -> None:
        await self._thread.run(lambda: self._db.execute(
            "UPDATE vector_store_files SET lease = ? WHERE store_id = ? AND file_id = ? AND status = 'in_progress'",
            (until, store_id, file_id)))

    async def finish(self, store_id: str, file_id: str, chunks: list[Piece]) -> bool:
        usage = usage_of(chunks)

        def finish() -> bool:
            if not self._db.execute("UPDATE vector_store_files SET status = 'completed', usage_bytes = ? "
                                    "WHERE store_id = ? AND file_id = ? AND status = 'in_progress'",
                                    (usage, store_id, file_id)).rowcount:
                return False  # cancelled, removed or taken up again meanwhile
            self._db.execute("DELETE FROM vector_chunks WHERE store_id = ? AND file_id = ?", (store_id, file_id))
            self._db.executemany("INSERT INTO vector_chunks (store_id, file_id, n, start, text, vectors) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", [(store_id, file_id, n, *chunk)
                                                              for n, chunk in enumerate(chunks)])
            self._bump(store_id)
            return True
        return await self._thread.run(sqlite.in_transaction, self._db, finish)

    async def fail(self, store_id: str, file_id: str, code: str, message: str) -> None:
        await self._thread.run(lambda: self._db.execute(
            "UPDATE vector_store_files SET status = 'failed', error_code = ?, error_message = ? "
            "WHERE store_id = ? AND file_id = ? AND status = 'in_progress'", (code, message, store_id, file_id)))

    async def version(self, store_id: str) -> int:
        row = await self._thread.run(lambda: self._db.execute(
            "SELECT version FROM vector_stores WHERE id = ?", (store_id,)).fetchone())
        return int(row[0]) if row else -1

    async def chunks(self, store_id: str) -> tuple[int, list[Chunk]]:
        def chunks() -> tuple[int, list[Chunk]]:
            version = self._db.execute("SELECT version FROM vector_stores WHERE id = ?", (store_id,)).fetchone()
            rows = self._db.execute(
                "SELECT c.file_id, f.filename, f.attributes, c.text, c.vectors FROM vector_chunks c "
                "JOIN vector_store_files f ON f.store_id = c.store_id AND f.file_id = c.file_id "
                "WHERE c.store_id = ? AND f.status = 'completed' ORDER BY f.seq, c.n", (store_id,)).fetchall()
            return (int(version[0]) if version else -1,
                    [(row[0], row[1], orjson.loads(row[2]), row[3], bytes(row[4])) for row in rows])
        return await self._thread.run(sqlite.in_transaction, self._db, chunks)

    async def texts(self, store_id: str, file_id: str) -> list[tuple[int, str]]:
        rows = await self._thread.run(lambda: self._db.execute(
            "SELECT start, text FROM vector_chunks WHERE store_id = ? AND file_id = ? ORDER BY n",
            (store_id, file_id)).fetchall())
        return [(row[0], row[1]) for row in rows]

    async def aclose(self) -> None:
        self._thread.shutdown()
        self._db.close()
