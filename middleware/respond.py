"""What every layer needs to answer HTTP: errors in the client's dialect, JSON and stream headers."""

from __future__ import annotations

import math
from typing import Any

import orjson

from interlingua.adapters.dialects import OPENAI_CHAT
from interlingua.adapters.dialects.base import ClientDialect
from interlingua.adapters.ir import GatewayError
from interlingua.middleware.state import DIALECT

JSON = (b"content-type", b"application/json")
_NO_BUFFERING = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


def stream_headers(media_type: str) -> list[tuple[bytes, bytes]]:
    """Headers of a streamed answer: SSE, or Gemini's streamed JSON array; never buffered by proxies."""
    return [(b"content-type", media_type.encode()), *_NO_BUFFERING]


def codec_of(scope: dict[str, Any]) -> ClientDialect[Any]:
    """The client's codec; OpenAI's error shape, the lingua franca, when no dialect layer ran."""
    state = scope.get("state")
    return (state and state.get(DIALECT)) or OPENAI_CHAT


def error_headers(error: GatewayError) -> list[tuple[bytes, bytes]]:
    headers = [JSON]
    if error.retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(error.retry_after))).encode()))  # never too soon
        headers.append((b"retry-after-ms", str(round(error.retry_after * 1000)).encode()))
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    return headers


def error_messages(codec: ClientDialect[Any], error: GatewayError) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages of an error response in `codec`'s dialect."""
    return ({"type": "http.response.start", "status": codec.status_of(error), "headers": error_headers(error)},
            {"type": "http.response.body", "body": codec.encode_error(error)})


async def send_json(send: Any, answer: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A 200 whose body is `answer` as JSON: what a layer answers by itself, from its store."""
    await send({"type": "http.response.start", "status": 200, "headers": headers or [JSON]})
    await send({"type": "http.response.body", "body": orjson.dumps(answer)})


async def send_error(scope: dict[str, Any], send: Any, error: GatewayError) -> None:
    start, body = error_messages(codec_of(scope), error)
    await send(start)
    await send(body)


def base_url(scope: dict[str, Any]) -> str:
    """Where the client reached the gateway (scheme, host, mount point), for the URLs it is given."""
    host = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), "localhost")
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
