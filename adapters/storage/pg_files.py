"""Files in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

The same contract as the SQLite store (`files.py`): every call is awaited, so an upload has landed
when its client has the answer, and a file uploaded through one replica is read through any other.
A database that is away is a 503 the client may retry.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from interlingua.adapters.dialects.files import StoredFile
from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.files import (
    UPLOAD_SECONDS,
    Page,
    assembled,
    packed,
    stored_file,
    unpacked,
    wrong_offset,
)

log = logging.getLogger("interlingua.files")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    created BIGINT NOT NULL,
    expires BIGINT,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS files_expires ON files (expires);
CREATE TABLE IF NOT EXISTS uploads (
    session TEXT PRIMARY KEY,
    owner TEXT,
    started BIGINT NOT NULL,
    file BYTEA NOT NULL,
    data BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS part_uploads (
    id TEXT PRIMARY KEY,
    owner TEXT,
    started BIGINT NOT NULL,
    file BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_pieces (
    id TEXT PRIMARY KEY,
    upload TEXT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_pieces_by_upload ON upload_pieces (upload);
"""
# An upload in parts (OpenAI's), found by its owner ($2, as `responses.visible`), held for the
# transaction that reads it.
_UPLOAD = "SELECT file FROM part_uploads WHERE id = $1 AND (owner IS NULL OR $2::text IS NULL OR owner = $2) FOR UPDATE"
_INSERT = ("INSERT INTO files (id, owner, created, expires, filename, purpose, media_type, size, data) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")


async def _insert(conn: Any, owner: str | None, stored: StoredFile, data: bytes) -> None:
    await conn.execute(_INSERT, stored.id, owner, stored.created, stored.expires, stored.filename, stored.purpose,
                       stored.media_type, stored.size, data)


async def _upload(conn: Any, owner: str | None, upload: str) -> StoredFile | None:
    found = await conn.fetchval(_UPLOAD, upload, owner)
    return None if found is None else unpacked(found)


async def _drop(conn: Any, upload: str) -> None:
    await conn.execute("DELETE FROM upload_pieces WHERE upload = $1", upload)
    await conn.execute("DELETE FROM part_uploads WHERE id = $1", upload)
_COLUMNS = "id, filename, purpose, media_type, size, created, expires"
# Found by the caller's key ($2, as `responses.visible`), and not expired ($3 is now).
_FOUND = "(owner IS NULL OR $2::text IS NULL OR owner = $2) AND (expires IS NULL OR expires > $3)"


class PgFileStore:
    def __init__(self, url: str) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "files store")

    async def warm(self) -> None:
        await self.db.warm()

    async def create(self, owner: str | None, stored: StoredFile, data: bytes) -> None:
        async def create(conn: Any) -> None:
            await conn.execute("DELETE FROM files WHERE expires <= $1", int(time.time()))
            await _insert(conn, owner, stored, data)
        await self.db.run(create)

    async def get(self, owner: str | None, file_id: str) -> StoredFile | None:
        row = await self.db.run(lambda conn: conn.fetchrow(f"SELECT {_COLUMNS} FROM files WHERE id = $1 AND {_FOUND}",
                                                          file_id, owner, int(time.time())))
        return None if row is None else stored_file(tuple(row))

    async def content(self, owner: str | None, file_ids: list[str]) -> dict[str, tuple[StoredFile, bytes]]:
        rows = await self.db.run(lambda conn: conn.fetch(
            f"SELECT {_COLUMNS}, data FROM files WHERE id = ANY($1::text[]) AND {_FOUND}", file_ids, owner,
            int(time.time())))
        return {row["id"]: (stored_file(tuple(row)), bytes(row["data"])) for row in rows}

    async def page(self, owner: str | None, purpose: str | None, after: str | None, limit: int,
                   desc: bool) -> Page:
        async def page(conn: Any) -> Page:
            start = await conn.fetchval("SELECT seq FROM files WHERE id = $1", after) if after else None
            query = (f"SELECT {_COLUMNS} FROM files WHERE {_FOUND} AND ($4::text IS NULL OR purpose = $4) "
                     f"AND ($1::bigint IS NULL OR seq {'<' if desc else '>'} $1) "
                     f"ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT $5")
            rows = await conn.fetch(query, start, owner, int(time.time()), purpose, limit + 1)
            return [stored_file(tuple(row)) for row in rows[:limit]], len(rows) > limit
        found: Page = await self.db.run(page)
        return found

    async def delete(self, owner: str | None, file_id: str) -> bool:
        status = await self.db.run(lambda conn: conn.execute(f"DELETE FROM files WHERE id = $1 AND {_FOUND}",
                                                            file_id, owner, int(time.time())))
        return bool(status != "DELETE 0")

    async def begin(self, owner: str | None, session: str, stored: StoredFile) -> None:
        async def begin(conn: Any) -> None:
            await conn.execute("DELETE FROM uploads WHERE started < $1", int(time.time()) - UPLOAD_SECONDS)
            await conn.execute("INSERT INTO uploads VALUES ($1, $2, $3, $4, ''::bytea)", session, owner,
                               stored.created, packed(stored))
        await self.db.run(begin)

    async def uploading(self, session: str) -> bool:
        return await self.db.run(lambda conn: conn.fetchval(
            "SELECT 1 FROM uploads WHERE session = $1", session)) is not None

    async def add(self, session: str, offset: int, chunk: bytes) -> int | None:
        async def add(conn: Any) -> int | None:
            received = await conn.fetchval("SELECT length(data) FROM uploads WHERE session = $1 FOR UPDATE", session)
            if received is None:
                return None
            if received != offset:
                raise wrong_offset(offset, received)
            await conn.execute("UPDATE uploads SET data = data || $2 WHERE session = $1", session, chunk)
            return int(received) + len(chunk)
        found: int | None = await self.db.run(add, transaction=True)
        return found

    async def finish(self, session: str) -> tuple[str | None, StoredFile] | None:
        async def finish(conn: Any) -> tuple[str | None, StoredFile] | None:
            row = await conn.fetchrow("DELETE FROM uploads WHERE session = $1 RETURNING owner, file, data", session)
            if row is None:
                return None
            data = bytes(row["data"])
            made = dataclasses.replace(unpacked(row["file"]), size=len(data))
            await _insert(conn, row["owner"], made, data)
            return row["owner"], made
        found: tuple[str | None, StoredFile] | None = await self.db.run(finish, transaction=True)
        return found

    async def open_upload(self, owner: str | None, upload: str, made: StoredFile) -> None:
        async def open_upload(conn: Any) -> None:
            old = int(time.time()) - UPLOAD_SECONDS
            await conn.execute("DELETE FROM upload_pieces WHERE upload IN (SELECT id FROM part_uploads "
                               "WHERE started < $1)", old)
            await conn.execute("DELETE FROM part_uploads WHERE started < $1", old)
            await conn.execute("INSERT INTO part_uploads VALUES ($1, $2, $3, $4)", upload, owner, made.created,
                               packed(made))
        await self.db.run(open_upload, transaction=True)

    async def add_part(self, owner: str | None, upload: str, part: str, data: bytes) -> StoredFile | None:
        async def add_part(conn: Any) -> StoredFile | None:
            made = await _upload(conn, owner, upload)
            if made is not None:
                await conn.execute("INSERT INTO upload_pieces VALUES ($1, $2, $3)", part, upload, data)
            return made
        found: StoredFile | None = await self.db.run(add_part, transaction=True)
        return found

    async def assemble(self, owner: str | None, upload: str, parts: list[str],
                       md5: str | None = None) -> StoredFile | None:
        async def assemble(conn: Any) -> StoredFile | None:
            made = await _upload(conn, owner, upload)
            if made is None:
                return None
            rows = await conn.fetch("SELECT id, data FROM upload_pieces WHERE upload = $1", upload)
            data = assembled(made, parts, {row["id"]: bytes(row["data"]) for row in rows}, md5)
            await _drop(conn, upload)
            await _insert(conn, owner, made, data)
            return made
        found: StoredFile | None = await self.db.run(assemble, transaction=True)
        return found

    async def drop_upload(self, owner: str | None, upload: str) -> StoredFile | None:
        async def drop_upload(conn: Any) -> StoredFile | None:
            made = await _upload(conn, owner, upload)
            if made is not None:
                await _drop(conn, upload)
            return made
        found: StoredFile | None = await self.db.run(drop_upload, transaction=True)
        return found

    async def aclose(self) -> None:
        await self.db.aclose()
