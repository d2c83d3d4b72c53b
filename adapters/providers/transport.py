"""An httpx transport over aiohttp's connection pool.

httpx stays the client API, but its default transport (httpcore) costs most of a pass-through
proxy's time: it checks every pooled connection on every request. aiohttp's pool serves about five
times more requests per second on one core (measured with a minimal pass-through proxy at 32
connections: 425 a second through httpx's default pool, 2,185 through aiohttp's; the benchmark in
scripts/ measures it again). `httpx-aiohttp` does the same job but reports a server disconnect as
a connect timeout, which would make a fallback resend a request the upstream already received;
this one maps each failure to the httpx error that says what happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

_DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _Body(httpx.AsyncByteStream):
    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.SocketTimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "upstream read timed out") from exc
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            raise httpx.RemoteProtocolError(str(exc) or "upstream closed the connection") from exc

    async def aclose(self) -> None:
        # An unfinished body means the client went away: close the socket so the upstream sees it.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (one connection pool) per transport, made on first use."""

    def __init__(self, *, max_connections: int = 512, keepalive: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            skip_auto_headers=("User-Agent", "Content-Type"),
            trust_env=False,
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout") or {}
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = request.stream  # type: ignore[assignment]  # httpx types a request's stream as sync or async; the gateway's are async
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=content or None,
                allow_redirects=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "upstream read timed out", request=request) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            raise httpx.RemoteProtocolError(str(exc) or "upstream closed the connection", request=request) from exc
        headers = [(k, v) for k, v in response.raw_headers if k.lower().decode() not in _DROPPED]
        return httpx.Response(
            response.status,
            headers=headers,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
