"""The last resort: an exception no layer expected becomes a 500 in the client's dialect.

Every failure the gateway knows of is a `GatewayError`, rendered by the layer it happens in; this
layer catches the rest, so that a bug still answers like the gateway, not with the server's
plain-text 500. The exception is logged once, with its traceback, under a request id that the
client gets in the message and in `x-request-id`, and never the exception itself, which may hold
anything. An answer that has already started cannot become a 500: its body is ended instead, so
the client sees a cut answer rather than one that never ends.

It sits outermost, so that it guards the dialect layer too, and reads the client's codec from the
scope state that layer leaves behind (OpenAI's error shape when there is none).
"""

from __future__ import annotations

import contextlib
import logging
import random
from typing import Any

from interlingua.adapters.ir import GatewayError
from interlingua.middleware.respond import codec_of, error_messages
from interlingua.middleware.state import REQUEST_ID, state_of

logger = logging.getLogger("interlingua")
REQUEST_ID_HEADER = b"x-request-id"


def new_request_id() -> str:
    """A unique id: 96 random bits from the process's PRNG, which, unlike `secrets`, costs no
    system call (every request gets one); an id names a request, it guards nothing."""
    return f"req_{random.getrandbits(96):024x}"


class GuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = _Response(send)
        try:
            await self.app(scope, receive, response.send)
        except Exception:
            # The observing layer's id when it runs (it echoes the header itself), else a new one.
            request_id = state_of(scope).get(REQUEST_ID) or new_request_id()
            logger.exception("unexpected error answering %s %s, request id %s",
                             scope.get("method"), scope.get("path"), request_id)
            with contextlib.suppress(Exception):  # the client may be gone: there is no one left to tell
                await response.fail(scope, request_id)


class _Response:
    """Passes the answer on, noting how far it got."""

    __slots__ = ("downstream", "started", "ended")

    def __init__(self, downstream: Any) -> None:
        self.downstream = downstream
        self.started = False
        self.ended = False

    async def send(self, message: dict[str, Any]) -> None:
        await self.downstream(message)  # first: a start the server refused (a bad header) has not started
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
        elif kind == "http.response.body" and not message.get("more_body"):
            self.ended = True

    async def fail(self, scope: dict[str, Any], request_id: str) -> None:
        if self.ended:
            return
        if self.started:
            await self.downstream({"type": "http.response.body", "body": b"", "more_body": False})
            return
        error = GatewayError("internal", f"internal error in the gateway; request id {request_id}",
                             code="internal_error")
        start, body = error_messages(codec_of(scope), error)
        if REQUEST_ID not in state_of(scope):
            start = {**start, "headers": [*start["headers"], (REQUEST_ID_HEADER, request_id.encode())]}
        await self.downstream(start)
        await self.downstream(body)
