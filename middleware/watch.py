"""The Response a Responses answer ends with, watched on its way out, for the layers that keep the
conversation's state (`responses_state`, `conversations`); and `patiently`, how the layers that
keep answers read one that may not have landed yet.

Not a layer itself: a `send` wrapper. Streamed, only the terminal event is parsed; whole, the body
once. The keeper is awaited before the message that carries the Response goes on, so a client that
holds its answer finds it kept.

It also makes the answer say what the layer did with the state (`echo`: `store`,
`previous_response_id`, `conversation`). A Responses upstream is asked statelessly, so its own
bytes say `store: false` and name neither; the Response objects in them are corrected, and only
then re-encoded. An answer the gateway wrote itself already says so and passes as it is: a stream
is looked at up to its first Response (`response.created`), a whole answer is compared as parsed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeGuard

import orjson

from interlingua.adapters.dialects import sse
from interlingua.adapters.dialects.base import event_json
from interlingua.adapters.dialects.openai_responses_stream import TERMINAL, final_response, snapshot_data
from interlingua.adapters.ir import GatewayError

Keeper = Callable[[dict[str, Any]], Awaitable[None]]
_LATE_WRITE_WAITS = (0.005, 0.02, 0.05, 0.1, 0.25, 0.5)
# Events that carry a Response object.
_SNAPSHOTS = (b'"response.created"', b'"response.queued"', b'"response.in_progress"', b'"response.completed"',
              b'"response.incomplete"', b'"response.failed"')


async def patiently(read: Callable[[str | None, str], Awaitable[Any]], owner: str | None, found_id: str) -> Any:
    """`read(owner, found_id)`, waiting a little on a miss: the worker or replica that answered a
    turn keeps it a moment after its client may already hold the answer (and ask for it)."""
    for delay in _LATE_WRITE_WAITS:
        found = await read(owner, found_id)
        if found is not None:
            return found
        await asyncio.sleep(delay)
    return await read(owner, found_id)


def is_response(value: Any) -> TypeGuard[dict[str, Any]]:
    """Whether `value` is a Response worth keeping; what a broken upstream passed on as one is
    only the client's to read."""
    return (isinstance(value, dict) and value.get("object") == "response" and isinstance(value.get("id"), str)
            and bool(value["id"]) and isinstance(value.get("output"), list))


def _differs(response: dict[str, Any], echo: Mapping[str, Any]) -> bool:
    return any(response.get(name) != value for name, value in echo.items())


class ResponseWatch:
    __slots__ = ("keep", "downstream", "echo", "checking", "status", "start", "body", "splitter", "stream", "terminal")

    def __init__(self, keep: Keeper | None, downstream: Any, echo: Mapping[str, Any]) -> None:
        self.keep = keep
        self.downstream = downstream
        self.echo = echo
        self.checking = bool(echo)  # until the answer is seen to say it already
        self.status = 0
        self.start: dict[str, Any] | None = None  # a whole answer's start, held while its length may change
        self.body: list[bytes] = []
        self.splitter = sse.Splitter()
        self.stream = False
        self.terminal: dict[str, Any] | None = None  # the Response `_restated` parsed from a terminal event

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.stream = any(k == b"content-type" and v.startswith(b"text/event-stream")
                              for k, v in message.get("headers", ()))
            if self.status == 200 and not self.stream and self.checking:
                self.start = message
                return
        elif kind == "http.response.body" and self.status == 200:
            if self.stream:
                message = await self._streamed(message)
            else:
                await self._whole(message)
                return
        await self.downstream(message)

    async def _streamed(self, message: dict[str, Any]) -> dict[str, Any]:
        chunk = message.get("body", b"")
        block = self.splitter.feed(chunk)
        self.terminal = None
        if self.checking and block:
            restated = self._restated(block, chunk)
            if restated is not chunk:
                message = {**message, "body": restated}
        response = self.terminal if self.terminal is not None else final_response(block)  # parsed once
        if self.keep is not None and is_response(response):
            await self.keep({**response, **self.echo})
        return message

    def _restated(self, block: bytes, chunk: bytes) -> bytes:
        """`chunk` with the Response objects of its events corrected; the passthrough cuts a
        Responses upstream's stream at event boundaries, so each is whole in its chunk."""
        for kind, data in snapshot_data(block, _SNAPSHOTS):
            try:
                event = event_json(data)
            except GatewayError:  # the client reads it as it came, and the stream's end says the rest
                continue
            response = event.get("response")
            if not isinstance(response, dict):
                continue
            if not _differs(response, self.echo):
                self.checking = False  # the gateway's own stream: it says so throughout
                return chunk
            response.update(self.echo)
            chunk = chunk.replace(data, orjson.dumps(event))
            if kind in TERMINAL:
                self.terminal = response
        return chunk

    async def _whole(self, message: dict[str, Any]) -> None:
        self.body.append(message.get("body", b""))
        if message.get("more_body", False):
            if self.start is None:
                await self.downstream(message)
            return
        raw = b"".join(self.body)
        try:
            response = orjson.loads(raw)
        except orjson.JSONDecodeError:
            response = None
        if is_response(response):
            if self.start is not None and _differs(response, self.echo):
                response.update(self.echo)
                raw = orjson.dumps(response)
            if self.keep is not None:
                await self.keep(response)
        if self.start is not None:
            length = str(len(raw)).encode()
            headers = [(k, length if k == b"content-length" else v) for k, v in self.start.get("headers", ())]
            await self.downstream({**self.start, "headers": headers})
            message = {**message, "body": raw}
        await self.downstream(message)
