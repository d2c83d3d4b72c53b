"""Limit counters owned by one process: in memory, written behind to the data directory's file.

When `interlingua serve` runs one worker, no other process counts, so an admission needs no
transaction: it is a few dictionary operations instead of a SQLite write on the event loop. The
counters are read from the same file `LocalCounters` shares between workers when the gateway
starts, and written back to it (their values, not increments) within `WRITE_S` of a change and at
shutdown, so a budget outlives a restart and a later start with `--workers` goes on from it. A
file that fails costs the counts since the last write, logged, never a request.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from interlingua.adapters.state import Limit, refused
from interlingua.adapters.state.local import SCHEMA, count
from interlingua.adapters.storage import sqlite

log = logging.getLogger("interlingua.state")

WRITE_S = 0.25
_WRITE = ("INSERT INTO counters VALUES (?, ?, ?) "
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires")


class OwnedCounters:
    def __init__(self, path: Path) -> None:
        self._db = sqlite.connect(path, SCHEMA, shared=True)
        rows = self._db.execute("SELECT key, value, expires FROM counters WHERE expires >= ?", (time.time(),))
        self._counts: dict[str, list[float]] = {key: [value, expires] for key, value, expires in rows}
        self._changed: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def admit(self, limits: Sequence[Limit]) -> Limit | None:
        counts = self._counts
        for limit in limits:
            entry = counts.get(limit.key)
            if refused(entry[0] if entry is not None else 0.0, limit):
                return limit
        for limit in limits:
            if limit.amount:
                self.add(limit.key, limit.amount, limit.resets_at)
        return None

    def add(self, key: str, amount: float, resets_at: float) -> None:
        if not amount:
            return
        count(self._counts, key, amount, resets_at)
        self._changed.add(key)
        if self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(WRITE_S, self._write)
            except RuntimeError:  # no loop: `flush` writes it
                pass

    def _write(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write the changed counters, and forget those whose window has ended."""
        now = time.time()
        changed, self._changed = self._changed, set()
        rows = [(key, *entry) for key in changed if (entry := self._counts.get(key)) is not None]
        for key in [key for key, (_, expires) in self._counts.items() if expires < now]:
            del self._counts[key]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_WRITE, rows)
                self._db.execute("DELETE FROM counters WHERE expires < ?", (now,))
            finally:
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("limit counters not written to their file: %s", exc)

    async def values(self, keys: Sequence[str]) -> list[float]:
        return [entry[0] if (entry := self._counts.get(key)) is not None else 0.0 for key in keys]

    async def ready(self) -> str | None:
        return None  # counted in memory: always readable

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
        self._db.close()
