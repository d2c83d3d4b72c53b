"""Legacy HTTP+SSE servers (MCP 2024-11-05): the event stream's `endpoint` rewritten to the gateway.

The client opens `GET /v1/mcp/{id}`; the gateway opens the server's SSE stream and, in its
`endpoint` event, replaces the server's message URL with the same path under `/v1/mcp/{id}`, so
the client's POSTs come back through the gateway (and its keys, allow-list and ledger) to that
path on the server. The endpoint belongs to the key that opened the stream, for as long as the
stream is open: another key's POST to it is 404. Answers travel on the stream, so a refused
`tools/call` is answered there too, with the POST acknowledged 202 as the server would.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from interlingua.adapters.dialects import sse
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp.http import Upstreams, chunks, client_headers, upstream_headers
from interlingua.adapters.mcp.stream import Tap
from interlingua.middleware.mcp_exchange import Exchange
from interlingua.middleware.mcp_http import session_gone, target


@dataclass(slots=True, eq=False)
class _Stream:
    owner: str
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)  # injected events


class LegacySessions:
    """The open legacy streams, by (server, message path and query on the server)."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], _Stream] = {}

    def _find(self, exchange: Exchange) -> _Stream:
        query = exchange.query()
        stream = self.streams.get((exchange.server.name, exchange.rest + (f"?{query}" if query else "")))
        if stream is None or stream.owner != exchange.owner:
            raise session_gone()
        return stream

    async def inject(self, exchange: Exchange, payload: bytes) -> None:
        self._find(exchange).queue.put_nowait(sse.frame(payload, "message"))

    async def relay(self, exchange: Exchange, upstreams: Upstreams) -> None:
        if exchange.method == "GET" and not exchange.rest:
            await self._stream(exchange, upstreams)
            return
        if exchange.method != "POST" or not exchange.rest:
            raise GatewayError("invalid_request", "a legacy SSE server takes GET on its stream and POST on "
                               "the endpoint it names", status=405)
        self._find(exchange)
        server = exchange.server
        url = target(server.url, exchange.rest, exchange.query())
        response = await upstreams.open(server, "POST", url, upstream_headers(exchange.scope["headers"], server),
                                        exchange.raw, stream=False)
        try:
            await exchange.start(response.status_code, client_headers(response))
            async for chunk in chunks(response, server):
                await exchange.write(chunk)
            await exchange.write(b"", more=False)
        finally:
            await response.aclose()

    async def _stream(self, exchange: Exchange, upstreams: Upstreams) -> None:
        server = exchange.server
        url = target(server.url, "", exchange.query())
        response = await upstreams.open(server, "GET", url, upstream_headers(exchange.scope["headers"], server),
                                        None, stream=True)
        mine = _Stream(exchange.owner)
        key: tuple[str, str] | None = None

        async def pump() -> None:
            try:
                async for chunk in chunks(response, server):
                    mine.queue.put_nowait(chunk)
            except GatewayError as error:
                exchange.fail(error)
            finally:
                mine.queue.put_nowait(None)

        splitter = sse.Splitter()
        tap = Tap(True, server.tools, False) if server.tools is not None else None
        task = asyncio.create_task(pump())
        try:
            await exchange.start(response.status_code, client_headers(response))
            while (chunk := await mine.queue.get()) is not None:
                if chunk.startswith(b"event: message\n") and chunk.endswith(b"\n\n"):  # injected: whole
                    await exchange.write(chunk)
                    continue
                block = splitter.feed(chunk)
                if key is None and block:
                    block, key = self._endpoint(exchange, block)
                    if key is not None:
                        self.streams[key] = mine
                if tap is not None:
                    block = tap.feed(block)
                if block:
                    await exchange.write(block)
            await exchange.write(splitter.flush(), more=False)
        finally:
            if key is not None:
                self.streams.pop(key, None)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await response.aclose()

    def _endpoint(self, exchange: Exchange, block: bytes) -> tuple[bytes, tuple[str, str] | None]:
        """`block` with its `endpoint` event pointed at the gateway, and the session's key."""
        for name, data in sse.events(block):
            if name != "endpoint":
                continue
            server = exchange.server
            found = urlsplit(urljoin(server.url, data.decode()))
            origin = urlsplit(server.url)
            if (found.scheme, found.netloc) != (origin.scheme, origin.netloc):
                raise GatewayError("upstream", f"MCP server {server.name} named an endpoint on another origin")
            path = found.path + (f"?{found.query}" if found.query else "")
            rewritten = sse.frame(f"{exchange.base}{path}".encode(), "endpoint")
            head, _, tail = block.replace(b"\r\n", b"\n").partition(b"event: endpoint\n")
            tail = tail.split(b"\n\n", 1)[1] if b"\n\n" in tail else b""
            return head + rewritten + tail, (server.name, path)
        return block, None
