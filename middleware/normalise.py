"""Request normalisation: read the body under a size cap and parse it into the IR.

A body over the cap is refused with 413 as soon as it is known to be too big (from
Content-Length, or while reading), never after holding it whole. Malformed JSON and invalid
fields are 400s in the client's dialect that name the field.
"""

from __future__ import annotations

from typing import Any

import orjson

from adapters.ir import GatewayError
from middleware.respond import send_error
from middleware.state import DIALECT, OPERATION, PARAMS, REQUEST, state_of


def _too_large(cap: int) -> GatewayError:
    return GatewayError("too_large", f"request body is larger than the limit of {cap} bytes")


class NormalisationMiddleware:
    def __init__(self, app: Any, max_body_bytes: int = 32 * 1024 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = scope.get("state") or {}
        codec = state.get(DIALECT)
        if scope["type"] != "http" or codec is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        cap = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > cap:
                await send_error(scope, send, _too_large(cap))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await send_error(scope, send, _too_large(cap))
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            await send_error(scope, send, GatewayError("invalid_request", f"request body is not valid JSON: {exc}"))
            return
        try:
            state_of(scope)[REQUEST] = codec.decode_request(state[OPERATION], parsed, dict(scope["headers"]),
                                                            state.get(PARAMS) or {})
        except GatewayError as error:
            await send_error(scope, send, error)
            return
        await self.app(scope, receive, send)
