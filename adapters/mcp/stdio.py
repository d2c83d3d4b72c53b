"""stdio MCP servers behind a Streamable HTTP front: one process per session.

The gateway starts the server's command on `initialize`, writes each client message to its stdin
as one line of JSON, and reads its stdout line by line: a response goes to the POST that asked for
it, anything the server starts itself (progress, logging, sampling or elicitation requests) to the
oldest POST still waiting for an answer as SSE, else to the session's GET stream. A process ends on
DELETE, after `idle_timeout` with nothing open, and at shutdown; one that exits by itself answers
every request still waiting with a JSON-RPC error and ends its streams, so a client never hangs.
Its stderr goes to the gateway's log. Beyond `max_processes` concurrent sessions, 503.

The child gets a minimal environment (like the `mcp` SDK's own stdio client) plus its configured
`env`: never the gateway's own secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.servers import McpServer

log = logging.getLogger("interlingua.mcp")

INHERITED = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
LINE_LIMIT = 32 * 1024 * 1024  # the longest line (message) a server may write
STOP_GRACE = 2.0  # seconds between closing stdin, SIGTERM and SIGKILL


@dataclass(slots=True, eq=False)
class Pending:
    """One POST's requests in flight: their answers (and server messages meanwhile) land in `queue`;
    None ends it early (the process is gone)."""

    waiting: set[Any]
    sse: bool
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


class StdioSession:
    __slots__ = ("id", "owner", "server", "process", "exchanges", "listener", "last_used", "closed", "_tasks")

    def __init__(self, owner: str, server: McpServer, process: asyncio.subprocess.Process) -> None:
        self.id = secrets.token_urlsafe(24)
        self.owner = owner
        self.server = server
        self.process = process
        self.exchanges: list[Pending] = []
        self.listener: asyncio.Queue[bytes | None] | None = None  # the open GET stream's
        self.last_used = time.monotonic()
        self.closed = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def busy(self) -> bool:
        return bool(self.exchanges) or self.listener is not None

    async def send(self, messages: list[jsonrpc.Message], exchange: Pending | None) -> None:
        """Write `messages` to the process; `exchange` collects the answers to the requests among them."""
        if self.closed:
            raise GatewayError("not_found", "MCP session has ended", code=str(jsonrpc.SERVER_ERROR))
        self.last_used = time.monotonic()
        if exchange is not None:
            self.exchanges.append(exchange)
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.writelines([orjson.dumps(m.raw) + b"\n" for m in messages])
            await stdin.drain()
        except (ConnectionError, RuntimeError):
            self.end_exchanges("the server process is not running")

    def done(self, exchange: Pending) -> None:
        with contextlib.suppress(ValueError):
            self.exchanges.remove(exchange)
        self.touch()

    def touch(self) -> None:
        """Note use: the idle timeout counts from the last request or stream that ended."""
        self.last_used = time.monotonic()

    def route(self, line: bytes) -> None:
        """One line of the server's stdout to whoever waits for it."""
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("MCP server %s wrote a line that is not JSON; dropped", self.server.name)
            return
        if isinstance(message, dict) and "method" not in message and "id" in message:
            for exchange in self.exchanges:
                if message["id"] in exchange.waiting:
                    exchange.waiting.discard(message["id"])
                    exchange.queue.put_nowait(line)
                    return
            log.warning("MCP server %s answered an id nobody waits for; dropped", self.server.name)
            return
        target = next((e.queue for e in self.exchanges if e.sse), self.listener)
        if target is not None:
            target.put_nowait(line)

    def end_exchanges(self, why: str) -> None:
        """Answer every request still waiting with an error, end the GET stream."""
        for exchange in self.exchanges:
            for ident in exchange.waiting:
                exchange.queue.put_nowait(orjson.dumps(jsonrpc.error(ident, jsonrpc.INTERNAL_ERROR, why)))
            exchange.waiting.clear()
            exchange.queue.put_nowait(None)
        if self.listener is not None:
            self.listener.put_nowait(None)


class StdioSessions:
    """The sessions of every stdio server; `aclose` at shutdown stops every process."""

    def __init__(self) -> None:
        self.sessions: dict[str, StdioSession] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    def get(self, server: McpServer, owner: str, session_id: str) -> StdioSession | None:
        """The session, if `owner` opened it on `server` (another key's id is as unknown)."""
        session = self.sessions.get(session_id)
        if session is None or session.owner != owner or session.server.name != server.name or session.closed:
            return None
        return session

    async def start(self, server: McpServer, owner: str) -> StdioSession:
        if sum(1 for s in self.sessions.values() if s.server.name == server.name) >= server.max_processes:
            raise GatewayError("unavailable", f"MCP server {server.name} has {server.max_processes} sessions "
                               "open, its limit; try again later", status=503, retry_after=5)
        env = {k: v for k, v in os.environ.items() if k in INHERITED}
        env.update(server.env)
        try:
            process = await asyncio.create_subprocess_exec(
                server.command, *server.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, cwd=server.cwd, limit=LINE_LIMIT)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            log.error("MCP server %s: cannot start %s: %s", server.name, server.command, reason)
            raise GatewayError("upstream", f"MCP server {server.name} could not start: {reason}",
                               status=502) from None
        session = StdioSession(owner, server, process)
        self.sessions[session.id] = session
        session._tasks = [asyncio.create_task(self._read(session)), asyncio.create_task(self._log(session))]
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap())
        else:
            self._wake.set()
        log.info("MCP server %s: session started, pid %d", server.name, process.pid)
        return session

    async def _read(self, session: StdioSession) -> None:
        stdout = session.process.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                if line.strip():
                    session.route(line.rstrip(b"\r\n"))
        except (ValueError, ConnectionError) as exc:  # a line over the limit, a broken pipe
            log.error("MCP server %s: stdout unreadable: %s", session.server.name, exc)
        code = await session.process.wait()
        if not session.closed:
            log.warning("MCP server %s: process %d exited with code %s", session.server.name,
                        session.process.pid, code)
            session.end_exchanges(f"the MCP server process exited (code {code})")
            self._forget(session)
            _close_transport(session.process)

    async def _log(self, session: StdioSession) -> None:
        stderr = session.process.stderr
        assert stderr is not None
        with contextlib.suppress(ValueError, ConnectionError):
            while line := await stderr.readline():
                log.info("MCP server %s[%d]: %s", session.server.name, session.process.pid,
                         line.decode(errors="replace").rstrip())

    def _forget(self, session: StdioSession) -> None:
        session.closed = True
        self.sessions.pop(session.id, None)

    async def stop(self, session: StdioSession) -> None:
        """End the session: close stdin, then SIGTERM, then SIGKILL, each after a grace period."""
        if session.closed:
            return
        self._forget(session)
        session.end_exchanges("the MCP session was closed")
        process = session.process
        if process.stdin is not None:
            process.stdin.close()
        for signal in (None, process.terminate, process.kill):
            if signal is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    signal()
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE)
                break
            except TimeoutError:
                continue
        # Its pipes read to their end (past the grace, closed), so that the process's transport is
        # closed now, not by the garbage collector after the loop has gone.
        if session._tasks:
            _, reading = await asyncio.wait(session._tasks, timeout=STOP_GRACE)
            for task in reading:
                task.cancel()
        _close_transport(process)
        log.info("MCP server %s: session ended, pid %d", session.server.name, process.pid)

    async def _reap(self) -> None:
        """Stop sessions left idle (nothing in flight, no stream open) past their server's timeout."""
        while self.sessions and not self._closing:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # woken early by a session with a shorter timeout
                await asyncio.wait_for(self._wake.wait(),
                                       min(30.0, *(s.server.idle_timeout / 4 for s in self.sessions.values())))
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if not self._closing and not session.busy and now - session.last_used > session.server.idle_timeout:
                    log.info("MCP server %s: session idle for %.0f s, stopping", session.server.name,
                             now - session.last_used)
                    await self.stop(session)

    async def aclose(self) -> None:
        """Stop every session; a stop the reaper has begun is let finish (cancelled, its process
        would outlive the gateway)."""
        self._closing = True
        self._wake.set()
        if self._reaper is not None:
            await self._reaper
        await asyncio.gather(*(self.stop(s) for s in list(self.sessions.values())))


def _close_transport(process: asyncio.subprocess.Process) -> None:
    """Close an ended process's transport now, not in the garbage collector after the loop has
    gone (which warns); asyncio's Process has no close of its own."""
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()
