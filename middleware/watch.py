"""The Response a Responses answer ends with, watched on its way out, for the layers that keep it
(`responses_state`, `conversations`).

Not a layer itself: a `send` wrapper. Streamed, only the terminal event is parsed; whole, the body
once. The keeper is awaited before the message that carries the Response goes on, so a client that
holds its answer finds it kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from interlingua.adapters.dialects import sse
from interlingua.adapters.dialects.openai_responses_stream import final_response

Keeper = Callable[[dict[str, Any]], Awaitable[None]]


def is_response(value: Any) -> bool:
    """Whether `value` is a Response worth keeping; what a broken upstream passed on as one is
    only the client's to read."""
    return (isinstance(value, dict) and value.get("object") == "response" and isinstance(value.get("id"), str)
            and bool(value["id"]) and isinstance(value.get("output"), list))


class ResponseWatch:
    __slots__ = ("keep", "downstream", "status", "body", "splitter", "stream")

    def __init__(self, keep: Keeper, downstream: Any) -> None:
        self.keep = keep
        self.downstream = downstream
        self.status = 0
        self.body: list[bytes] = []
        self.splitter = sse.Splitter()
        self.stream = False

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.stream = any(k == b"content-type" and v.startswith(b"text/event-stream")
                              for k, v in message.get("headers", ()))
        elif kind == "http.response.body" and self.status == 200:
            response = self._response(message.get("body", b""), message.get("more_body", False))
            if is_response(response):
                await self.keep(response)
        await self.downstream(message)

    def _response(self, chunk: bytes, more: bool) -> Any:
        if self.stream:
            return final_response(self.splitter.feed(chunk))
        self.body.append(chunk)
        if more:
            return None
        try:
            return orjson.loads(b"".join(self.body))
        except orjson.JSONDecodeError:
            return None
