"""The gateway as an MCP client (federation, the remote MCP servers a turn names): one session on
one upstream server, opened lazily.

The `initialize` handshake on first use, requests whose answer is awaited while the server's own
messages meanwhile (progress, sampling requests) go to a callback, one-way messages
(notifications, the client's answers to the server's requests), and what the server sends outside
any request (Streamable HTTP's GET stream, the legacy transport's one stream), to `aside`. Over
Streamable HTTP (`HttpClient`), the legacy HTTP+SSE transport (`SseClient`), or a stdio process
(`StdioClient`); `AnyHttpClient` finds out which of the two HTTP transports a server speaks.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
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


class _NotStreamable(GatewayError):
    """The server refused the transport: the handshake's POST with a 4xx (an HTTP+SSE server,
    maybe), or the SSE stream's GET."""


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
        await self.open()
        return await self._ask(method, params, on_message)

    async def _ask(self, method: str, params: Any, on_message: OnMessage | None) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                   **({"params": params} if params is not None else {})}
        answer = await self._exchange(message, on_message)
        if answer is None:
            raise _broken(self.server, f"no answer to {method}")
        return answer

    async def open(self) -> None:
        """The handshake, where the session is not open (or has gone)."""
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
                why = f"answered HTTP {response.status_code}"
                if message.get("method") == "initialize" and 400 <= response.status_code < 500:
                    raise _NotStreamable("upstream", f"MCP server {self.server.name}: {why}",
                                         code=str(jsonrpc.INTERNAL_ERROR))
                raise _broken(self.server, why)
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


class SseClient(UpstreamClient):
    """A legacy HTTP+SSE server (protocol 2024-11-05): one GET stream carries all the server sends,
    opening with an `endpoint` event that names where the client POSTs its own messages; the
    responses come on the stream, matched to their requests by id."""

    def __init__(self, server: McpServer, version: str, upstreams: Upstreams, aside: OnMessage | None = None) -> None:
        super().__init__(server, version, aside)
        self.upstreams = upstreams
        self._endpoint: str | None = None
        self._reading: asyncio.Task[None] | None = None
        self._waiting: dict[Any, _Waiting] = {}  # by request id

    def opened(self) -> None:
        """The stream is read from the handshake on."""

    def alive(self) -> bool:
        return self._reading is not None and not self._reading.done()

    async def _connect(self) -> None:
        response = await self.upstreams.open(self.server, "GET", self.server.url,
                                             own_headers(self.server, [("accept", "text/event-stream")]), None,
                                             stream=True)
        if response.status_code != 200:
            await response.aclose()
            raise _NotStreamable("upstream", f"MCP server {self.server.name}: answered its SSE stream with HTTP "
                                             f"{response.status_code}", code=str(jsonrpc.INTERNAL_ERROR))
        events = self._events(response)
        try:
            async for name, data in events:
                if name == "endpoint":
                    self._endpoint = self._own(data.decode().strip())
                    break
            else:
                raise _broken(self.server, "its SSE stream ended before its endpoint event")
        except BaseException:
            await response.aclose()
            raise
        self._reading = asyncio.create_task(self._read(response, events))

    def _own(self, endpoint: str) -> str:
        """The endpoint resolved against the stream's URL; only on the server's own origin, which is
        the one the gateway was allowed to reach."""
        base = httpx.URL(self.server.url)
        url = base.join(endpoint)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise _broken(self.server, "named an endpoint on another origin")
        return str(url)

    async def _events(self, response: httpx.Response) -> AsyncIterator[tuple[str | None, bytes]]:
        splitter = sse.Splitter()
        async for chunk in chunks(response, self.server):
            for event in sse.events(splitter.feed(chunk)):
                yield event

    async def _read(self, response: httpx.Response, events: AsyncIterator[tuple[str | None, bytes]]) -> None:
        """Each response of the stream to its request; what the server sends of its own to the
        listener of the request whose progress it reports, else `aside`, else the latest request's."""
        why = "its SSE stream ended"
        try:
            async for name, data in events:
                if name not in (None, "message") or not data.strip():
                    continue
                got = _object(data, self.server)
                waiting = self._waiting.pop(got.get("id"), None) if "method" not in got else None
                if waiting is not None:
                    if not waiting.answer.done():
                        waiting.answer.set_result(got)
                elif (listener := self._listener(got)) is not None:
                    await listener(got)
        except GatewayError as error:
            why = error.message
        finally:
            await response.aclose()
            for waiting in self._waiting.values():
                if not waiting.answer.done():
                    waiting.answer.set_exception(_broken(self.server, why))
            self._waiting.clear()

    def _listener(self, got: dict[str, Any]) -> OnMessage | None:
        params = got.get("params")
        token = params.get("progressToken") if isinstance(params, dict) else None
        listening = [w for w in self._waiting.values() if w.listener is not None]
        by_token = [w.listener for w in listening if token is not None and w.token == token]
        if by_token:
            return by_token[0]
        return self.aside or (listening[-1].listener if listening else None)

    async def _exchange(self, message: dict[str, Any], on_message: OnMessage | None) -> dict[str, Any] | None:
        if not self.alive():
            await self._connect()
        assert self._endpoint is not None
        request = "id" in message and "method" in message
        if request:
            params = message.get("params")
            meta = params.get("_meta") if isinstance(params, dict) else None
            token = meta.get("progressToken") if isinstance(meta, dict) else None
            waiting = self._waiting[message["id"]] = _Waiting(
                asyncio.get_running_loop().create_future(), on_message, token)
        try:
            response = await self.upstreams.open(self.server, "POST", self._endpoint,
                                                 own_headers(self.server, []), orjson.dumps(message), stream=False)
            await response.aclose()
            if response.status_code >= 400:
                raise _broken(self.server, f"answered HTTP {response.status_code}")
            if not request:
                return None
            async with asyncio.timeout(self.server.timeout):
                return await waiting.answer
        except TimeoutError:
            raise _broken(self.server, f"sent no answer in {self.server.timeout:g} s") from None
        finally:
            if request:
                self._waiting.pop(message["id"], None)

    async def send(self, message: dict[str, Any]) -> None:
        await self._exchange(message, None)

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)


@dataclass(slots=True)
class _Waiting:
    answer: asyncio.Future[dict[str, Any]]
    listener: OnMessage | None
    token: Any  # the request's progress token, by which the server's progress finds its listener


class AnyHttpClient:
    """A session on an HTTP server whose transport is found on first use: Streamable HTTP, or where
    the server refuses the handshake's POST with a 4xx, the legacy HTTP+SSE transport at the same
    URL, as the protocol's backwards compatibility has clients do."""

    def __init__(self, server: McpServer, version: str, upstreams: Upstreams) -> None:
        self.server = server
        self.version = version
        self.upstreams = upstreams
        self._client: UpstreamClient | None = None
        self._lock = asyncio.Lock()

    async def request(self, method: str, params: Any, on_message: OnMessage | None = None) -> dict[str, Any]:
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
        return await self._client.request(method, params, on_message)

    async def _connect(self) -> UpstreamClient:
        client: UpstreamClient = HttpClient(self.server, self.version, self.upstreams)
        try:
            await client.open()
        except _NotStreamable as refused:
            await client.close()
            client = SseClient(self.server, self.version, self.upstreams)
            try:
                await client.open()
            except _NotStreamable:
                raise refused from None  # neither: the first refusal says more (an authorization, say)
        return client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


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
