"""A pipelined Redis connection for the limit counters and the shared reasoning store: one
socket, RESP2, no pool.

Every metered request makes one admission round trip, so the client's own cost is on every
request's path. redis-py's asyncio client spends about 130 µs of CPU a command here (a pooled
connection taken and given back under a lock, retry and event wrappers, arguments encoded one by
one), more than the round trip itself. This one writes each command straight to one connection
that every task shares, and answers them in order from `data_received`: Redis answers a
connection's commands in the order they came, so the waiting futures are a queue. The URL is read
by redis-py's own `parse_url`, so it means what it means to the rest of the gateway (password,
user, database, `rediss://`, `unix://`). A connection that fails, or whose oldest command waits
past the timeout, is dropped with everything waiting on it (their answers could no longer be
matched) and the next command opens another. One timer per connection watches the oldest command
instead of one per command: `asyncio.timeout` costs about 7 µs a use.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from functools import partial
from typing import Any

from redis.asyncio.connection import SSLConnection, parse_url

Arg = bytes | str | int | float
_CRLF = b"\r\n"


def tls(options: Mapping[str, Any]) -> ssl.SSLContext | None:
    """The TLS a `rediss://` URL asks for, with redis-py's query options: `ssl_ca_certs` (a CA file),
    `ssl_cert_reqs=none|optional|required`, `ssl_check_hostname`; None for plain `redis://`."""
    if options.get("connection_class") is not SSLConnection:
        return None
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    required = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL}.get(str(options.get("ssl_cert_reqs")),
                                                                         ssl.CERT_REQUIRED)
    check = options.get("ssl_check_hostname")
    context.check_hostname = required != ssl.CERT_NONE and check not in (False, "false", "0")
    context.verify_mode = required
    return context


class ReplyError(Exception):
    """An error reply (`-ERR ...`, `-NOSCRIPT ...`): the command failed, the connection is fine."""


# What a command may fail with: a connection lost or refused, a reply that is not RESP, no answer in
# time (ConnectionError and TimeoutError are OSErrors), or an error reply.
FAILURES = (OSError, ReplyError)


def first_error(replies: list[Any]) -> ReplyError | None:
    return next((reply for reply in replies if isinstance(reply, ReplyError)), None)


def pack(args: tuple[Arg, ...]) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts += b"$%d\r\n" % len(data), data, _CRLF
    return b"".join(parts)


def parse(buffer: bytearray | bytes, at: int) -> tuple[Any, int] | None:
    """The reply starting at `at` and where the next one starts, or None when it has not all come."""
    end = buffer.find(_CRLF, at)
    if end < 0:
        return None
    kind, line = buffer[at], bytes(buffer[at + 1:end])
    at = end + 2
    if kind == 0x2B:  # +
        return line.decode(), at
    if kind == 0x3A:  # :
        return int(line), at
    if kind == 0x2D:  # -
        return ReplyError(line.decode(errors="replace")), at
    if kind == 0x24:  # $
        size = int(line)
        if size < 0:
            return None, at
        if len(buffer) < at + size + 2:
            return None
        return bytes(buffer[at:at + size]), at + size + 2
    if kind == 0x2A:  # *
        count = int(line)
        if count < 0:
            return None, at
        items = []
        for _ in range(count):
            parsed = parse(buffer, at)
            if parsed is None:
                return None
            item, at = parsed
            items.append(item)
        return items, at
    raise ConnectionError(f"not a RESP reply: {bytes(buffer[at - len(line) - 3:at])!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()  # with when each was sent
        self.lost: Exception | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    def expect(self, futures: list[asyncio.Future[Any]]) -> None:
        """Replies on their way, in order: the connection fails if the oldest waits past the timeout."""
        now = self.loop.time()
        self.waiting.extend([(future, now) for future in futures])
        if self._watchdog is None:
            self._watchdog = self.loop.call_at(now + self.timeout, self._check)

    def _check(self) -> None:
        self._watchdog = None
        if not self.waiting:
            return
        since = self.waiting[0][1]
        if self.loop.time() - since >= self.timeout:
            self._fail(TimeoutError(f"Redis did not answer within {self.timeout:g} s"))
        else:
            self._watchdog = self.loop.call_at(since + self.timeout, self._check)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport: TCP or a unix socket

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        at = 0
        try:
            while self.waiting and (parsed := parse(buffer, at)) is not None:
                reply, at = parsed
                future, _ = self.waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except (ConnectionError, ValueError) as exc:
            self._fail(ConnectionError(f"Redis answered what is not RESP: {exc}"))
            return
        del buffer[:at]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"the connection to Redis closed: {exc or 'by the server'}"))

    def _fail(self, error: Exception) -> None:
        self.lost = error
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()


class RespConnection:
    """Commands to one Redis server over one shared connection, opened on first use."""

    def __init__(self, url: str, timeout: float) -> None:
        self.options = parse_url(url)
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._opening: asyncio.Task[_Protocol] | None = None

    async def call(self, *args: Arg) -> Any:
        """One command's reply; a `ReplyError` is raised, not returned."""
        (reply,) = await self.pipeline([args], strict=True)
        return reply

    async def pipeline(self, commands: list[tuple[Arg, ...]], *, strict: bool = False) -> list[Any]:
        """The replies to `commands`, sent in one write; error replies are returned in their place,
        or with `strict` the first of them is raised."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None or protocol.loop is not asyncio.get_running_loop():
            protocol = await self._open()  # none yet, lost, or made by another event loop
        replies = await self._send(protocol, commands)
        if strict and (failed := first_error(replies)) is not None:
            raise failed
        return replies

    async def _send(self, protocol: _Protocol, commands: list[tuple[Arg, ...]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        protocol.expect(futures)
        assert protocol.transport is not None
        protocol.transport.write(b"".join([pack(args) for args in commands]))
        return [await future for future in futures]

    async def _open(self) -> _Protocol:
        """The connection, opened once however many commands wait for it."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._connect())
        opening = self._opening
        try:
            protocol = await asyncio.shield(opening)
        finally:
            if self._opening is opening and opening.done():
                self._opening = None
        self._protocol = protocol
        return protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        options = self.options
        made = partial(_Protocol, self.timeout)
        async with asyncio.timeout(self.timeout):
            if "path" in options:
                _, protocol = await loop.create_unix_connection(made, options["path"])
            else:
                _, protocol = await loop.create_connection(made, options.get("host", "localhost"),
                                                           options.get("port", 6379), ssl=tls(options))
        setup: list[tuple[Arg, ...]] = []
        if options.get("password"):
            setup.append(("AUTH", *([options["username"]] if options.get("username") else []), options["password"]))
        if options.get("db"):
            setup.append(("SELECT", options["db"]))
        if setup:
            failed = first_error(await self._send(protocol, setup))
            if failed is not None:
                protocol._fail(ConnectionError(f"Redis refused the connection's set-up: {failed}"))
                raise failed
        return protocol

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
