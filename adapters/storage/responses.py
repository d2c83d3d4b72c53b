"""Stored Responses, for `previous_response_id`, retrieval, input items and deletion.

One SQLite table in the data directory: each stored response keeps the Response object the client
got, the input items of its own turn and the id it continued, so a chain is rebuilt by walking
`previous_id` back. Lookups are indexed reads of a local file (well under a millisecond); writes
happen after the answer has gone out, on a worker thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    previous_id TEXT,
    response BLOB NOT NULL,
    input BLOB NOT NULL
)
"""
MAX_CHAIN = 10_000


class ResponseStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def put(self, response: dict[str, Any], input_items: list[Any], previous_id: str | None) -> None:
        row = (response["id"], time.time(), previous_id, orjson.dumps(response), orjson.dumps(input_items))
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", row)

    def _row(self, response_id: str) -> tuple[str | None, bytes, bytes] | None:
        with self._lock:
            return self._db.execute("SELECT previous_id, response, input FROM responses WHERE id = ?",
                                    (response_id,)).fetchone()

    def get(self, response_id: str) -> dict[str, Any] | None:
        row = self._row(response_id)
        return orjson.loads(row[1]) if row else None

    def input_items(self, response_id: str) -> list[Any] | None:
        row = self._row(response_id)
        return orjson.loads(row[2]) if row else None

    def history(self, response_id: str) -> list[Any] | None:
        """Every item of the conversation up to and including `response_id`, oldest first."""
        turns: list[list[Any]] = []
        current: str | None = response_id
        while current is not None and len(turns) < MAX_CHAIN:
            row = self._row(current)
            if row is None:
                return None if current == response_id else [item for turn in reversed(turns) for item in turn]
            previous_id, response, inputs = row
            turns.append(orjson.loads(inputs) + orjson.loads(response).get("output", []))
            current = previous_id
        return [item for turn in reversed(turns) for item in turn]

    def delete(self, response_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
