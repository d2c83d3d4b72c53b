"""The fake upstream: a raw uvloop HTTP/1.1 server with prebuilt ``chat.completion`` answers and
50-chunk SSE streams (OpenAI Chat Completions), and a prebuilt Anthropic ``message`` answer on
``/v1/messages`` (for the agent turn), so that it costs next to nothing per request.

Runs in its own process: ``python -m scripts.bench.upstream PORT`` (from the repository root).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

import httptools
import orjson
import uvloop

from scripts.bench import CHAT_PATH, HOST, MESSAGES_PATH, MODEL

STREAM_CONTENT_CHUNKS = 50  # the role chunk, then 49 text tokens
CREATED = 1_700_000_000
COMPLETION_ID = "chatcmpl-bench0000000000000000000000"
FINGERPRINT = "fp_bench"
STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
               b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")


def _usage(completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": 12,
        "completion_tokens": completion_tokens,
        "total_tokens": 12 + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def completion_body(model: str) -> bytes:
    """A ``chat.completion`` object as the OpenAI API returns it."""
    message: dict[str, Any] = {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": None,
               "annotations": []}
    return orjson.dumps({
        "id": COMPLETION_ID, "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(9), "service_tier": "default", "system_fingerprint": FINGERPRINT,
    })


def message_body(model: str) -> bytes:
    """A non-streamed ``message`` object as Anthropic's Messages API returns it."""
    return orjson.dumps({
        "id": "msg_bench000000000000000000", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "Done: the handlers are refactored and the tests pass."}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 52000, "output_tokens": 14, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    })


def _chunk(model: str, choices: list[dict[str, Any]], include_usage: bool,
           usage: dict[str, Any] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": COMPLETION_ID, "object": "chat.completion.chunk", "created": CREATED,
                             "model": model, "service_tier": "default", "system_fingerprint": FINGERPRINT,
                             "choices": choices}
    if include_usage:
        chunk["usage"] = usage
    return chunk


def stream_events(model: str, include_usage: bool) -> list[bytes]:
    """The SSE events of a streamed completion: the role chunk (as OpenAI sends it), the text
    chunks, a finish chunk, a usage chunk if asked for, and ``[DONE]``."""
    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    chunks = [_chunk(model, [choice({"role": "assistant", "content": "", "refusal": None})], include_usage)]
    chunks += [_chunk(model, [choice({"content": f" tok{i}"})], include_usage)
               for i in range(1, STREAM_CONTENT_CHUNKS)]
    chunks.append(_chunk(model, [choice({}, "stop")], include_usage))
    if include_usage:
        chunks.append(_chunk(model, [], True, _usage(STREAM_CONTENT_CHUNKS - 1)))
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _http_response(status: str, content_type: str, body: bytes, keep_alive: bool) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
    if not keep_alive:
        head += "connection: close\r\n"
    return head.encode() + b"\r\n" + body


class UpstreamProtocol(asyncio.Protocol):
    """One client connection: HTTP/1.1 with keep-alive, llhttp parsing, answers built once."""

    _completion_cache: dict[tuple[str, bool], bytes] = {}
    _stream_cache: dict[tuple[str, bool], list[bytes]] = {}

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(_http_response("400 Bad Request", "text/plain", b"bad request", False))

    # llhttp callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep_alive = self.parser.should_keep_alive()
        path = self.url.split(b"?")[0]
        if self.parser.get_method() == b"POST" and path == MESSAGES_PATH.encode():
            key = ("messages", keep_alive)
            if key not in self._completion_cache:
                model = str(orjson.loads(b"".join(self.body)).get("model", MODEL))
                self._completion_cache[key] = _http_response("200 OK", "application/json", message_body(model),
                                                             keep_alive)
            self._send(self._completion_cache[key])
            return
        if self.parser.get_method() != b"POST" or path != CHAT_PATH.encode():
            error = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
            self._send(_http_response("404 Not Found", "application/json", error, keep_alive))
            return
        try:
            payload = orjson.loads(b"".join(self.body))
            model = str(payload.get("model", MODEL))
            stream = payload.get("stream") is True
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        except (orjson.JSONDecodeError, AttributeError):
            error = b'{"error":{"message":"invalid JSON","type":"invalid_request_error"}}'
            self._send(_http_response("400 Bad Request", "application/json", error, keep_alive))
            return
        if stream:
            self._stream(model, include_usage, keep_alive)
            return
        key = (model, keep_alive)
        if key not in self._completion_cache:
            self._completion_cache[key] = _http_response("200 OK", "application/json", completion_body(model),
                                                         keep_alive)
        self._send(self._completion_cache[key])

    def _send(self, data: bytes, close: bool = False) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.transport.close()

    def _stream(self, model: str, include_usage: bool, keep_alive: bool) -> None:
        """Each event as its own HTTP chunk, written in its own loop iteration."""
        key = (model, include_usage)
        if key not in self._stream_cache:
            chunked = [f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in stream_events(model, include_usage)]
            self._stream_cache[key] = [STREAM_HEAD, *chunked, b"0\r\n\r\n"]
        frames = self._stream_cache[key]
        loop = asyncio.get_running_loop()

        def write_frame(i: int) -> None:
            last = i == len(frames) - 1
            self._send(frames[i], close=last and not keep_alive)
            if not last and self.transport is not None and not self.transport.is_closing():
                loop.call_soon(write_frame, i + 1)

        write_frame(0)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(port: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        uvloop.run(serve(port))


if __name__ == "__main__":
    main(int(sys.argv[1]))
