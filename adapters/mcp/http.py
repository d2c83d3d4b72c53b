"""Streamable HTTP and legacy SSE upstreams: one pooled httpx client per server, bytes streamed.

Requests carry the client's headers less the gateway's own credential, hop-by-hop headers and
what the gateway sets itself; the server's credentials (`headers` in its config) are added here
and never reach the client. Answers come back as an open `httpx.Response` to be read chunk by
chunk, never whole, and closed by the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import httpx

from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp.servers import McpServer
from interlingua.adapters.providers.base import chunks as upstream_chunks
from interlingua.adapters.providers.base import transport_error
from interlingua.adapters.providers.transport import AiohttpTransport

# Never forwarded upstream: the gateway's credential, hop-by-hop headers, what httpx sets for the
# upstream, and the browser's origin and cookies, which belong to the gateway.
_DROP_REQUEST = frozenset({b"authorization", b"x-api-key", b"x-goog-api-key", b"cookie", b"host",
                           b"content-length", b"connection", b"keep-alive", b"transfer-encoding", b"te",
                           b"upgrade", b"proxy-authorization", b"proxy-connection", b"accept-encoding",
                           b"origin", b"referer"})
# Never forwarded to the client: hop-by-hop, a length the gateway may change (a filtered tool list),
# and the upstream's cookies.
_DROP_RESPONSE = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "set-cookie",
                            "proxy-authenticate", "upgrade", "trailer"})
CONNECT_TIMEOUT = 10.0
URLS_KEPT = 256


def upstream_headers(client: Iterable[tuple[bytes, bytes]], server: McpServer) -> list[tuple[bytes, bytes]]:
    configured = {k.lower().encode() for k in server.headers}
    headers = [(k, v) for k, v in client if k not in _DROP_REQUEST and k not in configured]
    headers.extend((k.encode(), v.encode()) for k, v in server.headers.items())
    headers.append((b"accept-encoding", b"identity"))  # the gateway may read the answer (allow-list, ledger)
    return headers


def own_headers(server: McpServer, extra: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """The headers of a request the gateway itself makes (federation): JSON-RPC in, JSON or SSE out."""
    return upstream_headers([(b"content-type", b"application/json"),
                             (b"accept", b"application/json, text/event-stream"),
                             *((k.encode(), v.encode()) for k, v in extra)], server)


def client_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in _DROP_RESPONSE]


class Upstreams:
    """One aiohttp-backed pool per server, made on first use; requests go straight to the transport
    (as providers' do, `adapters/providers/transport.py`): `AsyncClient.send` would add URL merging,
    hooks and a shared cookie jar to every message. No connection cap: each open stream holds one."""

    def __init__(self) -> None:
        self._pools: dict[str, AiohttpTransport] = {}
        self._urls: dict[str, httpx.URL] = {}  # parsed once: parsing is a tenth of a request's cost

    async def open(self, server: McpServer, method: str, url: str, headers: list[tuple[bytes, bytes]],
                   body: bytes | None, stream: bool) -> httpx.Response:
        """Send a request and return the response with its body unread. `stream`: a long-lived
        server-to-client stream, which may stay silent for any time (no read timeout)."""
        pool = self._pools.get(server.name)
        if pool is None:
            pool = self._pools[server.name] = AiohttpTransport(max_connections=0)
        timeout = {"connect": CONNECT_TIMEOUT, "read": None if stream else server.timeout}
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) < URLS_KEPT:  # a client's query or path below the server's may vary
                self._urls[url] = parsed
        request = httpx.Request(method, parsed, headers=headers, content=body, extensions={"timeout": timeout})
        try:
            return await pool.handle_async_request(request)
        except httpx.HTTPError as exc:
            raise _failure(exc, server) from None

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def _failure(exc: httpx.HTTPError, server: McpServer) -> GatewayError:
    return transport_error(exc, f"MCP server {server.name}")


def chunks(response: httpx.Response, server: McpServer) -> AsyncIterator[bytes]:
    """The answer's bytes as they arrive; a broken upstream ends the iteration with a GatewayError."""
    return upstream_chunks(response, f"MCP server {server.name}")
