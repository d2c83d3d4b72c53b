"""An httpx transport over aiohttp's connection pool.

httpx stays the client API, but its default transport (httpcore) costs most of a pass-through
proxy's time: it checks every pooled connection on every request. aiohttp's pool serves about five
times more requests per second on one core (measured with a minimal pass-through proxy at 32
connections: 425 a second through httpx's default pool, 2,185 through aiohttp's; the benchmark in
scripts/ measures it again). `httpx-aiohttp` does the same job but reports a server disconnect as
a connect timeout, which would make a fallback resend a request the upstream already received;
this one maps each failure to the httpx error that says what happened.

The gateway's own calls skip even `httpx.Request` (`send`): building one normalises every header
and costs about 12 µs, 4% of a small request's whole time in the gateway; answers are still
`httpx.Response`s and failures httpx's errors. A URL the caller will use again (a provider's
paths, not a search's query or an MCP session's) is parsed once (`yarl`, as aiohttp would each
time) and kept, up to `URLS_KEPT` of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

import aiohttp
import httpx
from yarl import URL

_DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding"})
MAX_ANSWER_BYTES = 256 * 2**20  # of a whole answer: images in base64, thousands of embeddings, and no more
URLS_KEPT = 256  # a path may hold a client's model name: keep only so many


_READ_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)  # a socket timeout is one too


def _read_error(exc: Exception) -> httpx.HTTPError:
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(str(exc) or "upstream read timed out")
    return httpx.RemoteProtocolError(str(exc) or "upstream closed the connection")


class _Body(httpx.AsyncByteStream):
    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _READ_ERRORS as exc:
            raise _read_error(exc) from exc

    async def read(self, limit: int) -> bytes:
        """The whole body, decompressed, as aiohttp holds it once read (one piece for most answers)."""
        content = self._response.content
        pieces: list[bytes] = []
        size = 0
        try:
            while piece := await content.read(limit + 1 - size):
                pieces.append(piece)
                size += len(piece)
                if size > limit:
                    raise AnswerTooLarge(limit)
        except _READ_ERRORS as exc:
            raise _read_error(exc) from exc
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def aclose(self) -> None:
        # An unfinished body means the client went away: close the socket so the upstream sees it.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AnswerTooLarge(Exception):
    """An answer past `read_body`'s limit, counted as it is decompressed: gzip can make a body of
    kilobytes one of gigabytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit / 2**20:g} MB")


async def read_body(response: httpx.Response, limit: int | None = None) -> bytes:
    """An answer's whole body, at most `limit` bytes of it (`MAX_ANSWER_BYTES`): from aiohttp's
    buffer when it came through this transport (httpx's chunk iteration costs more than the
    reading of a small answer), else chunk by chunk."""
    limit = MAX_ANSWER_BYTES if limit is None else limit
    stream = response.stream
    if isinstance(stream, _Body):
        return await stream.read(limit)
    pieces: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        pieces.append(chunk)
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(limit)
    return b"".join(pieces)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (one connection pool) per transport, made on first use."""

    def __init__(self, *, max_connections: int = 512, keepalive: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # one pool serves every client: an upstream's cookies are nobody's
            auto_decompress=True,
            skip_auto_headers=("User-Agent", "Content-Type"),
            trust_env=False,
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = request.stream  # type: ignore[assignment]  # httpx types a request's stream as sync or async; the gateway's are async
        return await self.send(request.method, str(request.url), request.headers.multi_items(), content,
                               request.extensions.get("timeout") or {}, request)

    async def send(self, method: str, url: str, headers: Sequence[tuple[str, str]],
                   content: bytes | AsyncIterable[bytes], timeout: dict[str, float],
                   request: httpx.Request | None = None, keep_url: bool = False) -> httpx.Response:
        """`content` to `url`; `timeout` has httpx's keys (`connect`, `read`); `keep_url` when the
        same URL will come again."""
        session = self._session or self._open()
        target = self._urls.get(url)
        if target is None:
            target = URL(url)
            if keep_url and len(self._urls) < URLS_KEPT:
                self._urls[url] = target
        try:
            response = await session.request(
                method,
                target,
                headers=headers,
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
        kept = [(k, v) for k, v in response.raw_headers if k.lower().decode() not in _DROPPED]
        return httpx.Response(
            response.status,
            headers=kept,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
