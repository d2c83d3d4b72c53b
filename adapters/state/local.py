"""Limit counters in a SQLite file of the data directory, shared by every worker on the machine.

An admission that asks the file is one short write transaction (`BEGIN IMMEDIATE`, so two workers
checking the same key take turns rather than both reading the old value). It runs on the event
loop, because its answer is needed before the request can go on, and while the other worker holds
the file's lock it waits there, the whole loop with it. So a worker asks it only for a key near its
caps: farther, the transaction also reserves a lease of the headroom for this worker, and its next
requests draw on that with no transaction at all (`leases.py`; what is left goes back after
`leases.HOLD_S`). Corrections (`add`) are owed in memory and written in the same transaction as
this worker's next one, or within `SETTLE_S` when no request comes: no writer thread, whose commits
would make admissions wait. A counter's key names its window, so a new window starts from zero;
rows of windows that have ended are deleted now and then. Should the file fail, requests are
admitted with a logged warning: a broken disk costs limits, never requests.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from interlingua.adapters.state import Limit, leases, refused
from interlingua.adapters.storage import sqlite

log = logging.getLogger("interlingua.state")

SETTLE_S = 0.25
SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL,
    expires REAL NOT NULL
);
"""
_ADD = ("INSERT INTO counters VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value, expires = excluded.expires")
_EXPIRE_EVERY = 1000  # transactions between deletions of ended windows


def count(counts: dict[str, list[float]], key: str, amount: float, resets_at: float) -> None:
    """Add `amount` to `counts[key]` (`[value, expiry]`), made with `resets_at` as its expiry if new."""
    entry = counts.get(key)
    if entry is None:
        counts[key] = [amount, resets_at]
    else:
        entry[0] += amount


class LocalCounters:
    def __init__(self, path: Path | None = None) -> None:
        """`path` None keeps the counters in memory, for one process (tests, embedding, Redis's
        stand-in), which no other shares: it takes no leases."""
        self._leases: leases.Leases | None = None
        if path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._db.executescript(SCHEMA)
        else:
            self._db = sqlite.connect(path, SCHEMA, shared=True)
            self._leases = leases.Leases()
        self._lock = threading.Lock()  # admissions come from the loop; `flush` and tests from anywhere
        self._owed: dict[str, list[float]] = {}  # key -> [amount, expiry]
        self._timer: asyncio.TimerHandle | None = None
        self._transactions = 0

    async def admit(self, limits: Sequence[Limit]) -> Limit | None:
        if self._leases is not None and self._leases.draw(limits, time.monotonic()):
            return None
        try:
            return self._transaction(limits)
        except sqlite3.Error as exc:
            log.warning("limit counters unavailable, request admitted without them: %s", exc)
            return None

    def _transaction(self, limits: Sequence[Limit]) -> Limit | None:
        """Pay what is owed (leases whose time is up given back), then check `limits` and add to
        them, in one transaction."""
        db, held, now = self._db, self._leases, time.monotonic()
        with self._lock:
            if held is not None:
                held.give_back(partial(count, self._owed), now)
            owed, self._owed = self._owed, {}
            db.execute("BEGIN IMMEDIATE")
            try:
                if owed:
                    db.executemany(_ADD, [(key, amount, expiry) for key, (amount, expiry) in owed.items()])
                offers: list[tuple[float, float]] = []
                if limits:
                    marks = ", ".join("?" * len(limits))
                    values = dict(db.execute(f"SELECT key, value FROM counters WHERE key IN ({marks})",
                                             [lim.key for lim in limits]).fetchall())
                    for limit in limits:
                        if refused(values.get(limit.key, 0.0), limit):
                            return limit
                    offers = [leases.offer(lim, values.get(lim.key, 0.0)) if held is not None else (lim.amount, 0.0)
                              for lim in limits]
                db.executemany(_ADD, [(lim.key, added, lim.resets_at)
                                      for lim, (added, _) in zip(limits, offers, strict=True) if added])
            except BaseException:
                db.execute("ROLLBACK")
                for key, (amount, expiry) in owed.items():  # still owed
                    count(self._owed, key, amount, expiry)
                raise
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")
            self._transactions += 1
            if self._transactions % _EXPIRE_EVERY == 0:
                db.execute("DELETE FROM counters WHERE expires < ?", (time.time(),))
            if held is not None and limits:
                held.grant(limits, [given for _, given in offers], now)
                if held:
                    self._later(leases.HOLD_S)  # given back then, should no request come
        return None

    def add(self, key: str, amount: float, resets_at: float) -> None:
        if not amount:
            return
        with self._lock:
            if self._leases is not None:
                self._leases.spent(key, amount)
            count(self._owed, key, amount, resets_at)
        self._later(SETTLE_S)

    def _give_back(self) -> None:
        """Owe back what the leases held have left, and hold none."""
        if self._leases is not None:
            with self._lock:
                self._leases.give_back(partial(count, self._owed))

    def _later(self, delay: float) -> None:
        """Pay what is owed within `delay`, should no request carry it sooner."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: `flush` pays it
            return
        if self._timer is not None:
            if self._timer.when() <= loop.time() + delay:
                return
            self._timer.cancel()  # a correction comes sooner than a lease's end
        self._timer = loop.call_later(delay, self._settle)

    def _settle(self) -> None:
        self._timer = None
        self.flush()
        if self._leases:
            self._later(leases.HOLD_S)

    def flush(self) -> None:
        """Write what is owed now (no request came to carry it; tests; shutdown)."""
        if self._owed or self._leases:
            try:
                self._transaction(())
            except sqlite3.Error as exc:
                log.warning("limit counters not corrected: %s", exc)

    async def values(self, keys: Sequence[str]) -> list[float]:
        """What was counted, this worker's corrections and unused leases paid back first."""
        self._give_back()
        self.flush()
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

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._give_back()
        self.flush()
        with self._lock:
            self._db.close()
