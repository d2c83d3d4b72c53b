"""Conversations in PostgreSQL, shared by replicas: `[storage] url = "postgresql://..."`.

The same contract as the SQLite store (`conversations.py`): every call is awaited, so a turn's
items are written before its client has the end of the answer, and a conversation continues on any
replica. Items are kept as the bytes the client sent or got. A database that is away is a 503 the
client may retry, not a conversation lost.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from interlingua.adapters.dialects.openai_pages import Page
from interlingua.adapters.storage import postgres
from interlingua.adapters.storage.conversations import new_conversation_id

log = logging.getLogger("interlingua.conversations")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created BIGINT NOT NULL,
    metadata BYTEA NOT NULL,
    owner TEXT
);
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS owner TEXT;
CREATE TABLE IF NOT EXISTS conversation_items (
    seq BIGSERIAL PRIMARY KEY,
    conversation TEXT NOT NULL,
    id TEXT NOT NULL,
    item BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_items_by_id ON conversation_items (conversation, id);
"""
_INSERT = "INSERT INTO conversation_items (conversation, id, item) VALUES ($1, $2, $3)"
_FIRST = "SELECT seq FROM conversation_items WHERE conversation = $1 AND id = $2 ORDER BY seq LIMIT 1"
_OWNED = "(owner IS NULL OR $2::text IS NULL OR owner = $2)"  # as `responses.visible`; $2 is the caller's key



class PgConversationStore:
    def __init__(self, url: str) -> None:
        self.db = postgres.Database(url, _SCHEMA, log, "conversations store")

    async def warm(self) -> None:
        await self.db.warm()

    async def _in_transaction(self, work: Any) -> Any:
        return await self.db.run(work, transaction=True)

    @staticmethod
    async def _insert(conn: Any, conversation: str, items: list[Any]) -> None:
        if items:
            await conn.executemany(_INSERT, [(conversation, item.get("id", ""), orjson.dumps(item)) for item in items])

    @staticmethod
    async def _exists(conn: Any, owner: str | None, conversation: str) -> bool:
        # FOR SHARE: a delete of the conversation waits for the writes that found it.
        return await conn.fetchval(f"SELECT 1 FROM conversations WHERE id = $1 AND {_OWNED} FOR SHARE", conversation,
                                   owner) is not None

    async def create(self, owner: str | None, metadata: dict[str, str], items: list[Any]) -> tuple[str, int]:
        conversation, created = new_conversation_id(), int(time.time())

        async def create(conn: Any) -> None:
            await conn.execute("INSERT INTO conversations (id, created, metadata, owner) VALUES ($1, $2, $3, $4)",
                               conversation, created, orjson.dumps(metadata), owner)
            await self._insert(conn, conversation, items)
        await self._in_transaction(create)
        return conversation, created

    async def get(self, owner: str | None, conversation: str) -> tuple[int, dict[str, str]] | None:
        row = await self._in_transaction(lambda conn: conn.fetchrow(
            f"SELECT created, metadata FROM conversations WHERE id = $1 AND {_OWNED}", conversation, owner))
        return None if row is None else (row["created"], orjson.loads(row["metadata"]))

    async def update(self, owner: str | None, conversation: str, metadata: dict[str, str]) -> int | None:
        created: int | None = await self._in_transaction(lambda conn: conn.fetchval(
            f"UPDATE conversations SET metadata = $3 WHERE id = $1 AND {_OWNED} RETURNING created", conversation,
            owner, orjson.dumps(metadata)))
        return created

    async def delete(self, owner: str | None, conversation: str) -> bool:
        async def delete(conn: Any) -> bool:
            gone = await conn.execute(f"DELETE FROM conversations WHERE id = $1 AND {_OWNED}", conversation, owner)
            if gone == "DELETE 0":
                return False
            await conn.execute("DELETE FROM conversation_items WHERE conversation = $1", conversation)
            return True
        return bool(await self._in_transaction(delete))

    async def append(self, owner: str | None, conversation: str, items: list[Any]) -> bool:
        async def append(conn: Any) -> bool:
            if not await self._exists(conn, owner, conversation):
                return False
            await self._insert(conn, conversation, items)
            return True
        return bool(await self._in_transaction(append))

    async def items(self, owner: str | None, conversation: str) -> list[Any] | None:
        async def items(conn: Any) -> list[Any] | None:
            if not await self._exists(conn, owner, conversation):
                return None
            rows = await conn.fetch("SELECT item FROM conversation_items WHERE conversation = $1 ORDER BY seq",
                                    conversation)
            return [orjson.loads(row["item"]) for row in rows]
        found: list[Any] | None = await self._in_transaction(items)
        return found

    async def page(self, owner: str | None, conversation: str, after: str | None, limit: int,
                   desc: bool) -> Page | None:
        async def page(conn: Any) -> Page | None:
            if not await self._exists(conn, owner, conversation):
                return None
            start = await conn.fetchval(_FIRST, conversation, after) if after is not None else None
            query, args = "SELECT item FROM conversation_items WHERE conversation = $1", [conversation, limit + 1]
            if start is not None:
                query += " AND seq < $3" if desc else " AND seq > $3"
                args.append(start)
            rows = await conn.fetch(query + f" ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT $2", *args)
            return [orjson.loads(row["item"]) for row in rows[:limit]], len(rows) > limit
        found: Page | None = await self._in_transaction(page)
        return found

    async def item(self, owner: str | None, conversation: str, item: str) -> dict[str, Any] | None:
        async def found(conn: Any) -> Any:
            if not await self._exists(conn, owner, conversation):
                return None
            return await conn.fetchval("SELECT item FROM conversation_items WHERE conversation = $1 AND id = $2 "
                                       "ORDER BY seq LIMIT 1", conversation, item)
        row = await self._in_transaction(found)
        return None if row is None else orjson.loads(row)

    async def delete_item(self, owner: str | None, conversation: str, item: str) -> bool | None:
        async def delete_item(conn: Any) -> bool | None:
            if not await self._exists(conn, owner, conversation):
                return None
            gone = await conn.execute(f"DELETE FROM conversation_items WHERE seq = ({_FIRST})", conversation, item)
            return bool(gone != "DELETE 0")
        found: bool | None = await self._in_transaction(delete_item)
        return found

    async def aclose(self) -> None:
        await self.db.aclose()
