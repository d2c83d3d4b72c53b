"""Limit counters in a SQLite file of the data directory, shared by every worker on the machine.

`admit` is one short write transaction (`BEGIN IMMEDIATE`, so two workers checking the same key
take turns rather than both reading the old value); it runs on the event loop because its answer
is needed before the request can go on, and costs tens of microseconds (see the README's benchmark
notes). Corrections (`add`) go to one writer thread, off the request path. A counter's key names
its window, so a new window starts from zero; rows of windows that have ended are deleted now and
then. Should the file fail, requests are admitted with a logged warning: a broken disk costs
limits, never requests.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from interlingua.adapters.state import Limit, refused
from interlingua.adapters.storage import sqlite

log = logging.getLogger("interlingua.state")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL,
    expires REAL NOT NULL
);
"""
_ADD = ("INSERT INTO counters VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value, expires = excluded.expires")
_EXPIRE_EVERY = 1000  # admissions between deletions of ended windows


class LocalCounters:
    def __init__(self, path: Path | None = None) -> None:
        """`path` None keeps the counters in memory, for one process (tests, embedding)."""
        if path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
        else:
            self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="limit-counters")
        self._admitted = 0

    async def admit(self, limits: Sequence[Limit]) -> Limit | None:
        try:
            return self._admit(limits)
        except sqlite3.Error as exc:
            log.warning("limit counters unavailable, request admitted without them: %s", exc)
            return None

    def _admit(self, limits: Sequence[Limit]) -> Limit | None:
        db = self._db
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                for limit in limits:
                    row = db.execute("SELECT value FROM counters WHERE key = ?", (limit.key,)).fetchone()
                    if refused(row[0] if row else 0.0, limit):
                        return limit
                db.executemany(_ADD, [(lim.key, lim.amount, lim.resets_at) for lim in limits if lim.amount])
            finally:
                db.execute("COMMIT")
            self._admitted += 1
            if self._admitted % _EXPIRE_EVERY == 0:
                self._writer.submit(self._expire)
        return None

    def add(self, key: str, amount: float, resets_at: float) -> None:
        if amount:
            self._writer.submit(self._write, key, amount, resets_at)

    def _write(self, key: str, amount: float, resets_at: float) -> None:
        try:
            with self._lock:
                self._db.execute(_ADD, (key, amount, resets_at))
        except sqlite3.Error as exc:
            log.warning("limit counter %s not corrected: %s", key, exc)

    def _expire(self) -> None:
        try:
            with self._lock:
                self._db.execute("DELETE FROM counters WHERE expires < ?", (time.time(),))
        except sqlite3.Error as exc:
            log.warning("ended limit windows not deleted: %s", exc)

    async def values(self, keys: Sequence[str]) -> list[float]:
        with self._lock:
            found = dict(self._db.execute(
                f"SELECT key, value FROM counters WHERE key IN ({', '.join('?' * len(keys))})", keys).fetchall())
        return [found.get(key, 0.0) for key in keys]

    async def ready(self) -> str | None:
        try:
            with self._lock:
                self._db.execute("SELECT 1 FROM counters LIMIT 1").fetchall()
        except sqlite3.Error:
            return "the limit counters' file cannot be read"
        return None

    def flush(self) -> None:
        """Wait for the corrections queued so far (tests, and shutdown)."""
        self._writer.submit(lambda: None).result()

    async def aclose(self) -> None:
        self._writer.shutdown(wait=True)
        with self._lock:
            self._db.close()
