"""Stored Responses, for `previous_response_id`, retrieval, input items and deletion.

One SQLite table in the data directory: each stored response keeps the Response object the client
got, the input items of its own turn and the id it continued, so a chain is rebuilt by walking
`previous_id` back. Lookups are indexed reads of a local file (well under a millisecond). Writes
go to one worker thread, off the event loop (an insert costs about 0.1 ms, and a WAL checkpoint
now and then several), in batches: woken by the first response of a batch, the writer waits
`HOLD` seconds and writes what came in one transaction, so that a response does not cost a
thread's wake-up and a commit of its own (on one core, those cost a streamed Responses turn a
quarter of a millisecond before its first token). Until a write lands, the response is served
from memory, so a client's next turn never races its own previous one; another worker or replica
finds it after `HOLD` at most, which its reads wait out (`middleware/watch.patiently`).

Each response belongs to the gateway key that made it (`owner`, the key's name; none on a gateway
open to all): another key finds nothing under its id, as another OpenAI project would not. Rows
with no owner (made open, or before owners were kept) are found by every key.

Responses are kept `[server] responses_days` (30, as OpenAI keeps them; 0: until deleted): an
older one is not found, and the writer deletes expired ones now and then, a thousand at a time, so
the file stops growing at what that many days of traffic hold.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import orjson

from interlingua.adapters import ir
from interlingua.adapters.storage import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    previous_id TEXT,
    response BLOB NOT NULL,
    input BLOB NOT NULL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS responses_created ON responses (created);
"""
MAX_CHAIN = 10_000
# previous_id, the Response, its turn's input items (JSON), the key it belongs to
Row = tuple[str | None, bytes, bytes, str | None]
UNFINISHED = ("queued", "in_progress")  # a background response's statuses while it runs
DAY = 86400.0
SWEEP_EVERY = 600.0  # seconds between deletions of expired responses, while responses are written
SWEEP_BATCH = 1000
HOLD = 0.05  # seconds the writer gathers responses for one transaction


class Retention:
    """How long stored responses are kept, and when the next sweep of expired ones is due."""

    __slots__ = ("seconds", "_next")

    def __init__(self, days: float) -> None:
        self.seconds = days * DAY if days > 0 else math.inf
        self._next = 0.0

    def cutoff(self) -> float:
        """Responses created before this are expired (-inf when they are kept until deleted)."""
        return time.time() - self.seconds

    def due(self) -> bool:
        """Whether a sweep is due now; if so, the next is `SWEEP_EVERY` seconds away."""
        now = time.monotonic()
        if self.seconds == math.inf or now < self._next:
            return False
        self._next = now + SWEEP_EVERY
        return True


class Store(Protocol):
    """What the Responses layer needs of a store; this module's, or PostgreSQL's (`pg_responses`).
    `owner` is the calling key's name (None: the gateway is open, and finds every response). Reads
    may raise `ir.GatewayError` when the store is unreachable."""

    def put(self, owner: str | None, response: dict[str, Any], input_items: list[Any],
            previous_id: str | None) -> None: ...
    async def get(self, owner: str | None, response_id: str) -> dict[str, Any] | None: ...
    async def input_items(self, owner: str | None, response_id: str) -> list[Any] | None: ...
    async def history(self, owner: str | None, response_id: str) -> list[Any] | None: ...
    async def delete(self, owner: str | None, response_id: str) -> bool: ...
    async def aclose(self) -> None: ...


def visible(owner_of_row: str | None, owner: str | None) -> bool:
    """Whether a key (`owner`) finds a row: its own, one with no owner, or any when the gateway is open."""
    return owner_of_row is None or owner is None or owner_of_row == owner


def owned(row: Row | None, owner: str | None) -> Row | None:
    return row if row is not None and visible(row[3], owner) else None


class ResponseStore:
    def __init__(self, path: Path, keep_days: float = 30.0) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        sqlite.add_columns(self._db, "responses", {"owner": "TEXT"})
        self.retention = Retention(keep_days)
        self._lock = threading.Lock()
        self._pending: dict[str, Row] = {}
        self._queued: deque[tuple[str, Row]] = deque()
        self._awake = False  # a batch is gathering: a response need not wake the writer
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="responses-store")

    def put(self, owner: str | None, response: dict[str, Any], input_items: list[Any],
            previous_id: str | None) -> None:
        row = (previous_id, orjson.dumps(response), orjson.dumps(input_items), owner)
        self._pending[response["id"]] = row
        self._queued.append((response["id"], row))
        if not self._awake:
            self._awake = True
            self._writer.submit(self._write)

    def _write(self) -> None:
        """Write the batch gathered over `HOLD`; a delete submitted meanwhile runs after it."""
        time.sleep(HOLD)
        self._awake = False  # before the drain: a response it misses wakes the writer again
        queued = self._queued
        batch = [queued.popleft() for _ in range(len(queued))]
        now = time.time()
        with self._lock:
            sqlite.in_transaction(self._db, self._db.executemany,
                                  "INSERT OR REPLACE INTO responses (id, created, previous_id, response, input, owner) "
                                  "VALUES (?, ?, ?, ?, ?, ?)", [(response_id, now, *row) for response_id, row in batch])
        for response_id, row in batch:
            if self._pending.get(response_id) is row:
                del self._pending[response_id]
        if self.retention.due():
            self._sweep()

    def _sweep(self) -> None:
        """Delete expired responses a batch at a time, letting readers in between."""
        cutoff = self.retention.cutoff()
        gone = SWEEP_BATCH
        while gone == SWEEP_BATCH:
            with self._lock:
                gone = self._db.execute("DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE created < ? "
                                        "LIMIT ?)", (cutoff, SWEEP_BATCH)).rowcount

    def _row(self, response_id: str) -> Row | None:
        pending = self._pending.get(response_id)
        if pending is not None:
            return pending
        with self._lock:
            row: Row | None = self._db.execute("SELECT previous_id, response, input, owner FROM responses "
                                               "WHERE id = ? AND created >= ?",
                                               (response_id, self.retention.cutoff())).fetchone()
        return row

    # The reads are coroutines, as those of the PostgreSQL store are; here they are local reads.
    async def get(self, owner: str | None, response_id: str) -> dict[str, Any] | None:
        row = owned(self._row(response_id), owner)
        return orjson.loads(row[1]) if row else None

    async def input_items(self, owner: str | None, response_id: str) -> list[Any] | None:
        row = owned(self._row(response_id), owner)
        return orjson.loads(row[2]) if row else None

    async def history(self, owner: str | None, response_id: str) -> list[Any] | None:
        """Every item of the conversation up to and including `response_id`, oldest first."""
        return chain(lambda found: owned(self._row(found), owner), response_id)

    async def delete(self, owner: str | None, response_id: str) -> bool:
        """Delete on the writer thread, after any queued write of the same response has landed,
        without holding up the event loop meanwhile."""
        return await asyncio.wrap_future(self._writer.submit(self._delete, owner, response_id))

    def _delete(self, owner: str | None, response_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM responses WHERE id = ?1 AND created >= ?2 AND "
                                    "(owner IS NULL OR ?3 IS NULL OR owner = ?3)",
                                    (response_id, self.retention.cutoff(), owner)).rowcount > 0

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        with self._lock:
            self._db.close()

    async def aclose(self) -> None:
        self.close()




def chain(row_of: Callable[[str], Row | None], response_id: str) -> list[Any] | None:
    """The items of the conversation that ends with `response_id`, oldest first, from its rows;
    None when `response_id` itself is unknown (an unknown older turn ends the walk). A 400 when
    it is a background response still running: it has no output yet to continue from."""
    turns: list[list[Any]] = []
    current: str | None = response_id
    while current is not None and len(turns) < MAX_CHAIN:
        row = row_of(current)
        if row is None:
            if current == response_id:
                return None
            break
        previous_id, response, inputs, _ = row
        parsed = orjson.loads(response)
        if parsed.get("status") in UNFINISHED:
            raise ir.GatewayError("invalid_request", f"Response '{current}' is still {parsed['status']}: it can be "
                                  "continued once it is complete.", param="previous_response_id")
        turns.append(orjson.loads(inputs) + parsed.get("output", []))
        current = previous_id
    return [item for turn in reversed(turns) for item in turn]
