"""One MCP request on its way through the MCP layer: what every transport's handler needs.

It holds the request (the server, the key's name, the JSON-RPC body if any), sends the answer
(noting whether it has started, so a failure before the first byte becomes a whole JSON-RPC error
and one after it just ends the stream), and tells the ledger how a `tools/call` ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from interlingua.adapters import operations as ops
from interlingua.adapters.dialects.mcp import PREFIX
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.servers import McpServer
from interlingua.middleware.respond import JSON, stream_headers
from interlingua.middleware.state import FAILURE, OPERATION, PARAMS, TARGET

SESSION = b"mcp-session-id"
SSE_TYPE = "text/event-stream"
# A JSON-RPC error code's status for the ledger; anything else the server answered is its failure.
_STATUS_OF_CODE = {jsonrpc.PARSE_ERROR: 400, jsonrpc.INVALID_REQUEST: 400, jsonrpc.INVALID_PARAMS: 400,
                   jsonrpc.METHOD_NOT_FOUND: 404}


class Listened(Protocol):
    """A session with a server-to-client stream: the GET's queue while one is open."""

    listener: asyncio.Queue[bytes | None] | None


@dataclass(slots=True, eq=False)
class Exchange:
    scope: dict[str, Any]
    receive: Any
    send: Any
    state: dict[str, Any]
    server: McpServer
    owner: str  # the gateway key's name ("" when the gateway is open)
    body: jsonrpc.Body | None = None  # a POST's messages
    raw: bytes = b""  # a POST's bytes, forwarded as they came
    started: bool = False

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def rest(self) -> str:
        """The path below `/v1/mcp/{id}`, "" for the server's own endpoint."""
        return str(self.state[PARAMS].get("rest", ""))

    @property
    def base(self) -> str:
        """The gateway's own path of this server, as a client reaches it (behind any mount point)."""
        return f"{self.scope.get('root_path', '')}{PREFIX}/{self.server.name}"

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def query(self) -> str:
        """The query string to forward: without `key`, where a gateway key may ride."""
        raw: bytes = self.scope.get("query_string", b"")
        if b"key=" not in raw:
            return raw.decode("latin-1")
        return urlencode([(k, v) for k, v in parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if k != "key"])

    def opens_session(self) -> bool:
        """Whether this is the `initialize` that starts a session the gateway keeps (stdio,
        federation); False when it presents one. Any other request without a session is refused."""
        if self.header(SESSION) is not None:
            return False
        if self.body is None or self.body.method != "initialize":
            raise GatewayError("invalid_request", "Bad Request: no Mcp-Session-Id; start with initialize",
                               code=str(jsonrpc.INVALID_REQUEST))
        return True

    @property
    def accepts_sse(self) -> bool:
        return SSE_TYPE in (self.header(b"accept") or "")

    def wants(self, method: str) -> bool:
        """Whether the body holds a request for `method`."""
        return self.body is not None and any(m.method == method for m in self.body.requests)

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, chunk: bytes, more: bool = True) -> None:
        await self.send({"type": "http.response.body", "body": chunk, "more_body": more})

    async def answer(self, status: int, payload: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """A whole JSON answer."""
        await self.start(status, [JSON, (b"content-length", str(len(payload)).encode()), *(headers or [])])
        await self.write(payload, more=False)

    async def open_stream(self, headers: list[tuple[bytes, bytes]]) -> None:
        await self.start(200, [*stream_headers(SSE_TYPE), *headers])

    async def listen(self, owner: Listened, headers: list[tuple[bytes, bytes]],
                     frame: Callable[[bytes], bytes]) -> None:
        """A session's GET stream: whatever lands in its queue, framed by `frame`, until None."""
        if owner.listener is not None:
            raise GatewayError("invalid_request", "Conflict: this session's GET stream is already open", status=409)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        owner.listener = queue
        try:
            await self.open_stream(headers)
            while (item := await queue.get()) is not None:
                await self.write(frame(item))
            await self.write(b"", more=False)
        finally:
            if owner.listener is queue:
                owner.listener = None

    def meter(self, server: McpServer, tool: str) -> None:
        """Make this request a `tools/call` ledger row: the key, `server`, `tool`, status and time."""
        self.state[OPERATION] = ops.MCP_TOOL_CALL
        self.state[PARAMS] = {**self.state[PARAMS], "model": tool}
        self.state[TARGET] = server

    def outcome(self, code: int | None) -> None:
        """A `tools/call`'s JSON-RPC outcome (0: a result), for the ledger's status."""
        if code:
            status = _STATUS_OF_CODE.get(code, 502)
            self.state[FAILURE] = GatewayError("invalid_request" if status < 500 else "upstream",
                                               f"MCP error {code}", status=status, code=str(code))

    def fail(self, error: GatewayError) -> None:
        """A failure after the answer started: the ledger's status; the stream just ends."""
        self.state[FAILURE] = error
