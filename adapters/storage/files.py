"""Files (`/v1/files`), kept by the gateway in `<data_dir>/files.sqlite3`, their bytes beside
their metadata, so a worker or a restart finds them all.

A file belongs to the gateway key that uploaded it, as a stored Response does
(`responses.visible`): another key finds nothing under its id. One that has expired
(`expires_after`, or a `batch` file's thirty days) is not found, and is deleted by the next upload.
Every call runs on one worker thread and is awaited, so an upload has landed when its client has
the answer, and reading a large file keeps the event loop free. The PostgreSQL store
(`pg_files.py`) keeps the same contract for replicas.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any, Protocol

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects.files import StoredFile
from interlingua.adapters.storage import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    created INTEGER NOT NULL,
    expires INTEGER,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS files_expires ON files (expires);
CREATE TABLE IF NOT EXISTS uploads (
    session TEXT PRIMARY KEY,
    owner TEXT,
    started INTEGER NOT NULL,
    file BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_parts (
    session TEXT NOT NULL,
    start INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (session, start)
);
CREATE TABLE IF NOT EXISTS part_uploads (
    id TEXT PRIMARY KEY,
    owner TEXT,
    started INTEGER NOT NULL,
    file BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_pieces (
    id TEXT PRIMARY KEY,
    upload TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS upload_pieces_by_upload ON upload_pieces (upload);
"""
UPLOAD_SECONDS = 86400  # an upload not finished in a day is dropped, as Google drops its sessions
# An upload in parts (OpenAI's), found by its owner (?2, as `responses.visible`).
_UPLOAD = "SELECT file FROM part_uploads WHERE id = ?1 AND (owner IS NULL OR ?2 IS NULL OR owner = ?2)"
_COLUMNS = "id, filename, purpose, media_type, size, created, expires"
# Found by the caller's key (?2, as `responses.visible`), and not expired (?3 is now).
_FOUND = "(owner IS NULL OR ?2 IS NULL OR owner = ?2) AND (expires IS NULL OR expires > ?3)"
Page = tuple[list[StoredFile], bool]  # files, and whether more follow


class Files(Protocol):
    """What the files layer needs of a store. `owner` is the calling key's name (None: the gateway
    is open, and finds every file). Each call may raise `ir.GatewayError` when the store is
    unreachable; None (False) answers an unknown file, another key's, or an expired one."""

    async def create(self, owner: str | None, stored: StoredFile, data: bytes) -> None: ...
    async def get(self, owner: str | None, file_id: str) -> StoredFile | None: ...
    async def content(self, owner: str | None, file_ids: list[str]) -> dict[str, tuple[StoredFile, bytes]]: ...
    async def page(self, owner: str | None, purpose: str | None, after: str | None, limit: int,
                   desc: bool) -> Page: ...
    async def delete(self, owner: str | None, file_id: str) -> bool: ...
    # A resumable upload (Gemini's): begun with the file it makes, its bytes added in order, and
    # finished into that file; `session` is the upload URL's unguessable id.
    async def begin(self, owner: str | None, session: str, stored: StoredFile) -> None: ...
    async def uploading(self, session: str) -> bool: ...
    async def add(self, session: str, offset: int, chunk: bytes) -> int | None: ...
    async def finish(self, session: str) -> tuple[str | None, StoredFile] | None: ...
    # An upload in parts (OpenAI's): opened with the file it makes, its parts added in any order,
    # and assembled in the order the client names them; `upload` is the Upload's id.
    async def open_upload(self, owner: str | None, upload: str, made: StoredFile) -> None: ...
    async def add_part(self, owner: str | None, upload: str, part: str, data: bytes) -> StoredFile | None: ...
    async def assemble(self, owner: str | None, upload: str, parts: list[str],
                       md5: str | None = None) -> StoredFile | None: ...
    async def drop_upload(self, owner: str | None, upload: str) -> StoredFile | None: ...
    async def aclose(self) -> None: ...


def wrong_offset(offset: int, received: int) -> ir.GatewayError:
    return ir.invalid("X-Goog-Upload-Offset", f"is {offset}, where the upload has {received} bytes")


def packed(made: StoredFile) -> bytes:
    """A file still to be made (its upload under way), as the upload tables keep it."""
    return orjson.dumps(dataclasses.astuple(made))


def unpacked(raw: bytes) -> StoredFile:
    return StoredFile(*orjson.loads(raw))


def assembled(made: StoredFile, parts: list[str], found: dict[str, bytes], md5: str | None = None) -> bytes:
    """The file's bytes, its parts joined in the order named; a 400 for a part that is not the
    upload's, a sum that is not the size the upload said, or bytes whose MD5 is not the one the
    client expects (lower-case hex)."""
    missing = next((part for part in parts if part not in found), None)
    if missing is not None:
        raise ir.invalid("part_ids", f"{missing} is no part of this upload")
    data = b"".join(found[part] for part in parts)
    if len(data) != made.size:
        raise ir.invalid("part_ids", f"the parts hold {len(data)} bytes, where the upload said {made.size}")
    if md5 is not None and (digest := hashlib.md5(data, usedforsecurity=False).hexdigest()) != md5:
        raise ir.invalid("md5", f"is {md5}, where the parts' bytes have {digest}: a part is missing, out of order or "
                                "not what was sent")
    return data


def stored_file(row: Any) -> StoredFile:
    file_id, filename, purpose, media_type, size, created, expires = row[:7]
    return StoredFile(file_id, filename, purpose, media_type, size, created, expires)


class FileStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._thread = sqlite.OneThread("files")

    def _insert(self, owner: str | None, stored: StoredFile, data: bytes) -> None:
        self._db.execute("INSERT INTO files (id, owner, created, expires, filename, purpose, media_type, size, data) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (stored.id, owner, stored.created, stored.expires,
                                                                stored.filename, stored.purpose, stored.media_type,
                                                                stored.size, data))

    async def create(self, owner: str | None, stored: StoredFile, data: bytes) -> None:
        def create() -> None:
            self._db.execute("DELETE FROM files WHERE expires <= ?", (int(time.time()),))
            self._insert(owner, stored, data)
        await self._thread.run(create)

    async def get(self, owner: str | None, file_id: str) -> StoredFile | None:
        row = await self._thread.run(lambda: self._db.execute(
            f"SELECT {_COLUMNS} FROM files WHERE id = ?1 AND {_FOUND}", (file_id, owner, int(time.time()))).fetchone())
        return None if row is None else stored_file(row)

    async def content(self, owner: str | None, file_ids: list[str]) -> dict[str, tuple[StoredFile, bytes]]:
        def content() -> dict[str, tuple[StoredFile, bytes]]:
            found = {}
            for file_id in file_ids:
                row = self._db.execute(f"SELECT {_COLUMNS}, data FROM files WHERE id = ?1 AND {_FOUND}",
                                       (file_id, owner, int(time.time()))).fetchone()
                if row is not None:
                    found[file_id] = stored_file(row), bytes(row[7])
            return found
        return await self._thread.run(content)

    async def page(self, owner: str | None, purpose: str | None, after: str | None, limit: int,
                   desc: bool) -> Page:
        def page() -> Page:
            start = self._db.execute("SELECT seq FROM files WHERE id = ?", (after,)).fetchone() if after else None
            query = (f"SELECT {_COLUMNS} FROM files WHERE {_FOUND} AND (?4 IS NULL OR purpose = ?4) "
                     f"AND (?1 IS NULL OR seq {'<' if desc else '>'} ?1) "
                     f"ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT ?5")
            rows = self._db.execute(query, (start[0] if start else None, owner, int(time.time()), purpose,
                                            limit + 1)).fetchall()
            return [stored_file(row) for row in rows[:limit]], len(rows) > limit
        return await self._thread.run(page)

    async def delete(self, owner: str | None, file_id: str) -> bool:
        return await self._thread.run(lambda: self._db.execute(f"DELETE FROM files WHERE id = ?1 AND {_FOUND}",
                                                        (file_id, owner, int(time.time()))).rowcount > 0)

    async def begin(self, owner: str | None, session: str, stored: StoredFile) -> None:
        def begin() -> None:
            old = int(time.time()) - UPLOAD_SECONDS
            self._db.execute("DELETE FROM upload_parts WHERE session IN "
                             "(SELECT session FROM uploads WHERE started < ?)", (old,))
            self._db.execute("DELETE FROM uploads WHERE started < ?", (old,))
            self._db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?)",
                             (session, owner, stored.created, packed(stored)))
        await self._thread.run(begin)

    async def uploading(self, session: str) -> bool:
        return await self._thread.run(lambda: self._db.execute(
            "SELECT 1 FROM uploads WHERE session = ?", (session,)).fetchone() is not None)

    async def add(self, session: str, offset: int, chunk: bytes) -> int | None:
        def add() -> int | None:
            if self._db.execute("SELECT 1 FROM uploads WHERE session = ?", (session,)).fetchone() is None:
                return None
            received = self._db.execute("SELECT COALESCE(SUM(length(data)), 0) FROM upload_parts WHERE session = ?",
                                        (session,)).fetchone()[0]
            if received != offset:
                raise wrong_offset(offset, received)
            self._db.execute("INSERT INTO upload_parts VALUES (?, ?, ?)", (session, offset, chunk))
            return int(received) + len(chunk)
        return await self._thread.run(sqlite.in_transaction, self._db, add)

    async def finish(self, session: str) -> tuple[str | None, StoredFile] | None:
        def finish() -> tuple[str | None, StoredFile] | None:
            row = self._db.execute("SELECT owner, file FROM uploads WHERE session = ?", (session,)).fetchone()
            if row is None:
                return None
            parts = self._db.execute("SELECT data FROM upload_parts WHERE session = ? ORDER BY start", (session,))
            data = b"".join(bytes(part[0]) for part in parts)
            owner, made = row[0], dataclasses.replace(unpacked(row[1]), size=len(data))
            self._db.execute("DELETE FROM upload_parts WHERE session = ?", (session,))
            self._db.execute("DELETE FROM uploads WHERE session = ?", (session,))
            self._insert(owner, made, data)
            return owner, made
        return await self._thread.run(sqlite.in_transaction, self._db, finish)


    async def open_upload(self, owner: str | None, upload: str, made: StoredFile) -> None:
        def open_upload() -> None:
            old = int(time.time()) - UPLOAD_SECONDS
            self._db.execute("DELETE FROM upload_pieces WHERE upload IN "
                             "(SELECT id FROM part_uploads WHERE started < ?)", (old,))
            self._db.execute("DELETE FROM part_uploads WHERE started < ?", (old,))
            self._db.execute("INSERT INTO part_uploads VALUES (?, ?, ?, ?)",
                             (upload, owner, made.created, packed(made)))
        await self._thread.run(sqlite.in_transaction, self._db, open_upload)

    def _upload(self, owner: str | None, upload: str) -> StoredFile | None:
        row = self._db.execute(_UPLOAD, (upload, owner)).fetchone()
        return None if row is None else unpacked(row[0])

    def _drop(self, upload: str) -> None:
        self._db.execute("DELETE FROM upload_pieces WHERE upload = ?", (upload,))
        self._db.execute("DELETE FROM part_uploads WHERE id = ?", (upload,))

    async def add_part(self, owner: str | None, upload: str, part: str, data: bytes) -> StoredFile | None:
        def add_part() -> StoredFile | None:
            made = self._upload(owner, upload)
            if made is not None:
                self._db.execute("INSERT INTO upload_pieces VALUES (?, ?, ?)", (part, upload, data))
            return made
        return await self._thread.run(sqlite.in_transaction, self._db, add_part)

    async def assemble(self, owner: str | None, upload: str, parts: list[str],
                       md5: str | None = None) -> StoredFile | None:
        def assemble() -> StoredFile | None:
            made = self._upload(owner, upload)
            if made is None:
                return None
            rows = self._db.execute("SELECT id, data FROM upload_pieces WHERE upload = ?", (upload,))
            data = assembled(made, parts, {part: bytes(piece) for part, piece in rows}, md5)
            self._drop(upload)
            self._insert(owner, made, data)
            return made
        return await self._thread.run(sqlite.in_transaction, self._db, assemble)

    async def drop_upload(self, owner: str | None, upload: str) -> StoredFile | None:
        def drop_upload() -> StoredFile | None:
            made = self._upload(owner, upload)
            if made is not None:
                self._drop(upload)
            return made
        return await self._thread.run(sqlite.in_transaction, self._db, drop_upload)

    async def aclose(self) -> None:
        self._thread.shutdown()
        self._db.close()
