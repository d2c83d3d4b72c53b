"""One way to open the data directory's SQLite files, so that worker processes can share them.

WAL lets readers and one writer work at once across processes; `synchronous=NORMAL` is still
crash-safe in WAL mode (only the last commits may be lost on power failure). Workers that start
together race to create a file and switch it to WAL, which takes a lock the busy timeout does not
always wait for, so the switch is retried briefly.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_S = 5.0
_ATTEMPTS = 50


def connect(path: Path, schema: str, *, shared: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with `schema` (a script) applied; `shared` allows use from any
    thread and autocommits, for stores that lock around their own statements."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=not shared)
    if shared:
        conn.isolation_level = None
    try:
        for attempt in range(_ATTEMPTS):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(schema)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == _ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
    except BaseException:
        conn.close()
        raise
    return conn


def add_columns(conn: sqlite3.Connection, table: str, columns: Mapping[str, str]) -> None:
    """A table made by an older gateway gains the columns added since (name: declaration). Under
    the write lock, so that workers starting at once do not both add one."""
    def add() -> None:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    in_transaction(conn, add)


def in_transaction(conn: sqlite3.Connection, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` in one transaction that holds the write lock from its start (BEGIN IMMEDIATE),
    so what it read is still so when it writes, whichever process writes too."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = call(*args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class OneThread:
    """A store's calls on one worker thread, each awaited: its statements run in order, a write has
    landed when its call returns, and a long read keeps the event loop free."""

    __slots__ = ("_pool",)

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._pool.submit(call, *args))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
