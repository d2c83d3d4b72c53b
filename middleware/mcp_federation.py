"""Federation: `/v1/mcp` itself is one MCP server combining every server the caller's key may use.

The gateway is the JSON-RPC server here (`initialize`, `ping`, the lists, `tools/call`,
`prompts/get`, `resources/read`, notifications). Tools and prompts are listed as `NAME__tool`
(`separator` configurable), filtered by each server's allow-list; resources keep their URIs, and
the server that listed a URI is the one that reads it. A call goes to its server with the name it
has there. One client session holds one upstream session per server it has needed, opened on first
use (`adapters/mcp/client.py`), and closed with it (DELETE).

While a request runs, what the upstream sends meanwhile reaches the client on the answer's SSE
stream (opened on the first such message; the answer is plain JSON otherwise): progress as it
came (the progress token is the client's own), and the server's requests (sampling, elicitation)
under ids of the form `NAME:n`, so two servers' ids never collide; the client's response to one is
routed back to its server under the server's own id. The client's GET stream carries what a
Streamable HTTP server sends on its own stream (the gateway listens to it once the session is
open), what a legacy SSE server sends on its one stream that reports no call's progress, and what
any server sends while the client accepts no SSE; a stdio server's messages outside a request are
dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import orjson

from interlingua.adapters.dialects import sse
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.client import CLIENT_INFO, HttpClient, SseClient, StdioClient, UpstreamClient
from interlingua.adapters.mcp.http import Upstreams
from interlingua.adapters.mcp.servers import SSE, STDIO, McpServer
from interlingua.adapters.mcp.stdio import StdioSessions
from interlingua.middleware.mcp_exchange import SESSION, Exchange
from interlingua.middleware.mcp_http import session_gone
from interlingua.middleware.state import Principal

log = logging.getLogger("interlingua.mcp")

FEDERATED = McpServer("", "federation")  # the gateway's own server, for the exchange's helpers
SEPARATOR = "__"
# List method: (the result's array, the field that carries a name to prefix, or None).
LISTS = {"tools/list": ("tools", "name"), "prompts/list": ("prompts", "name"),
         "resources/list": ("resources", None), "resources/templates/list": ("resourceTemplates", None)}
NAMED = ("tools/call", "prompts/get")
BY_URI = ("resources/read", "resources/subscribe", "resources/unsubscribe")
IDLE = 3600.0  # seconds after which a session nobody uses ends (checked when another one starts)
MAX_PAGES = 20  # pages of one server's list followed through `nextCursor`


@dataclass(slots=True, eq=False)
class Federated:
    """One client session on `/v1/mcp`."""

    id: str
    owner: str
    version: str
    principal: Principal
    clients: dict[str, UpstreamClient] = field(default_factory=dict)
    forwarded: dict[str, tuple[str, Any]] = field(default_factory=dict)  # client-side id: (server, its id)
    resources: dict[str, str] = field(default_factory=dict)  # uri: the server that listed it
    listener: asyncio.Queue[bytes | None] | None = None
    ids: count[int] = field(default_factory=count)
    last_used: float = field(default_factory=time.monotonic)


class Federation:
    def __init__(self, servers: Mapping[str, McpServer], upstreams: Upstreams, stdio: StdioSessions,
                 separator: str = SEPARATOR) -> None:
        self.servers = servers
        self.upstreams = upstreams
        self.stdio = stdio
        self.separator = separator
        self.sessions: dict[str, Federated] = {}

    def usable(self, principal: Principal) -> list[McpServer]:
        return [s for s in self.servers.values() if principal.allows_server(s.name)]

    async def serve(self, exchange: Exchange, principal: Principal) -> None:
        body = exchange.body
        if exchange.opens_session():
            assert body is not None
            await self.initialize(exchange, principal, body.messages[0])
            return
        session = self.sessions.get(exchange.header(SESSION) or "")
        if session is None or session.owner != exchange.owner:
            raise session_gone()
        session.last_used = time.monotonic()
        headers = [(SESSION, session.id.encode())]
        if exchange.method == "DELETE":
            self.sessions.pop(session.id, None)
            await asyncio.gather(*(c.close() for c in session.clients.values()))
            await exchange.answer(200, b"", headers)
        elif exchange.method == "GET":
            await exchange.listen(session, headers, lambda event: event)
        elif body is not None:
            if body.batch:
                raise GatewayError("invalid_request", "Invalid Request: the federated server takes no batches",
                                   code=str(jsonrpc.INVALID_REQUEST))
            message = body.messages[0]
            if message.is_request:
                await self.answer(exchange, session, message, headers)
            else:
                if message.method is None:
                    await self.respond(session, message)
                await exchange.answer(202, b"", headers)

    async def initialize(self, exchange: Exchange, principal: Principal, message: jsonrpc.Message) -> None:
        params = message.raw.get("params")
        asked = params.get("protocolVersion") if isinstance(params, dict) else None
        version = asked if asked in jsonrpc.HANDSHAKE_VERSIONS else jsonrpc.HANDSHAKE_VERSIONS[-1]
        await self.expire()
        session = Federated(secrets.token_urlsafe(24), exchange.owner, str(version), principal)
        self.sessions[session.id] = session
        result: dict[str, Any] = {"protocolVersion": version, "serverInfo": CLIENT_INFO,
                  "capabilities": {"tools": {}, "prompts": {}, "resources": {}},
                  "instructions": "Every MCP server this key may use, as one: names are SERVER"
                                  f"{self.separator}name."}
        await exchange.answer(200, orjson.dumps({"jsonrpc": "2.0", "id": message.id, "result": result}),
                              [(SESSION, session.id.encode())])

    async def expire(self) -> None:
        """End the sessions that no client has used for `IDLE` seconds (a client that never sent DELETE)."""
        now = time.monotonic()
        stale = [s for s in self.sessions.values() if now - s.last_used > IDLE and s.listener is None]
        for session in stale:
            self.sessions.pop(session.id, None)
        await asyncio.gather(*(c.close() for s in stale for c in s.clients.values()))

    async def respond(self, session: Federated, message: jsonrpc.Message) -> None:
        """The client's answer to a server's request, back to that server under its own id."""
        origin = session.forwarded.pop(str(message.id), None)
        if origin is None:
            return
        name, ident = origin
        client = session.clients.get(name)
        if client is not None:
            await client.send({**message.raw, "id": ident})

    async def answer(self, exchange: Exchange, session: Federated, message: jsonrpc.Message,
                     headers: list[tuple[bytes, bytes]]) -> None:
        stream = exchange.accepts_sse

        async def relay(name: str, sent: dict[str, Any]) -> None:
            event = self.outbound(session, name, sent)
            if stream:
                if not exchange.started:
                    await exchange.open_stream(headers)
                await exchange.write(event)
            elif session.listener is not None:
                session.listener.put_nowait(event)

        response = await self.dispatch(exchange, session, message, relay)
        payload = orjson.dumps({**response, "id": message.id})
        if exchange.started:
            await exchange.write(sse.frame(payload, "message"), more=False)
        else:
            await exchange.answer(200, payload, headers)

    def outbound(self, session: Federated, name: str, sent: dict[str, Any]) -> bytes:
        """A server's message as an SSE event for the client; a request under an id of its own."""
        if "method" in sent and "id" in sent:
            client_id = f"{name}:{next(session.ids)}"
            session.forwarded[client_id] = (name, sent["id"])
            sent = {**sent, "id": client_id}
        return sse.frame(orjson.dumps(sent), "message")

    async def dispatch(self, exchange: Exchange, session: Federated, message: jsonrpc.Message,
                       relay: Any) -> dict[str, Any]:
        method = message.method or ""
        params = message.raw.get("params")
        params = params if isinstance(params, dict) else {}
        if method == "ping":
            return {"jsonrpc": "2.0", "result": {}}
        if method in LISTS:
            return {"jsonrpc": "2.0", "result": {LISTS[method][0]: await self.gather(session, method)}}
        if method in NAMED:
            name, _, inner = str(params.get("name", "")).partition(self.separator)
            server = self.servers.get(name)
            if server is None or not inner or server not in self.usable(session.principal):
                return _error(jsonrpc.INVALID_PARAMS, f"no {method.split('/')[0][:-1]} {params.get('name')!r}")
            if method == "tools/call":
                exchange.meter(server, inner)
                if not server.allows_tool(inner):
                    exchange.outcome(jsonrpc.INVALID_PARAMS)
                    return _error(jsonrpc.INVALID_PARAMS, f"tool {inner!r} is not available on MCP server {name!r}")
            answer = await self.ask(session, server, method, {**params, "name": inner}, relay)
            if method == "tools/call":
                exchange.outcome(jsonrpc.outcome(orjson.dumps(answer)))
            return answer
        if method in BY_URI:
            owner = session.resources.get(str(params.get("uri")))
            if owner is None:
                return _error(jsonrpc.INVALID_PARAMS, f"unknown resource {params.get('uri')!r}; list resources first")
            return await self.ask(session, self.servers[owner], method, params, relay)
        return _error(jsonrpc.METHOD_NOT_FOUND, f"Method not found: {method}")

    async def ask(self, session: Federated, server: McpServer, method: str, params: Any,
                  relay: Any) -> dict[str, Any]:
        async def on_message(sent: dict[str, Any]) -> None:
            await relay(server.name, sent)

        try:
            return await self.client(session, server).request(method, params, on_message)
        except GatewayError as error:
            return _error(jsonrpc.INTERNAL_ERROR, error.message)

    def client(self, session: Federated, server: McpServer) -> UpstreamClient:
        client = session.clients.get(server.name)
        if client is None:
            async def aside(sent: dict[str, Any]) -> None:  # on the session's GET stream, if open
                if session.listener is not None:
                    session.listener.put_nowait(self.outbound(session, server.name, sent))

            client = session.clients[server.name] = (
                StdioClient(server, session.version, self.stdio, session.owner) if server.transport == STDIO
                else SseClient(server, session.version, self.upstreams, aside) if server.transport == SSE
                else HttpClient(server, session.version, self.upstreams, aside))
        return client

    async def gather(self, session: Federated, method: str) -> list[Any]:
        """One list from every usable server, names prefixed; a server that fails is left out."""
        field_name, named = LISTS[method]
        servers = self.usable(session.principal)
        pages = await asyncio.gather(*(self.pages(session, s, method, field_name) for s in servers))
        out: list[Any] = []
        for server, items in zip(servers, pages, strict=True):
            for item in items:
                if not isinstance(item, dict):
                    continue
                if method == "tools/list" and not server.allows_tool(str(item.get("name"))):
                    continue
                if named is not None:
                    item = {**item, named: f"{server.name}{self.separator}{item.get(named)}"}
                if method == "resources/list" and isinstance(item.get("uri"), str):
                    session.resources[item["uri"]] = server.name
                out.append(item)
        return out

    async def pages(self, session: Federated, server: McpServer, method: str, field_name: str) -> list[Any]:
        items: list[Any] = []
        cursor: Any = None
        try:
            for _ in range(MAX_PAGES):
                answer = await self.client(session, server).request(method, {"cursor": cursor} if cursor else None)
                result = answer.get("result")
                if not isinstance(result, dict):
                    break
                found = result.get(field_name)
                items.extend(found if isinstance(found, list) else [])
                cursor = result.get("nextCursor")
                if not cursor:
                    break
        except GatewayError as error:
            log.warning("MCP federation: %s left out of %s: %s", server.name, method, error.message)
        return items

    async def aclose(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(c.close() for s in sessions for c in s.clients.values()))


def _error(code: int, message: str) -> dict[str, Any]:
    return jsonrpc.error(None, code, message)
