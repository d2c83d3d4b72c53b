"""The provider interface: an upstream, its connection pool, and how one call to it is answered.

A provider renders the IR with its upstream's codec, sends it, and hands back a `Reply`. When the
client speaks the upstream's own dialect the reply is `native`: the upstream's bytes, to be passed
through. Otherwise it is IR: a result object or a stream of IR events. Failures before the first
byte raise `GatewayError`, with `retryable` set where a fallback target may be tried.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx

from adapters import ir
from adapters.dialects.base import Codec, StreamDecoder
from adapters.providers.transport import AiohttpTransport


@dataclass(slots=True)
class Reply:
    native: bool
    body: bytes | None = None
    chunks: AsyncIterator[bytes] | None = None
    result: Any = None
    events: AsyncIterator[ir.StreamEvent] | None = None
    close: Callable[[], Awaitable[None]] | None = None


@dataclass(slots=True, frozen=True)
class Target:
    provider: "Provider"
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"


def transport_error(exc: httpx.HTTPError, name: str) -> ir.GatewayError:
    """A network failure as the status a client should see; the upstream URL and key stay out."""
    if isinstance(exc, httpx.ConnectError):
        return ir.GatewayError("unavailable", f"upstream {name} refused the connection", retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return ir.GatewayError("timeout", f"upstream {name} timed out", retryable=True)
    return ir.GatewayError("upstream", f"upstream {name} closed the connection: {type(exc).__name__}",
                           retryable=True)


class Provider(ABC):
    """An upstream of one kind, with one pooled HTTP client."""

    kind: str
    codec: Codec

    def __init__(
        self,
        name: str,
        url: str,
        key: str | None = None,
        models: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.key = key
        self.url = url.rstrip("/")
        self.models = models
        self.transport = AiohttpTransport()
        self.headers = [*self.auth_headers(key).items(), *(headers or {}).items(),
                        ("content-type", "application/json"), ("accept-encoding", "gzip, deflate")]
        self.timeout = {"connect": connect_timeout, "read": timeout, "write": timeout, "pool": connect_timeout}
        self._urls: dict[str, httpx.URL] = {}

    @abstractmethod
    def auth_headers(self, key: str | None) -> dict[str, str]: ...

    @abstractmethod
    async def chat(self, request: ir.ChatRequest, model: str) -> Reply: ...

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def open(self, path: str, body: bytes) -> httpx.Response:
        """POST `body` and return the response once its status is known to be a success.

        The request goes straight to the transport: `AsyncClient.send` would add URL merging, auth
        and redirect hooks and a cookie jar, a third of the gateway's time per request, and a
        cookie jar shared by every client of the gateway is a leak, not a feature.
        """
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.url + path)
        request = httpx.Request("POST", url, headers=self.headers, content=body,
                                extensions={"timeout": self.timeout})
        try:
            response = await self.transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name) from None
        if response.status_code >= 400:
            try:
                raw = await self.read(response)
            except ir.GatewayError:
                raw = b""
            error = self.codec.decode_error(response.status_code, raw)
            if self.key and self.key in error.message:  # some upstreams quote the key they refused
                error.message = error.message.replace(self.key, "***")
            error.retry_after = _retry_after(response.headers.get("retry-after"))
            raise error
        return response

    def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        return _chunks(response, self.name)

    def events(self, response: httpx.Response, decoder: StreamDecoder) -> AsyncIterator[ir.StreamEvent]:
        return _events(self.chunks(response), decoder)

    async def read(self, response: httpx.Response) -> bytes:
        try:
            return b"".join([chunk async for chunk in response.aiter_raw()])
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name) from None
        finally:
            await response.aclose()


async def _chunks(response: httpx.Response, name: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        raise transport_error(exc, name) from None


async def _events(chunks: AsyncIterator[bytes], decoder: StreamDecoder) -> AsyncIterator[ir.StreamEvent]:
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
