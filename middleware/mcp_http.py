"""Streamable HTTP pass-through: POST, GET and DELETE to the server, the answer streamed back.

`Mcp-Session-Id` is bound to the key on its way out (`SessionSeal.wrap`) and checked on its way
in: an id another key presents, or one the gateway never issued, is 404, which tells an MCP client
to start a new session. Every other MCP header (`MCP-Protocol-Version`, `Last-Event-ID`,
`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) travels both ways untouched. JSON and SSE answers are
forwarded chunk by chunk as the server writes them, read only where the allow-list or the ledger
needs it (`adapters/mcp/stream.py`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.http import Upstreams, chunks, client_headers, upstream_headers
from interlingua.adapters.mcp.sessions import SessionSeal
from interlingua.adapters.mcp.stream import Tap
from interlingua.middleware.mcp_exchange import SESSION, SSE_TYPE, Exchange


def session_gone() -> GatewayError:
    return GatewayError("not_found", "Session not found", code=str(jsonrpc.INVALID_REQUEST))


def target(url: str, rest: str, query: str) -> str:
    """The upstream URL: the server's own for its endpoint, else `rest` on the server's origin."""
    if rest:
        parts = urlsplit(url)
        url = f"{parts.scheme}://{parts.netloc}{rest}"
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


async def relay(exchange: Exchange, upstreams: Upstreams, seal: SessionSeal) -> None:
    server, owner = exchange.server, exchange.owner
    headers = upstream_headers(exchange.scope["headers"], server)
    presented = exchange.header(SESSION)
    if presented is not None:
        upstream_id = seal.unwrap(owner, server.name, presented)
        if upstream_id is None:
            raise session_gone()
        headers = [(k, upstream_id.encode() if k == SESSION else v) for k, v in headers]
    url = target(server.url, exchange.rest, exchange.query())
    body = exchange.raw if exchange.method == "POST" else None
    response = await upstreams.open(server, exchange.method, url, headers, body, stream=exchange.method == "GET")
    try:
        out = client_headers(response)
        session = response.headers.get("mcp-session-id")
        if session is not None:
            out = [(k, v) for k, v in out if k.lower() != SESSION]
            out.append((SESSION, seal.wrap(owner, server.name, session).encode()))
        tool_call = exchange.body is not None and exchange.body.tool is not None
        allowed = server.tools if exchange.wants("tools/list") else None
        tap = None
        if tool_call or allowed is not None:
            tap = Tap(response.headers.get("content-type", "").startswith(SSE_TYPE), allowed, tool_call)
        await exchange.start(response.status_code, out)
        async for chunk in chunks(response, server):
            if tap is not None:
                chunk = tap.feed(chunk)
            if chunk:
                await exchange.write(chunk)
        if tap is not None:
            await exchange.write(tap.close(), more=False)
            exchange.outcome(tap.outcome)
        else:
            await exchange.write(b"", more=False)
    finally:
        await response.aclose()
