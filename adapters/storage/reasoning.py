"""Opaque reasoning state kept by the gateway for clients whose dialect cannot carry it.

A reasoning model's tool loop needs its signed thinking sent back with the tool call it led to.
An OpenAI Chat Completions client has no field for it (the other dialects carry it sealed, see
`adapters/providers/slots.py`), so when such a client is served by a provider that mints
signatures, the provider remembers the signed reasoning under the turn's tool-call ids and puts it
back when the conversation returns with those ids. Entries are bound to the provider kind that
minted them and nothing is ever restored into a request for another kind.

One SQLite table in the data directory (WAL), so a restart or another worker on the same data
directory still has them. Reads are indexed lookups of a local file; writes go to one worker
thread, off the event loop, and until one lands the entry is served from memory. Bounded: past
`capacity` entries the oldest written go first.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from interlingua.adapters import ir
from interlingua.adapters.storage import sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reasoning (
    call_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    parts BLOB NOT NULL
)
"""
#: Evict once per this many writes, not on every one.
_EVICT_EVERY = 1000


def encode(parts: list[ir.Reasoning]) -> bytes | None:
    """The JSON of the signed parts, which are all that is worth keeping; None when there are none."""
    signed = [{"t": p.text, "s": p.signature, "r": p.redacted} for p in parts if p.signature or p.redacted]
    return orjson.dumps(signed) if signed else None


class ReasoningStore:
    def __init__(self, path: Path | None = None, capacity: int = 100_000) -> None:
        """`path` None keeps the table in memory (tests, and embedding without a data directory)."""
        self.capacity = capacity
        if path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._db.execute(_SCHEMA)
        else:
            self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, bytes]] = {}
        self._writes = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reasoning-store")

    def remember(self, provider: str, call_ids: list[str], parts: list[ir.Reasoning]) -> None:
        signed = encode(parts)
        if signed and call_ids:
            self.keep(call_ids, (provider, signed))

    def keep(self, call_ids: list[str], row: tuple[str, bytes]) -> None:
        """Keep an encoded entry (the provider kind, the JSON of its signed parts) for `call_ids`."""
        for call_id in call_ids:
            self._pending[call_id] = row
        self._writer.submit(self._write, call_ids, row)

    def _write(self, call_ids: list[str], row: tuple[str, bytes]) -> None:
        with self._lock:
            # REPLACE gives the row a new rowid, so rowids order entries by their last write.
            self._db.executemany("INSERT OR REPLACE INTO reasoning VALUES (?, ?, ?)",
                                 [(call_id, *row) for call_id in call_ids])
            self._writes += len(call_ids)
            if self._writes >= _EVICT_EVERY:
                self._writes = 0
                self._evict()
        for call_id in call_ids:
            if self._pending.get(call_id) is row:
                del self._pending[call_id]

    def _evict(self) -> None:
        self._db.execute("DELETE FROM reasoning WHERE rowid <= (SELECT MAX(rowid) FROM reasoning) - ?",
                         (self.capacity,))

    def recall(self, provider: str, call_id: str) -> list[ir.Reasoning] | None:
        row = self._pending.get(call_id)
        if row is None:
            with self._lock:
                row = self._db.execute("SELECT provider, parts FROM reasoning WHERE call_id = ?",
                                       (call_id,)).fetchone()
        if row is None or row[0] != provider:
            return None
        return [ir.Reasoning(text=p["t"], signature=p["s"], redacted=p["r"], provider=provider)
                for p in orjson.loads(row[1])]

    def flush(self) -> None:
        """Wait for the writes queued so far (tests, and shutdown)."""
        self._writer.submit(lambda: None).result()

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        with self._lock:
            self._evict()
            self._db.close()

    async def aclose(self) -> None:
        self.close()
