"""Stored Chat Completions (`store: true`), in the data directory's Responses file.

One row a completion: the object its retrieval answers (without its metadata, which an update
replaces and a list filters on, kept apart), the request's messages, the model asked for and the
model that answered (a list's `model` finds either). Every call runs on one worker thread and is
awaited, so a completion is kept before its client has the end of its answer, and any worker
finds it. Kept `[server] responses_days`, as stored Responses are (`responses.Retention`). A
completion belongs to the gateway key that made it (`responses.visible`). The PostgreSQL store
(`pg_completions.py`) keeps the same contract for replicas.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import orjson

from interlingua.adapters.dialects.openai_pages import Page
from interlingua.adapters.storage import sqlite
from interlingua.adapters.storage.responses import SWEEP_BATCH, Retention

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_completions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    created REAL NOT NULL,
    model TEXT,
    answered TEXT,
    metadata BLOB NOT NULL,
    completion BLOB NOT NULL,
    messages BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_completions_created ON chat_completions (created);
"""
# Found by the caller's key (?2, as `responses.visible`), and not expired (?3 is the cutoff).
_FOUND = "(owner IS NULL OR ?2 IS NULL OR owner = ?2) AND created >= ?3"


class Completions(Protocol):
    """What the stored completions layer needs of a store. `owner` is the calling key's name (None:
    the gateway is open, and finds every completion). Each call may raise `ir.GatewayError` when the
    store is unreachable; None (False) answers an unknown completion, or another key's."""

    async def put(self, owner: str | None, completion: dict[str, Any], messages: list[Any], model: str | None,
                  metadata: dict[str, str]) -> None: ...
    async def get(self, owner: str | None, completion_id: str) -> dict[str, Any] | None: ...
    async def messages(self, owner: str | None, completion_id: str) -> list[Any] | None: ...
    async def page(self, owner: str | None, after: str | None, limit: int, desc: bool, model: str | None,
                   metadata: dict[str, str]) -> Page: ...
    async def update(self, owner: str | None, completion_id: str,
                     metadata: dict[str, str]) -> dict[str, Any] | None: ...
    async def delete(self, owner: str | None, completion_id: str) -> bool: ...
    async def aclose(self) -> None: ...


def with_metadata(completion: bytes, metadata: bytes | str) -> dict[str, Any]:
    return {**orjson.loads(completion), "metadata": orjson.loads(metadata)}


def holds(metadata: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(metadata.get(key) == value for key, value in wanted.items())


class CompletionStore:
    def __init__(self, path: Path, keep_days: float = 30.0) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._thread = sqlite.OneThread("completions")
        self.retention = Retention(keep_days)

    async def put(self, owner: str | None, completion: dict[str, Any], messages: list[Any], model: str | None,
                  metadata: dict[str, str]) -> None:
        row = (completion["id"], owner, time.time(), model, completion.get("model"), orjson.dumps(metadata),
               orjson.dumps(completion), orjson.dumps(messages))

        def put() -> None:
            self._db.execute("INSERT OR REPLACE INTO chat_completions (id, owner, created, model, answered, metadata, "
                             "completion, messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            if self.retention.due():
                self._sweep()
        await self._thread.run(put)

    def _sweep(self) -> None:
        cutoff, gone = self.retention.cutoff(), SWEEP_BATCH
        while gone == SWEEP_BATCH:
            gone = self._db.execute("DELETE FROM chat_completions WHERE seq IN (SELECT seq FROM chat_completions "
                                    "WHERE created < ? LIMIT ?)", (cutoff, SWEEP_BATCH)).rowcount

    def _one(self, columns: str, owner: str | None, completion_id: str) -> Any:
        return self._db.execute(f"SELECT {columns} FROM chat_completions WHERE id = ?1 AND {_FOUND}",
                                (completion_id, owner, self.retention.cutoff())).fetchone()

    async def get(self, owner: str | None, completion_id: str) -> dict[str, Any] | None:
        row = await self._thread.run(self._one, "completion, metadata", owner, completion_id)
        return None if row is None else with_metadata(row[0], row[1])

    async def messages(self, owner: str | None, completion_id: str) -> list[Any] | None:
        row = await self._thread.run(self._one, "messages", owner, completion_id)
        return None if row is None else orjson.loads(row[0])

    async def page(self, owner: str | None, after: str | None, limit: int, desc: bool, model: str | None,
                   metadata: dict[str, str]) -> Page:
        def page() -> Page:
            start = self._db.execute("SELECT seq FROM chat_completions WHERE id = ?", (after,)).fetchone()
            rows = self._db.execute(
                f"SELECT completion, metadata FROM chat_completions WHERE {_FOUND} "
                f"AND (?1 IS NULL OR seq {'<' if desc else '>'} ?1) AND (?4 IS NULL OR model = ?4 OR answered = ?4) "
                f"ORDER BY seq {'DESC' if desc else 'ASC'}",
                (start[0] if start else None, owner, self.retention.cutoff(), model))
            found: list[Any] = []
            for completion, kept in rows:  # the metadata filter, on rows read in order until the page is full
                if holds(orjson.loads(kept), metadata):
                    found.append(with_metadata(completion, kept))
                    if len(found) > limit:
                        break
            return found[:limit], len(found) > limit
        return await self._thread.run(page)

    async def update(self, owner: str | None, completion_id: str, metadata: dict[str, str]) -> dict[str, Any] | None:
        kept = orjson.dumps(metadata)

        def update() -> dict[str, Any] | None:
            row = self._one("completion", owner, completion_id)
            if row is None:
                return None
            self._db.execute("UPDATE chat_completions SET metadata = ? WHERE id = ?", (kept, completion_id))
            return with_metadata(row[0], kept)
        return await self._thread.run(sqlite.in_transaction, self._db, update)

    async def delete(self, owner: str | None, completion_id: str) -> bool:
        return await self._thread.run(lambda: self._db.execute(
            f"DELETE FROM chat_completions WHERE id = ?1 AND {_FOUND}",
            (completion_id, owner, self.retention.cutoff())).rowcount > 0)

    async def aclose(self) -> None:
        self._thread.shutdown()
        self._db.close()
