"""Stream re-encoding: IR results, events and errors from the inner layers to the client's wire form.

Inner layers send `interlingua.*` messages (see `middleware.state`); this layer turns them into
`http.response.*` in the client's dialect: a body (JSON, or an image or text where the dialect
answers with the thing itself), or a stream in that dialect's framing with the in-stream error
form after the first byte. While an IR stream is open and the upstream is silent, it sends the
dialect's keep-alive ping every `ping_interval` seconds, so clients and proxies with idle timeouts
do not give up on a slow model. Plain `http.*` messages (a same-dialect pass-through) go by
untouched, but an error after them is still rendered in-stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from interlingua.adapters.dialects import tools
from interlingua.adapters.dialects.base import ClientDialect, StreamEncoder
from interlingua.middleware.respond import JSON, codec_of, error_messages, stream_headers
from interlingua.middleware.state import END, ERROR, EVENTS, REQUEST, RESULT, TARGET, state_of


class ReencodeMiddleware:
    def __init__(self, app: Any, ping_interval: float | None = 10.0) -> None:
        self.app = app
        self.ping_interval = ping_interval

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reencoder = _Reencoder(codec_of(scope), state_of(scope), send, self.ping_interval)
        try:
            await self.app(scope, receive, reencoder.send)
        finally:
            reencoder.stop_pinging()


class _Reencoder:
    """One response's encoding state."""

    __slots__ = ("codec", "state", "request", "downstream", "ping_interval", "started", "_encoder", "_last", "_pinger")

    def __init__(self, codec: ClientDialect[Any], state: dict[str, Any], downstream: Any,
                 ping_interval: float | None) -> None:
        self.codec = codec
        self.state = state
        self.request = state.get(REQUEST)
        self.downstream = downstream
        self.ping_interval = ping_interval
        self.started = False
        self._encoder: StreamEncoder | None = None
        self._last = 0.0
        self._pinger: asyncio.Task[None] | None = None

    @property
    def encoder(self) -> StreamEncoder:
        if self._encoder is None:
            self._encoder = self.codec.stream_encoder(self.request)
        return self._encoder

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == EVENTS:
            encode = self.encoder.encode
            chunk = b"".join([encode(event) for event in message["events"]])
            if not self.started:
                await self._open_stream()
            if chunk:
                await self._body(chunk, more=True)
        elif kind == END:
            if not self.started:
                await self._open_stream()
            self.stop_pinging()
            await self._body(self.encoder.end())
        elif kind == RESULT:
            self.started = True
            result = message["result"]
            body = self.codec.encode_result(result, self.request)
            media_type = self.codec.result_type(result, self.request)
            headers = [JSON] if media_type == "application/json" else [(b"content-type", media_type.encode())]
            headers += self._upstream()
            await self.downstream({"type": "http.response.start", "status": 200, "headers": headers})
            await self.downstream({"type": "http.response.body", "body": body})
        elif kind == ERROR:
            self.stop_pinging()
            if self.started:
                await self._body(self.encoder.error(message["error"]))
            else:
                self.started = True
                start, error_body = error_messages(self.codec, message["error"])
                await self.downstream(start)
                await self.downstream(error_body)
        else:
            if kind == "http.response.start":
                self.started = True
            await self.downstream(message)

    async def _open_stream(self) -> None:
        self.started = True
        headers = [*stream_headers(self.encoder.media_type), *self._upstream()]
        await self.downstream({"type": "http.response.start", "status": 200, "headers": headers})
        if self.ping_interval:
            self._last = asyncio.get_running_loop().time()
            self._pinger = asyncio.ensure_future(self._ping(self.ping_interval))

    def _upstream(self) -> list[tuple[bytes, bytes]]:
        """Which `provider/model` answered, as on pass-through answers; and which of the client's
        tools that upstream could not run and was not sent (`x-interlingua-omitted-tools`), of the
        request as it was asked (a tool the gateway ran itself is not the upstream's to run)."""
        target = self.state.get(TARGET)
        if target is None:
            return []
        codec = getattr(target.provider, "codec", None)  # a local provider has none, and no chat
        asked = self.state.get(REQUEST, self.request)
        omitted = tools.omitted_headers(asked, codec.name) if codec is not None else []
        return [(b"x-interlingua-upstream", target.label.encode()), *omitted]

    async def _body(self, chunk: bytes, more: bool = False) -> None:
        if self._pinger is not None:
            self._last = asyncio.get_running_loop().time()
        await self.downstream({"type": "http.response.body", "body": chunk, "more_body": more})

    async def _ping(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._last + interval - loop.time())
            if loop.time() - self._last >= interval:
                await self._body(self.encoder.ping(), more=True)

    def stop_pinging(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
