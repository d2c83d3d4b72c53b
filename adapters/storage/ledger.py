"""The usage ledger: one row per request in a local SQLite file, for `interlingua usage` and billing.

A gateway answers from the event loop, and SQLite is a blocking, sometimes slow, disk. So callers
only append to an in-memory queue; one daemon thread owns the connection and writes in batches, one
transaction each, which keeps the write cost per request small and the request path free of I/O.
A broken disk costs usage rows (logged), never requests.
"""

from __future__ import annotations

import logging
import operator
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from interlingua.adapters.storage import sqlite

log = logging.getLogger("interlingua.ledger")


@dataclass(slots=True)
class UsageRecord:
    ts: float  # unix time the request started
    key: str  # gateway key name, "" when the gateway is open
    model: str  # what the client asked for
    upstream: str  # "provider/model" that answered, "" if none did
    dialect: str
    operation: str
    status: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    ttfb_ms: float | None
    total_ms: float
    stream: bool
    estimated: bool  # tokens were estimated because a stream was cut short
    characters: int = 0  # text spoken (speech), or of documents read
    audio_seconds: float = 0.0  # audio transcribed, where the upstream says how long
    images: int = 0  # images made
    pages: int = 0  # document pages read
    cost_usd: float = 0.0  # from the price table (adapters/pricing.py); 0 for a model it does not price


_COLUMNS = tuple(f.name for f in fields(UsageRecord))
_as_row = operator.attrgetter(*_COLUMNS)

# "key" is quoted throughout: it is an SQL keyword that SQLite only tolerates as a name.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    "key" TEXT NOT NULL,
    model TEXT NOT NULL,
    upstream TEXT NOT NULL,
    dialect TEXT NOT NULL,
    operation TEXT NOT NULL,
    status INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    ttfb_ms REAL,
    total_ms REAL NOT NULL,
    stream INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    characters INTEGER NOT NULL DEFAULT 0,
    audio_seconds REAL NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS usage_key_model ON usage ("key", model);
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
"""
_INSERT = "INSERT INTO usage ({}) VALUES ({})".format(
    ", ".join(f'"{c}"' for c in _COLUMNS), ", ".join("?" * len(_COLUMNS))
)


@dataclass(slots=True)
class _Flush:
    done: threading.Event


_STOP = object()
_WAKE = object()


class Ledger:
    """Batches usage records onto disk from a single writer thread.

    `record()` is safe from any thread or the event loop: a deque append, and for the first record
    of a batch one wake-up of the writer. A wake-up per record would cost every request a handover
    of the GIL to the writer thread (tens of microseconds, on the latency of a request answered one
    at a time); woken once, the writer sleeps out `flush_interval`, then writes what came, in
    transactions of at most `batch_size` rows. Records made after `close()` are dropped, since
    nothing would ever write them. `on_write(depth, lag)`, if set, hears from the writer thread
    after each batch: the rows still waiting, and how many seconds the batch's oldest row waited
    since its request ended.
    """

    def __init__(self, path: Path, flush_interval: float = 0.5, batch_size: int = 512) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self._rows: deque[UsageRecord] = deque()
        self._signals: queue.SimpleQueue[Any] = queue.SimpleQueue()  # wake-ups, flushes, the stop marker
        self._awake = False  # a wake-up is on its way or the writer is holding: records need not wake it
        self._lock = threading.Lock()  # orders start/flush/close; record() never takes it
        self._thread: threading.Thread | None = None
        self._closed = False
        self.on_write: Callable[[int, float], None] | None = None

    def record(self, rec: UsageRecord) -> None:
        if self._closed:
            return
        self._rows.append(rec)
        if not self._awake:
            self._awake = True
            self._signals.put(_WAKE)

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("ledger is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="interlingua-ledger", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        """Block until every record made before this call has been written (or failed to be)."""
        done = threading.Event()
        with self._lock:
            if self._closed:
                return  # close() already drained the queue
            if self._thread is None:
                raise RuntimeError("ledger is not started")
            # Under the lock so the sentinel cannot land behind close()'s stop marker and hang.
            self._signals.put(_Flush(done))
        done.wait()

    def close(self) -> None:
        """Write whatever is still queued, then stop the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._signals.put(_STOP)
            thread = self._thread
        if thread is None:
            self._run()  # never started: drain here, so queued records are not lost
        else:
            thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                item = self._signals.get()  # idle: sleeps until a record or a request comes, no wake-ups
                if item is _WAKE:
                    item = self._hold()
                self._awake = False  # before the drain: a record it misses wakes the writer again
                conn = self._drain(conn)
                if isinstance(item, _Flush):
                    item.done.set()
                elif item is _STOP:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _hold(self) -> Any:
        """Wait out `flush_interval`, unless a flush or the stop comes first (returned)."""
        deadline = time.monotonic() + self.flush_interval
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self._signals.get(timeout=remaining)
            except queue.Empty:
                return None
            if item is not _WAKE:
                return item
        return None

    def _drain(self, conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
        rows = self._rows
        while rows:
            batch = [rows.popleft() for _ in range(min(self.batch_size, len(rows)))]
            conn = self._store(conn, batch)
        return conn

    def _store(self, conn: sqlite3.Connection | None, pending: list[UsageRecord]) -> sqlite3.Connection | None:
        """Write and clear `pending`; returns the connection to reuse, None after a failure.

        A failed batch is dropped rather than retried: holding it would grow memory without bound
        for as long as the disk stays broken. Reconnecting afresh after any failure lets the ledger
        recover once the fault (a missing directory, a full disk) is gone.
        """
        if not pending:
            return conn
        try:
            rows = [_as_row(rec) for rec in pending]
            if conn is None:
                conn = _connect(self.path)
            self._write(conn, rows)
            if self.on_write is not None:
                first = pending[0]
                self.on_write(len(self._rows), time.time() - first.ts - first.total_ms / 1000)
            return conn
        except Exception:
            log.exception("usage ledger write to %s failed; %d records dropped", self.path, len(pending))
            if conn is not None:
                conn.close()
            return None
        finally:
            pending.clear()

    def _write(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """One batch, one transaction; a separate method so tests can make the disk slow or faulty."""
        with conn:
            conn.executemany(_INSERT, rows)


def _connect(path: Path) -> sqlite3.Connection:
    # WAL lets `interlingua usage` read, and other workers write, while this one writes.
    conn = sqlite.connect(path, _SCHEMA)
    try:
        sqlite.add_columns(conn, "usage", _ADDED)  # a ledger written by an older gateway, with zeros
    except BaseException:
        conn.close()
        raise
    return conn


_ADDED = {"characters": "INTEGER NOT NULL DEFAULT 0", "audio_seconds": "REAL NOT NULL DEFAULT 0",
          "images": "INTEGER NOT NULL DEFAULT 0", "pages": "INTEGER NOT NULL DEFAULT 0",
          "cost_usd": "REAL NOT NULL DEFAULT 0"}


# What `totals` can group by: the column's expression, and the name it is ordered by.
GROUPS = {"key": ('"key" AS key', '"key"'), "model": ("model", "model"),
          "day": ("date(ts, 'unixepoch') AS day", "day")}
SUMS = """COUNT(*) AS requests, SUM(status >= 400) AS errors,
       SUM(input_tokens) AS input_tokens, SUM(cached_tokens) AS cached_tokens,
       SUM(output_tokens) AS output_tokens, SUM(reasoning_tokens) AS reasoning_tokens,
       SUM(characters) AS characters, SUM(audio_seconds) AS audio_seconds, SUM(images) AS images,
       SUM(pages) AS pages, SUM(cost_usd) AS cost_usd,
       AVG(ttfb_ms) AS avg_ttfb_ms, AVG(total_ms) AS avg_total_ms"""


def window(since: float | None, until: float | None) -> tuple[str, list[float]]:
    """The WHERE clause (with its parameters) for requests that started in [since, until)."""
    clauses, params = [], []
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def totals(path: Path, by: tuple[str, ...] = ("key", "model"), since: float | None = None,
           until: float | None = None) -> list[dict[str, Any]]:
    """Sums per group (`by`, names from `GROUPS`) of requests that started in [since, until).

    `avg_ttfb_ms` averages only requests that saw a first byte, and is None when none did.
    """
    where, params = window(since, until)
    order = ", ".join(GROUPS[name][1] for name in by)
    return read(path, f"SELECT {', '.join(GROUPS[name][0] for name in by)}, {SUMS} FROM ledger_rows{where} "
                      f"GROUP BY {order} ORDER BY {order}", params)


def series(path: Path, step: int, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """`totals` per key and model in buckets of `step` seconds (`t`, the bucket's start), oldest first."""
    where, params = window(since, until)
    return read(path, f'SELECT CAST(ts / {int(step)} AS INTEGER) * {int(step)} AS t, "key" AS key, model, {SUMS} '
                      f'FROM ledger_rows{where} GROUP BY t, "key", model ORDER BY t, "key", model', params)


def spend(path: Path, key: str, since: float) -> float:
    """What `key` spent, in US dollars, on requests started at or after `since`."""
    rows = read(path, 'SELECT SUM(cost_usd) AS spent FROM ledger_rows WHERE "key" = ? AND ts >= ?', [key, since])
    return (rows[0]["spent"] or 0.0) if rows else 0.0


def read(path: Path, sql: str, params: list[Any] | tuple[()] = ()) -> list[dict[str, Any]]:
    """Rows of a query on the ledger (as the view `ledger_rows`); [] for a missing ledger, which this
    never creates. A ledger no gateway has opened since columns were added reads them as 0."""
    path = Path(path)
    if not path.is_file():
        return []
    # Read-only, so a typo'd path or a running gateway's file is never modified by the CLI.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        have = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
        if not have:
            return []
        columns = ", ".join(["*", *(f"0 AS {name}" for name in _ADDED if name not in have)])
        conn.execute(f"CREATE TEMP VIEW ledger_rows AS SELECT {columns} FROM main.usage")
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


NUMBERS = ("REQUESTS", "ERRORS", "INPUT", "CACHED", "OUTPUT", "REASONING", "CHARS", "AUDIO S", "IMAGES",
           "PAGES", "COST USD", "AVG TTFB MS", "AVG TOTAL MS")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_totals(rows: list[dict[str, Any]], by: tuple[str, ...] = ("key", "model")) -> str:
    """`totals()` as an aligned plain-text table; an open gateway's empty key shows as "-"."""
    if not rows:
        return "no usage recorded"
    cells = [tuple(name.upper() for name in by) + NUMBERS] + [
        tuple(r[name] or "-" for name in by) + (
            str(r["requests"]), str(r["errors"]),
            str(r["input_tokens"]), str(r["cached_tokens"]), str(r["output_tokens"]),
            str(r["reasoning_tokens"]), str(r["characters"]), f"{r['audio_seconds']:.1f}", str(r["images"]),
            str(r["pages"]), f"{r['cost_usd']:.4f}", _ms(r["avg_ttfb_ms"]), _ms(r["avg_total_ms"]),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i < len(by) else c.rjust(w)
                  for i, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in cells
    )
