"""JSON log lines: one per request (`AccessLog`), and the same shape for every other message.

A request's `Outcome` is kept as it comes (the metrics keep the same object), and at most
`FLUSH_SECONDS` later (or at once past `FLUSH_LINES`) the batch is made into lines by one
`orjson.dumps` of the whole list, whose objects are split into lines and given the level, logger
and message, and written in one `os.write`. `logging` (record, formatter, handler lock) and a
write per line would cost far more on the hot path (a write releases the GIL, and taking it back
from the ledger's writer thread is a context switch), and encoding a batch at once costs half as
much as encoding its lines one by one.
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
from typing import IO, Any

import orjson

from interlingua.middleware.outcome import Outcome, UtcClock

ACCESS_LOGGER = "interlingua.access"
FLUSH_SECONDS = 0.05
FLUSH_LINES = 1000
# Where one object of an encoded batch ends and the next begins, and where a line's time ends. Both
# are unambiguous: inside a string orjson writes every `"` as `\"`, so the `"` after a `{` or a `,`
# is never in one.
_NEXT = b'},{"time":'
_AFTER_TIME = b'","request_id":'
_REQUEST = f'","level":"info","logger":"{ACCESS_LOGGER}","msg":"request","request_id":'.encode()


def _line(clock: UtcClock, level: str, logger: str, msg: str, fields: dict[str, Any] | None = None) -> bytes:
    record = {"time": clock.now(), "level": level, "logger": logger, "msg": msg}
    if fields:
        record.update(fields)
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


class AccessLog:
    """Writes one JSON line per request to a file descriptor (stderr's by default), in batches.

    Call `flush()` at shutdown; from the event loop, a flush is scheduled after each first line.
    """

    __slots__ = ("fd", "pending", "scheduled")

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd
        self.pending: list[Outcome] = []
        self.scheduled = False

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
        if not pending:
            return
        data = orjson.dumps(pending)  # b'[{"time":"2026-...Z","request_id":...},{"time":...}]'
        data = b"%s\n" % data[1:-1].replace(_NEXT, b'}\n{"time":').replace(_AFTER_TIME, _REQUEST)
        while data:
            data = data[os.write(self.fd, data):]


class JsonFormatter(logging.Formatter):
    """`logging` records as the access log's lines, with the traceback, if any, as `exc`."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = UtcClock()

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
