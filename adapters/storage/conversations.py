"""Conversations (`/v1/conversations`), kept until deleted, as OpenAI keeps them.

Two tables in the data directory's Responses file: each conversation's metadata, and its items in
the order they were added (`seq`), as the JSON the client sent or got, never re-encoded. Every
call runs on one worker thread and is awaited: a write has landed when its call returns, so a
client that has its answer finds its items from any worker, and reads stay off the event loop
however long a conversation has grown. The PostgreSQL store (`pg_conversations.py`) keeps the same
contract for replicas. A conversation belongs to the gateway key that made it, as a stored Response
does (`responses.visible`): another key finds nothing under its id.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from interlingua.adapters.dialects.openai_pages import Page
from interlingua.adapters.storage import sqlite

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    metadata BLOB NOT NULL,
    owner TEXT
);
CREATE TABLE IF NOT EXISTS conversation_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL,
    id TEXT NOT NULL,
    item BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_items_by_id ON conversation_items (conversation, id);
"""
_FIRST = "SELECT seq FROM conversation_items WHERE conversation = ? AND id = ? ORDER BY seq LIMIT 1"
_OWNED = "(owner IS NULL OR ?2 IS NULL OR owner = ?2)"  # as `responses.visible`; ?2 is the caller's key


def new_conversation_id() -> str:
    return f"conv_{secrets.token_hex(24)}"


class Conversations(Protocol):
    """What the conversations layer needs of a store. `owner` is the calling key's name (None: the
    gateway is open, and finds every conversation). Each call may raise `ir.GatewayError` when the
    store is unreachable; None (False) answers an unknown conversation, or another key's."""

    async def create(self, owner: str | None, metadata: dict[str, str], items: list[Any]) -> tuple[str, int]: ...
    async def get(self, owner: str | None, conversation: str) -> tuple[int, dict[str, str]] | None: ...
    async def update(self, owner: str | None, conversation: str, metadata: dict[str, str]) -> int | None: ...
    async def delete(self, owner: str | None, conversation: str) -> bool: ...
    async def append(self, owner: str | None, conversation: str, items: list[Any]) -> bool: ...
    async def items(self, owner: str | None, conversation: str) -> list[Any] | None: ...
    async def page(self, owner: str | None, conversation: str, after: str | None, limit: int,
                   desc: bool) -> Page | None: ...
    async def item(self, owner: str | None, conversation: str, item: str) -> dict[str, Any] | None: ...
    async def delete_item(self, owner: str | None, conversation: str, item: str) -> bool | None: ...
    async def aclose(self) -> None: ...


class ConversationStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        sqlite.add_columns(self._db, "conversations", {"owner": "TEXT"})
        self._thread = sqlite.OneThread("conversations")

    def _transaction(self, call: Callable[..., T], *args: Any) -> T:
        return sqlite.in_transaction(self._db, call, *args)

    def _exists(self, owner: str | None, conversation: str) -> bool:
        return self._db.execute(f"SELECT 1 FROM conversations WHERE id = ?1 AND {_OWNED}",
                                (conversation, owner)).fetchone() is not None

    def _insert(self, conversation: str, items: list[Any]) -> None:
        self._db.executemany("INSERT INTO conversation_items (conversation, id, item) VALUES (?, ?, ?)",
                             [(conversation, item.get("id", ""), orjson.dumps(item)) for item in items])

    async def create(self, owner: str | None, metadata: dict[str, str], items: list[Any]) -> tuple[str, int]:
        conversation, created = new_conversation_id(), int(time.time())

        def create() -> None:
            self._db.execute("INSERT INTO conversations (id, created, metadata, owner) VALUES (?, ?, ?, ?)",
                             (conversation, created, orjson.dumps(metadata), owner))
            self._insert(conversation, items)
        await self._thread.run(self._transaction, create)
        return conversation, created

    async def get(self, owner: str | None, conversation: str) -> tuple[int, dict[str, str]] | None:
        row = await self._thread.run(lambda: self._db.execute(
            f"SELECT created, metadata FROM conversations WHERE id = ?1 AND {_OWNED}", (conversation, owner)
        ).fetchone())
        return None if row is None else (row[0], orjson.loads(row[1]))

    async def update(self, owner: str | None, conversation: str, metadata: dict[str, str]) -> int | None:
        def update() -> int | None:  # no RETURNING: SQLite has it only from 3.35
            row = self._db.execute(f"SELECT created FROM conversations WHERE id = ?1 AND {_OWNED}",
                                   (conversation, owner)).fetchone()
            if row is not None:
                self._db.execute("UPDATE conversations SET metadata = ? WHERE id = ?",
                                 (orjson.dumps(metadata), conversation))
            return None if row is None else int(row[0])
        return await self._thread.run(self._transaction, update)

    async def delete(self, owner: str | None, conversation: str) -> bool:
        def delete() -> bool:
            if not self._exists(owner, conversation):
                return False
            self._db.execute("DELETE FROM conversation_items WHERE conversation = ?", (conversation,))
            return self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation,)).rowcount > 0
        return await self._thread.run(self._transaction, delete)

    async def append(self, owner: str | None, conversation: str, items: list[Any]) -> bool:
        def append() -> bool:
            if not self._exists(owner, conversation):
                return False
            self._insert(conversation, items)
            return True
        return await self._thread.run(self._transaction, append)

    async def items(self, owner: str | None, conversation: str) -> list[Any] | None:
        def items() -> list[Any] | None:
            if not self._exists(owner, conversation):
                return None
            rows = self._db.execute("SELECT item FROM conversation_items WHERE conversation = ? ORDER BY seq",
                                    (conversation,))
            return [orjson.loads(row[0]) for row in rows]
        return await self._thread.run(items)

    async def page(self, owner: str | None, conversation: str, after: str | None, limit: int,
                   desc: bool) -> Page | None:
        def page() -> Page | None:
            if not self._exists(owner, conversation):
                return None
            start: int | None = None
            if after is not None:
                found = self._db.execute(_FIRST, (conversation, after)).fetchone()
                start = found[0] if found else None
            query = "SELECT item FROM conversation_items WHERE conversation = ?"
            args: list[Any] = [conversation]
            if start is not None:
                query += " AND seq < ?" if desc else " AND seq > ?"
                args.append(start)
            query += f" ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT ?"
            rows = self._db.execute(query, (*args, limit + 1)).fetchall()
            return [orjson.loads(row[0]) for row in rows[:limit]], len(rows) > limit
        return await self._thread.run(page)

    async def item(self, owner: str | None, conversation: str, item: str) -> dict[str, Any] | None:
        def found() -> Any:
            if not self._exists(owner, conversation):
                return None
            return self._db.execute("SELECT item FROM conversation_items WHERE conversation = ? AND id = ? "
                                    "ORDER BY seq LIMIT 1", (conversation, item)).fetchone()
        row = await self._thread.run(found)
        return None if row is None else orjson.loads(row[0])

    async def delete_item(self, owner: str | None, conversation: str, item: str) -> bool | None:
        def delete_item() -> bool | None:
            if not self._exists(owner, conversation):
                return None
            return self._db.execute(f"DELETE FROM conversation_items WHERE seq = ({_FIRST})",
                                    (conversation, item)).rowcount > 0
        return await self._thread.run(self._transaction, delete_item)

    async def aclose(self) -> None:
        self._thread.shutdown()
        self._db.close()

