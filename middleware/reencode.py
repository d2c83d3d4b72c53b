"""Stream re-encoding: IR results, events and errors from the inner layers to the client's wire form.

Inner layers send `interlingua.*` messages (see `middleware.state`); this layer turns them into
`http.response.*` in the client's dialect: a JSON body, or a stream in that dialect's framing with
the in-stream error form after the first byte. Plain `http.*` messages (a same-dialect pass-through)
go by untouched, but an error after them is still rendered in-stream.
"""

from __future__ import annotations

from typing import Any

from adapters.dialects.base import StreamEncoder
from middleware.respond import JSON, SSE, codec_of, error_messages
from middleware.state import END, ERROR, EVENT, REQUEST, RESULT


class ReencodeMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        codec = codec_of(scope)
        request = (scope.get("state") or {}).get(REQUEST)
        encoder: StreamEncoder | None = None
        started = False

        def stream_encoder() -> StreamEncoder:
            nonlocal encoder
            if encoder is None:
                encoder = codec.stream_encoder(request)
            return encoder

        async def reencode_send(message: dict[str, Any]) -> None:
            nonlocal started
            kind = message["type"]
            if kind == EVENT:
                chunk = stream_encoder().encode(message["event"])
                if not started:
                    started = True
                    await send({"type": "http.response.start", "status": 200, "headers": SSE})
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            elif kind == END:
                if not started:
                    started = True
                    await send({"type": "http.response.start", "status": 200, "headers": SSE})
                await send({"type": "http.response.body", "body": stream_encoder().end()})
            elif kind == RESULT:
                started = True
                body = codec.encode_result(message["result"], request)
                await send({"type": "http.response.start", "status": 200, "headers": [JSON]})
                await send({"type": "http.response.body", "body": body})
            elif kind == ERROR:
                error = message["error"]
                if started:
                    await send({"type": "http.response.body", "body": stream_encoder().error(error)})
                else:
                    started = True
                    start, body = error_messages(codec, error)
                    await send(start)
                    await send(body)
            else:
                if kind == "http.response.start":
                    started = True
                await send(message)

        await self.app(scope, receive, reencode_send)
