"""JSON log lines: one per request (`AccessLog`), and the same shape for every other message.

A request's `Outcome` is kept as it comes (the metrics keep the same object), and at most
`FLUSH_SECONDS` later (or at once past `FLUSH_LINES`) made into a line by orjson, which writes the
dataclass's fields (the line's), and the batch is written in one `os.write`. `logging` (record,
formatter, handler lock) and a write per line would cost far more on the hot path (a write
releases the GIL, and taking it back from the ledger's writer thread is a context switch), and
formatting a batch in one loop costs a third of formatting each line amid a request's other work,
whose code and data it would push out of the CPU's caches.
Other messages (startup, a ledger failure) are rare and go through `logging` with `JsonFormatter`,
so that a log shipper reads one format. Each line has `time` (UTC, ISO 8601, milliseconds),
`level`, `logger` and `msg`; a request's line adds the fields of its `Outcome`. Nothing here
sees a key, a prompt or an upstream's URL: the observing layer passes names and counts only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import IO, Any

import orjson

from interlingua.middleware.outcome import Outcome

ACCESS_LOGGER = "interlingua.access"
FLUSH_SECONDS = 0.05
FLUSH_LINES = 1000
_REQUEST = f'"level":"info","logger":"{ACCESS_LOGGER}","msg":"request"'.encode()


class _Clock:
    """UTC ISO 8601 times to the millisecond; the part up to the second is made once a second, and
    a request line's whole start once a millisecond (several requests end in each at full load)."""

    __slots__ = ("second", "prefix", "milli", "start")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""
        self.milli = -1
        self.start = b""

    def line_start(self, now: float) -> bytes:
        """A request line up to its own fields: time, level, logger and message."""
        milli = int(now * 1000)
        if milli != self.milli:
            self.milli, self.start = milli, b'{"time":"%s",%s' % (self.at(now).encode(), _REQUEST)
        return self.start

    def now(self) -> str:
        return self.at(time.time())

    def at(self, now: float) -> str:
        second, milli = divmod(int(now * 1000), 1000)
        if second != self.second:
            self.second, self.prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.prefix}.{milli:03d}Z"


def _line(clock: _Clock, level: str, logger: str, msg: str, fields: dict[str, Any] | None = None) -> bytes:
    record = {"time": clock.now(), "level": level, "logger": logger, "msg": msg}
    if fields:
        record.update(fields)
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


class AccessLog:
    """Writes one JSON line per request to a file descriptor (stderr's by default), in batches.

    Call `flush()` at shutdown; from the event loop, a flush is scheduled after each first line.
    """

    __slots__ = ("fd", "pending", "scheduled", "clock")

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd
        self.pending: list[Outcome] = []
        self.scheduled = False
        self.clock = _Clock()

    def write(self, done: Outcome) -> None:
        """A request's line, made at the next flush."""
        self.pending.append(done)
        if len(self.pending) >= FLUSH_LINES:
            self.flush()
        elif not self.scheduled:
            try:
                asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no event loop: write now
                self.flush()
                return
            self.scheduled = True

    def flush(self) -> None:
        self.scheduled = False
        pending, self.pending = self.pending, []
        start, dumps, newline = self.clock.line_start, orjson.dumps, orjson.OPT_APPEND_NEWLINE
        lines: list[bytes] = []
        for done in pending:
            line = dumps(done, option=newline)  # b'{"time":1796507349.866,"request_id":...}'
            lines += start(done.time), line[line.index(b","):]  # its own fields, after `time`
        data = b"".join(lines)
        while data:
            data = data[os.write(self.fd, data):]


class JsonFormatter(logging.Formatter):
    """`logging` records as the access log's lines, with the traceback, if any, as `exc`."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        line = _line(self.clock, record.levelname.lower(), record.name, record.getMessage(), fields)
        return line[:-1].decode()


def use_json_logs(stream: IO[str] | None = None) -> None:
    """Send the gateway's `logging` messages (logger "interlingua" and below) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("interlingua")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
