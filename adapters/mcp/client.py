"""The gateway as an MCP client, for federation: one session on one upstream server, opened lazily.

Only what federation needs: the `initialize` handshake on first use, requests whose answer is
awaited while the server's own messages meanwhile (progress, sampling requests) go to a callback,
one-way messages (notifications, the client's answers to the server's requests), and, over HTTP,
the session's GET stream, whose messages go to `aside`. Over
Streamable HTTP (`HttpClient`) or a stdio process (`StdioClient`); legacy SSE servers are not
federated.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import count
from typing import Any

import httpx
import orjson

from interlingua.adapters.dialects import sse
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.http import Upstreams, chunks, own_headers
from interlingua.adapters.mcp.servers import McpServer
from interlingua.adapters.mcp.stdio import Pending, StdioSession, StdioSessions

log = logging.getLogger("interlingua.mcp")
OnMessage = Callable[[dict[str, Any]], Awaitable[None]]
CLIENT_INFO = {"name": "interlingua", "version": "0.1.0"}


def _broken(server: McpServer, why: str) -> GatewayError:
    return GatewayError("upstream", f"MCP server {server.name}: {why}", code=str(jsonrpc.INTERNAL_ERROR))


class UpstreamClient(ABC):
    """One session on `server`, speaking the protocol version its client asked the gateway for."""

    def __init__(self, server: McpServer, version: str, aside: OnMessage | None = None) -> None:
        self.server = server
        self.version = version
        self.aside = aside  # what the server sends outside any request (its own stream)
        self._ids = count(1)
        self._lock = asyncio.Lock()
        self._open = False

    async def request(self, method: str, params: Any, on_message: OnMessage | None = None) -> dict[str, Any]:
        """The server's response message (a result or an error) to one request."""
        await self._ensure_open()
        return await self._ask(method, params, on_message)

    async def _ask(self, method: str, params: Any, on_message: OnMessage | None) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                   **({"params": params} if params is not None else {})}
        answer = await self._exchange(message, on_message)
        if answer is None:
            raise _broken(self.server, f"no answer to {method}")
        return answer

    async def _ensure_open(self) -> None:
        async with self._lock:
            if self._open and self.alive():
                return
            answer = await self._ask("initialize", {"protocolVersion": self.version, "capabilities": {
                "sampling": {}, "elicitation": {}, "roots": {}}, "clientInfo": CLIENT_INFO}, None)
            result = answer.get("result")
            if not isinstance(result, dict):
                raise _broken(self.server, f"initialize failed: {answer.get('error')}")
            self.version = str(result.get("protocolVersion", self.version))
            await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            self._open = True
            self.opened()

    @abstractmethod
    def opened(self) -> None:
        """After the handshake: start listening to the server's own stream, where there is one."""

    def alive(self) -> bool:
        """Whether the session opened is still there (a stdio process may have ended)."""
        return True

    @abstractmethod
    async def _exchange(self, message: dict[str, Any], on_message: OnMessage | None) -> dict[str, Any] | None:
        """Send `message`; for a request, its response (other messages meanwhile to `on_message`)."""

    @abstractmethod
    async def send(self, message: dict[str, Any]) -> None:
        """A message that has no answer: a notification, or a response to the server's request."""

    @abstractmethod
    async def close(self) -> None: ...


class HttpClient(UpstreamClient):
    def __init__(self, server: McpServer, version: str, upstreams: Upstreams, aside: OnMessage | None = None) -> None:
        super().__init__(server, version, aside)
        self.upstreams = upstreams
        self.session_id: str | None = None
        self._listening: asyncio.Task[None] | None = None

    def opened(self) -> None:
        if self.aside is not None and self.session_id is not None:
            self._listening = asyncio.create_task(self._listen(self.aside))

    async def _listen(self, aside: OnMessage) -> None:
        """The session's GET stream, for as long as the server keeps it (405: it offers none)."""
        extra = [("mcp-session-id", self.session_id or ""), ("mcp-protocol-version", self.version)]
        try:
            response = await self.upstreams.open(self.server, "GET", self.server.url,
                                                 own_headers(self.server, extra), None, stream=True)
            try:
                if response.status_code == 200:
                    async for got in self._messages(response):
                        await aside(got)
            finally:
                await response.aclose()
        except GatewayError as error:
            log.info("MCP server %s: its own stream ended: %s", self.server.name, error.message)

    async def _messages(self, response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
        """The messages of an SSE answer; priming events (an id to resume from, no data) skipped."""
        splitter = sse.Splitter()
        async for chunk in chunks(response, self.server):
            for _, data in sse.events(splitter.feed(chunk)):
                if data.strip():
                    yield _object(data, self.server)

    async def _exchange(self, message: dict[str, Any], on_message: OnMessage | None) -> dict[str, Any] | None:
        extra = [("mcp-protocol-version", self.version)] if self._open else []
        if self.session_id is not None:
            extra.append(("mcp-session-id", self.session_id))
        response = await self.upstreams.open(self.server, "POST", self.server.url,
                                             own_headers(self.server, extra), orjson.dumps(message), stream=False)
        try:
            self.session_id = response.headers.get("mcp-session-id", self.session_id)
            if response.status_code >= 400:
                raise _broken(self.server, f"answered HTTP {response.status_code}")
            if "id" not in message or "method" not in message:
                return None
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                return _object(await response.aread(), self.server)
            async for got in self._messages(response):
                if "method" not in got and got.get("id") == message["id"]:
                    return got
                if on_message is not None:
                    await on_message(got)
            raise _broken(self.server, "the answer's stream ended without the response")
        finally:
            await response.aclose()

    async def send(self, message: dict[str, Any]) -> None:
        await self._exchange(message, None)

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
        if self.session_id is None:
            return
        extra = [("mcp-session-id", self.session_id), ("mcp-protocol-version", self.version)]
        try:
            response = await self.upstreams.open(self.server, "DELETE", self.server.url,
                                                 own_headers(self.server, extra), None, stream=False)
            await response.aclose()
        except GatewayError:
            pass  # the session ends with the server anyway


class StdioClient(UpstreamClient):
    def __init__(self, server: McpServer, version: str, sessions: StdioSessions, owner: str) -> None:
        super().__init__(server, version)
        self.sessions = sessions
        self.owner = owner
        self.session: StdioSession | None = None

    def alive(self) -> bool:
        return self.session is not None and not self.session.closed

    def opened(self) -> None:
        """Nothing to open: what the process says outside a request has no stream to go to here."""

    async def _exchange(self, message: dict[str, Any], on_message: OnMessage | None) -> dict[str, Any] | None:
        if self.session is None or self.session.closed:
            self.session = await self.sessions.start(self.server, self.owner)
        request = jsonrpc.Message(message, message.get("method"), message.get("id"))
        if not request.is_request:
            await self.session.send([request], None)
            return None
        pending = Pending({request.id}, True)
        await self.session.send([request], pending)
        try:
            while (line := await pending.queue.get()) is not None:
                got = _object(line, self.server)
                if "method" not in got and got.get("id") == request.id:
                    return got
                if on_message is not None:
                    await on_message(got)
        finally:
            self.session.done(pending)
        raise _broken(self.server, "the process ended")

    async def send(self, message: dict[str, Any]) -> None:
        await self._exchange(message, None)

    async def close(self) -> None:
        if self.session is not None:
            await self.sessions.stop(self.session)


def _object(data: bytes, server: McpServer) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _broken(server, "sent a message that is not JSON") from None
    if not isinstance(value, dict):
        raise _broken(server, "sent a message that is not a JSON object")
    return value
