"""JSON log lines: one per request (`AccessLog`), and the same shape for every other message.

A request's line is written straight to the file descriptor, one `os.write` of bytes that orjson
made, because `logging`'s record, formatter and handler lock cost several times more on the hot
path, and a buffered stream would need a flush (a second call) to keep lines prompt.
Other messages (startup, a config reload, a ledger failure) are rare and go through `logging`
with `JsonFormatter`, so that a log shipper reads one format. Each line has `time` (UTC, ISO
8601), `level`, `logger` and `msg`; a request's line adds its fields (`AccessLog.write`). Nothing
here sees a key, a prompt or an upstream's URL: the observing layer passes names and counts only.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson

ACCESS_LOGGER = "interlingua.access"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _line(level: str, logger: str, msg: str, fields: dict[str, Any] | None = None) -> bytes:
    record = {"time": _now(), "level": level, "logger": logger, "msg": msg}
    if fields:
        record.update(fields)
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


class AccessLog:
    """Writes one JSON line per request to a file descriptor (stderr's by default)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd

    def write(self, fields: dict[str, Any]) -> None:
        os.write(self.fd, _line("info", ACCESS_LOGGER, "request", fields))


class JsonFormatter(logging.Formatter):
    """`logging` records as the access log's lines, with the traceback, if any, as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        line = _line(record.levelname.lower(), record.name, record.getMessage(), fields)
        return line[:-1].decode()


def use_json_logs(stream: IO[str] | None = None) -> None:
    """Send the gateway's `logging` messages (logger "interlingua" and below) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("interlingua")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
