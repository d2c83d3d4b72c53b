"""The MCP layer: `/v1/mcp` and `/v1/mcp/{id}[/...]` passed through to the configured MCP servers.

It sits inside auth and metering, so the gateway's key authenticates (and is never forwarded), a
key's `mcp` patterns choose the servers it may use (403 otherwise; an unknown id is 404), and each
`tools/call` becomes a ledger row: this layer switches the request's operation to
`MCP_TOOL_CALL` once the body says so, and sets the server and tool for metering to record; other
messages are counted in `counts` (server, method), not itemised. Any other operation passes on,
so the layer can be mounted alone in front of anything.

A POST body is read whole (JSON-RPC bodies are small) and peeked at (`adapters/mcp/jsonrpc.py`):
a body that is not JSON-RPC is refused with -32700 or -32600, and with a tool allow-list a
`tools/call` for another tool with -32602, all without reaching the server. Answers stream through
as they arrive; the transport decides how (`mcp_http`, `mcp_sse`, `mcp_stdio`). `/v1/mcp` lists
the key's servers to a plain GET and is otherwise the federated server (`mcp_federation`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import operations as ops
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.http import Upstreams
from interlingua.adapters.mcp.servers import SSE, STDIO, McpServer
from interlingua.adapters.mcp.sessions import SessionSeal
from interlingua.adapters.mcp.stdio import StdioSessions
from interlingua.middleware.disconnect import watched
from interlingua.middleware.mcp_exchange import SSE_TYPE, Exchange
from interlingua.middleware.mcp_federation import FEDERATED, SEPARATOR, Federation
from interlingua.middleware.mcp_http import relay
from interlingua.middleware.mcp_sse import LegacySessions
from interlingua.middleware.mcp_stdio import bridge
from interlingua.middleware.normalise import read_body
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import OPEN, OPERATION, PARAMS, PRINCIPAL, Principal, state_of

MAX_BODY_BYTES = 4 * 1024 * 1024


class McpMiddleware:
    """`servers` by name; `secret` binds session ids to keys (`adapters/mcp/sessions.py`)."""

    def __init__(self, app: Any, servers: Mapping[str, McpServer], secret: bytes,
                 max_body_bytes: int = MAX_BODY_BYTES, separator: str = SEPARATOR) -> None:
        self.app = app
        self.servers = dict(servers)
        self.seal = SessionSeal(secret)
        self.max_body_bytes = max_body_bytes
        self.upstreams = Upstreams()
        self.stdio = StdioSessions()
        self.legacy = LegacySessions()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.federation = Federation(self.servers, self.upstreams, self.stdio, separator)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope) if scope["type"] == "http" else {}
        operation = state.get(OPERATION)
        if operation not in ops.MCP:
            await self.app(scope, receive, send)
            return
        principal = state.get(PRINCIPAL) or OPEN
        try:
            if operation is ops.MCP_INDEX and scope["method"] == "GET" and SSE_TYPE not in _accept(scope):
                await self.index(scope, send, principal)
                return
            exchange = await self.exchange(scope, receive, send, state, principal)
        except GatewayError as error:
            await send_error(scope, send, error)
            return
        if exchange is not None:
            await watched(state, receive, lambda _: self.serve(exchange, principal))

    async def index(self, scope: dict[str, Any], send: Any, principal: Any) -> None:
        """`GET /v1/mcp` (not asking for SSE): the servers this key may use."""
        root = scope.get("root_path", "")
        data = [{"id": s.name, "transport": s.transport, "url": f"{root}/v1/mcp/{s.name}",
                 **({"tools": list(s.tools)} if s.tools is not None else {})}
                for s in self.servers.values() if principal.allows_server(s.name)]
        payload = orjson.dumps({"object": "list", "data": data})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})

    async def exchange(self, scope: dict[str, Any], receive: Any, send: Any, state: dict[str, Any],
                       principal: Principal) -> Exchange | None:
        """The checked request, or None when it was answered here (refused tool) or the client left."""
        server = FEDERATED
        if state[OPERATION] is ops.MCP_MESSAGE:
            name = state[PARAMS]["server"]
            found = self.servers.get(name)
            if found is None:
                raise GatewayError("not_found", f"no MCP server {name!r}", code=str(jsonrpc.INVALID_REQUEST))
            if not principal.allows_server(name):
                raise GatewayError("permission", f"this key may not use MCP server {name!r}",
                                   code=str(jsonrpc.INVALID_REQUEST))
            server = found
        exchange = Exchange(scope, receive, send, state, server, principal.name)
        if exchange.method not in ("POST", "GET", "DELETE"):
            raise GatewayError("invalid_request", f"{exchange.method} is not an MCP method; use POST, GET or "
                               "DELETE", status=405)
        # Read even an empty body, so that the next `receive()` is the client's disconnect.
        chunks: list[bytes] = []
        if not await read_body(receive, self.max_body_bytes, chunks.append):
            return None
        if exchange.method == "POST":
            exchange.raw = b"".join(chunks)
            exchange.body = jsonrpc.parse(exchange.raw)
            if await self.refuse(exchange, exchange.body):
                return None
        return exchange

    async def refuse(self, exchange: Exchange, body: jsonrpc.Body) -> bool:
        """Meter the body; answer here a `tools/call` outside the allow-list (True)."""
        server = exchange.server
        for message in body.messages:
            if message.method is not None:
                self.counts[(server.name, message.method)] += 1
        tool = body.tool
        if tool is None or server is FEDERATED:  # federation checks its tools itself
            return False
        exchange.meter(server, tool)
        denied = next((m.tool for m in body.messages if m.tool is not None and not server.allows_tool(m.tool)),
                      None)
        if denied is None:
            return False
        why = f"tool {denied!r} is not available on MCP server {server.name!r}"
        exchange.fail(GatewayError("permission", why))
        payload = jsonrpc.errors(body.requests, jsonrpc.INVALID_PARAMS, why, body.batch)
        if server.transport == SSE:  # a legacy client reads every answer from its event stream
            await self.legacy.inject(exchange, payload)
            await exchange.answer(202, b"")
        else:
            await exchange.answer(200, payload)
        return True

    async def serve(self, exchange: Exchange, principal: Principal) -> None:
        try:
            if exchange.server is FEDERATED:
                await self.federation.serve(exchange, principal)
            elif exchange.server.transport == STDIO:
                await bridge(exchange, self.stdio)
            elif exchange.server.transport == SSE:
                await self.legacy.relay(exchange, self.upstreams)
            else:
                await relay(exchange, self.upstreams, self.seal)
        except GatewayError as error:
            if exchange.started:
                exchange.fail(error)
                await exchange.write(b"", more=False)
            else:
                await send_error(exchange.scope, exchange.send, error)

    async def aclose(self) -> None:
        """At shutdown: stop every stdio process, close the upstream connections."""
        await self.federation.aclose()
        await self.stdio.aclose()
        await self.upstreams.aclose()


def _accept(scope: dict[str, Any]) -> str:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), "")
