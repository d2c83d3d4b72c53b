"""The usage ledger: what reaches disk, when, and that neither a slow nor a broken disk hurts callers."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from interlingua.adapters.storage.ledger import SUMS, Ledger, UsageRecord, format_totals, spend, totals


def rec(key: str = "alice", model: str = "gpt-4o", status: int = 200, **kw) -> UsageRecord:
    base = dict(
        ts=1_700_000_000.0, key=key, model=model, upstream="openai/gpt-4o", dialect="openai_chat",
        operation="chat", status=status, input_tokens=10, cached_tokens=2, output_tokens=5,
        reasoning_tokens=1, ttfb_ms=100.0, total_ms=200.0, stream=False, estimated=False,
    )
    base.update(kw)
    return UsageRecord(**base)


def rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM usage ORDER BY id").fetchall()
    finally:
        conn.close()


def test_round_trip_after_flush(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "usage.db"
    ledger = Ledger(path, flush_interval=60)  # only flush() can write within the test
    ledger.start()
    original = rec(key="", upstream="", status=502, ttfb_ms=None, stream=True, estimated=True,
                   reasoning_tokens=7)
    ledger.record(original)
    ledger.flush()
    [row] = rows(path)
    assert row["id"] == 1
    restored = UsageRecord(**{k: row[k] for k in row.keys() if k != "id"})
    restored.stream, restored.estimated = bool(restored.stream), bool(restored.estimated)
    assert restored == original
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"usage_key_model", "usage_ts"} <= {r[1] for r in conn.execute("PRAGMA index_list(usage)")}
    # The usage page's and `interlingua usage`'s windows read by time: 3.4 s on 2 million rows unindexed.
    plan = " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT {SUMS} FROM usage WHERE ts >= ? AND ts < ?",
                                               (0, 1)))
    assert "USING INDEX usage_ts" in plan
    conn.close()
    ledger.close()


def _written(path: Path) -> bool:
    """Whether a row is on disk; the file can exist a moment before its table does."""
    try:
        return path.exists() and bool(rows(path))
    except sqlite3.OperationalError:
        return False


def test_flush_interval_writes_without_flush(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    ledger = Ledger(path, flush_interval=0.05)
    ledger.start()
    ledger.record(rec())
    deadline = time.monotonic() + 5
    while not _written(path):
        assert time.monotonic() < deadline, "the interval never wrote the record"
        time.sleep(0.02)
    ledger.close()


def test_batches_of_batch_size(tmp_path: Path) -> None:
    batches: list[int] = []

    class Counting(Ledger):
        def _write(self, conn, rows):
            batches.append(len(rows))
            super()._write(conn, rows)

    path = tmp_path / "usage.db"
    ledger = Counting(path, flush_interval=60, batch_size=100)
    for i in range(1050):
        ledger.record(rec(input_tokens=i))
    ledger.start()
    ledger.close()
    assert batches == [100] * 10 + [50]
    assert [r["input_tokens"] for r in rows(path)] == list(range(1050))


def test_close_drains_queue_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    ledger = Ledger(path, flush_interval=60)
    ledger.start()
    for _ in range(7):
        ledger.record(rec())
    ledger.close()
    ledger.close()
    assert len(rows(path)) == 7
    ledger.record(rec())  # after close: dropped, not queued forever
    ledger.flush()  # nothing left to wait for
    assert len(rows(path)) == 7
    with pytest.raises(RuntimeError):
        ledger.start()


def test_close_without_start(tmp_path: Path) -> None:
    Ledger(tmp_path / "empty.db").close()
    assert not (tmp_path / "empty.db").exists()  # nothing to write, so no file

    ledger = Ledger(tmp_path / "usage.db")
    ledger.record(rec())
    ledger.close()
    assert len(rows(tmp_path / "usage.db")) == 1


def test_flush_before_start_refuses_rather_than_hangs(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        Ledger(tmp_path / "usage.db").flush()


def test_slow_disk_does_not_slow_record(tmp_path: Path) -> None:
    writing = threading.Event()

    class Slow(Ledger):
        def _write(self, conn, rows):
            writing.set()
            time.sleep(0.2)
            super()._write(conn, rows)

    path = tmp_path / "usage.db"
    ledger = Slow(path, flush_interval=0.01, batch_size=250)
    ledger.start()
    ledger.record(rec())
    assert writing.wait(5)  # the writer is now mid-sleep
    t0 = time.perf_counter()
    for _ in range(1000):
        ledger.record(rec())
    # Waiting on even one write would take 0.2 s; a worst single call is GIL-switch noise, not a signal.
    assert time.perf_counter() - t0 < 0.1
    ledger.close()
    assert len(rows(path)) == 1001


def test_failed_write_is_logged_and_later_records_land(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.db"
    path.mkdir()  # sqlite cannot open a directory
    ledger = Ledger(path, flush_interval=60)
    ledger.start()
    with caplog.at_level(logging.ERROR, logger="interlingua.ledger"):
        ledger.record(rec(key="lost"))
        ledger.flush()
    assert any(r.name == "interlingua.ledger" and "1 records dropped" in r.getMessage() for r in caplog.records)

    path.rmdir()
    ledger.record(rec(key="kept"))
    ledger.flush()
    assert [r["key"] for r in rows(path)] == ["kept"]
    ledger.close()


def test_write_error_mid_run_does_not_kill_writer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Flaky(Ledger):
        fail = True

        def _write(self, conn, rows):
            if self.fail:
                raise sqlite3.OperationalError("disk I/O error")
            super()._write(conn, rows)

    path = tmp_path / "usage.db"
    ledger = Flaky(path, flush_interval=60)
    ledger.start()
    with caplog.at_level(logging.ERROR, logger="interlingua.ledger"):
        ledger.record(rec(key="lost"))
        ledger.flush()
    assert "disk I/O error" in caplog.text
    ledger.fail = False
    ledger.record(rec(key="kept"))
    ledger.close()
    assert [r["key"] for r in rows(path)] == ["kept"]


def test_totals_and_format(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    ledger = Ledger(path)
    for r in (
        rec(key="bob", model="claude", input_tokens=100, cached_tokens=0, output_tokens=50,
            reasoning_tokens=0, ttfb_ms=10.0, total_ms=30.0, characters=12, audio_seconds=1.5, images=2,
            cost_usd=0.25),
        rec(key="alice", status=200, ttfb_ms=100.0, total_ms=200.0, cost_usd=0.0015),
        rec(key="alice", status=429, input_tokens=20, ttfb_ms=None, total_ms=50.0),
        rec(key="alice", status=500, output_tokens=0, ttfb_ms=300.0, total_ms=350.0),
        rec(key="", model="gpt-4o", input_tokens=1, cached_tokens=0, output_tokens=1, reasoning_tokens=0,
            ttfb_ms=None, total_ms=5.0),
    ):
        ledger.record(r)
    ledger.close()

    assert totals(path) == [
        dict(key="", model="gpt-4o", requests=1, errors=0, input_tokens=1, cached_tokens=0, output_tokens=1,
             reasoning_tokens=0, characters=0, audio_seconds=0.0, images=0, pages=0, cost_usd=0.0, avg_ttfb_ms=None,
             avg_total_ms=5.0),
        dict(key="alice", model="gpt-4o", requests=3, errors=2, input_tokens=40, cached_tokens=6,
             output_tokens=10, reasoning_tokens=3, characters=0, audio_seconds=0.0, images=0, pages=0,
             cost_usd=0.0015, avg_ttfb_ms=200.0, avg_total_ms=200.0),
        dict(key="bob", model="claude", requests=1, errors=0, input_tokens=100, cached_tokens=0,
             output_tokens=50, reasoning_tokens=0, characters=12, audio_seconds=1.5, images=2, pages=0,
             cost_usd=0.25, avg_ttfb_ms=10.0, avg_total_ms=30.0),
    ]
    assert format_totals(totals(path)).splitlines() == [
        "KEY    MODEL   REQUESTS  ERRORS  INPUT  CACHED  OUTPUT  REASONING  CHARS  AUDIO S  IMAGES  PAGES  COST USD"
        "  AVG TTFB MS  AVG TOTAL MS",
        "-      gpt-4o         1       0      1       0       1          0      0      0.0       0      0    0.0000"
        "            -           5.0",
        "alice  gpt-4o         3       2     40       6      10          3      0      0.0       0      0    0.0015"
        "        200.0         200.0",
        "bob    claude         1       0    100       0      50          0     12      1.5       2      0    0.2500"
        "         10.0          30.0",
    ]
    assert spend(path, "alice", 1_700_000_000.0) == 0.0015
    assert spend(path, "alice", 1_700_000_001.0) == 0.0


def test_a_ledger_from_an_older_gateway_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    old = sqlite3.connect(path)
    old.execute('CREATE TABLE usage (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, "key" TEXT NOT NULL, '
                "model TEXT NOT NULL, upstream TEXT NOT NULL, dialect TEXT NOT NULL, operation TEXT NOT NULL, "
                "status INTEGER NOT NULL, input_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, "
                "output_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, ttfb_ms REAL, "
                "total_ms REAL NOT NULL, stream INTEGER NOT NULL, estimated INTEGER NOT NULL)")
    old.execute("INSERT INTO usage VALUES (NULL, 1, 'k', 'm', '', '', '', 200, 1, 0, 1, 0, NULL, 1, 0, 0)")
    old.commit()
    old.close()
    ledger = Ledger(path)
    ledger.start()
    ledger.record(rec(key="k", model="m", images=3))
    ledger.close()
    (row,) = totals(path)
    assert (row["requests"], row["images"], row["characters"]) == (2, 3, 0)


def test_totals_of_missing_or_empty_ledger(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "usage.db"
    assert totals(missing) == []
    assert not missing.exists() and not missing.parent.exists()
    (tmp_path / "blank.db").touch()
    assert totals(tmp_path / "blank.db") == []
    assert format_totals([]) == "no usage recorded"


def test_totals_while_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    ledger = Ledger(path, flush_interval=60)
    ledger.start()
    ledger.record(rec())
    ledger.flush()
    assert totals(path)[0]["requests"] == 1  # the CLI reading a running gateway's WAL file
    ledger.close()
