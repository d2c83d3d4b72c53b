#!/usr/bin/env python3
"""Overhead benchmark: what does Interlingua add on top of the upstream it forwards to?

One run measures three targets side by side, all on 127.0.0.1:

* **direct** - the client talks straight to a fake OpenAI upstream (the baseline);
* **floor** - a minimal Starlette app on uvicorn (uvloop, httptools, one process) that
  forwards ``POST /v1/chat/completions`` with a default ``httpx.AsyncClient()``. This is
  the naive floor for this stack: any gateway built on it should not be slower;
* **interlingua** - ``interlingua serve`` with a one-provider config pointing at the upstream.

For each target it measures

(a) non-streaming requests one at a time on one keep-alive connection: p50 and p99 latency,
    reported as *added* latency versus direct (absolute values in brackets);
(b) non-streaming throughput with 32 concurrent keep-alive connections: requests per second;
(c) 50-chunk SSE streams one at a time: time to the first ``data:`` event, to the first
    ``data:`` event that carries text (``"content"`` non-empty: the first token the client
    sees; the event before it only carries the role) and to the end, p50;
(d) Interlingua only (direct and floor speak one dialect): the same upstream stream as (c),
    asked for by an Anthropic client (``POST /v1/messages`` with ``anthropic-version``), so the
    gateway translates OpenAI chunks to Anthropic events. Measured: time to the first
    ``content_block_delta`` event - the first text token the client sees, the counterpart of
    (c)'s first content - and to the end, p50. The target compares it with (c)'s first content.
(e) Interlingua only, likewise: the same upstream stream asked for by a Gemini client
    (``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` with ``x-goog-api-key``), so
    the gateway translates OpenAI chunks to ``GenerateContentResponse`` frames. Measured: time
    to the first ``data:`` frame whose text is non-empty (the first text token) and to the end,
    p50; the target compares it with (c)'s first content, as for (d).
(f) Interlingua only, likewise: the same upstream stream asked for by an OpenAI Responses client
    (``POST /v1/responses`` with ``Authorization: Bearer``, ``input`` a string, ``stream`` and
    ``max_output_tokens``), so the gateway translates OpenAI chunks to Responses events
    (``response.created`` ... ``response.completed``). Measured: time to the first
    ``response.output_text.delta`` event (the first text token) and to the end, p50; the
    target compares it with (c)'s first content, as for (d). The request leaves ``store`` at
    its default (true), as a Responses client does, so the gateway also keeps each Response in
    its SQLite store. (d), (e) and (f) are one measurement parameterised by the client dialect
    (see ``ClientCase``).

Why it is built this way:

* The proxy under test (floor or gateway) runs alone on core 0 (``taskset -c 0``), one at a
  time, so it never competes with anything; the fake upstream and the load generator share
  core 1. Numbers then describe one core of proxy work, not the scheduler.
* The fake upstream is a raw uvloop protocol with prebuilt responses, and the load generator
  is a raw uvloop HTTP/1.1 client (keep-alive, prebuilt request bytes, llhttp parsing via
  ``httptools``) that sends the next request straight from the parser callback. Both cost a
  few microseconds per request, so at ~3000 req/s they are nowhere near the bottleneck
  (httpx or aiohttp as load generators would be).
* The upstream writes each SSE event as its own HTTP chunk in its own event-loop iteration
  (no sleeps), like a model emitting tokens as fast as possible; "first chunk" therefore
  shows whether a proxy forwards early bytes or buffers.
* Every response is checked (status 200; OpenAI streams must end with ``data: [DONE]``;
  Anthropic streams must start with ``event: message_start``, end with
  ``event: message_stop`` and have an ``event:`` line on every frame; Gemini streams are
  checked in full every time: each frame is ``data: {...}`` with a parseable
  ``GenerateContentResponse``, the text adds up to the upstream's 49 tokens exactly, and the
  last frame, and only it, has ``finishReason`` ``STOP``, and it has ``usageMetadata``;
  Responses streams too: each frame is one ``event:`` and one ``data:`` line, the event name
  equals the payload's ``type``, ``sequence_number`` runs 0..n-1 without gaps, the
  ``response.output_text.delta`` deltas add up to the upstream's 49 tokens exactly, and the
  last event is ``response.completed`` whose ``response.output[0].content[0].text`` is that
  text and whose ``usage`` is present) and errors are counted. Checks run after a response's
  times are taken. Before measuring, one request of each kind is validated in full (for (d):
  event names match payload types, the text arrives whole, stop reason and usage are carried
  over; for (e): also the token counts; for (f): also the exact event order, one response id,
  the ``.done`` events and ``output_item.done`` agreeing with the completed Response, and the
  token counts).
* A first token counts when its whole SSE line (for (d) and (f) its ``event:`` and ``data:``
  lines) has arrived, however the network split it. Stream bodies are kept whole in every
  dialect, so (c) to (f) cost the load generator the same while they are being timed.

Run it as ``.venv/bin/python scripts/bench.py`` (``--quick`` for a ~15 s smoke run). The exit
status is 0 unless something crashed or a server could not be started: this is a measurement,
and the PASS/FAIL lines against the targets are information, not a test verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httptools
import orjson
import uvloop

HOST = "127.0.0.1"
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"
MODEL = "bench-model"
GEMINI_STREAM_PATH = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
RESPONSES_PATH = "/v1/responses"
UPSTREAM_KEY = "sk-upstream"
STREAM_CONTENT_CHUNKS = 50
STREAM_TEXT = "".join(f" tok{i}" for i in range(1, STREAM_CONTENT_CHUNKS))  # all 49 tokens
PROXY_CORE, LOAD_CORE = 0, 1
REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------------
# Fake OpenAI upstream (runs in its own process, see serve_upstream)
# --------------------------------------------------------------------------------------------

CREATED = 1_700_000_000
COMPLETION_ID = "chatcmpl-bench0000000000000000000000"
FINGERPRINT = "fp_bench"


def _usage(completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": 12,
        "completion_tokens": completion_tokens,
        "total_tokens": 12 + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_body(model: str) -> bytes:
    """A ``chat.completion`` object as the OpenAI API returns it."""
    return orjson.dumps(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello! How can I help you today?",
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(9),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
    )


def _chunk(model: str, choices: list[dict[str, Any]], include_usage: bool,
           usage: dict[str, Any] | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if include_usage:
        chunk["usage"] = usage
    return chunk


def stream_events(model: str, include_usage: bool) -> list[bytes]:
    """The SSE events of a streamed completion: 50 delta chunks (the first carries the role,
    as OpenAI's does), a finish chunk, a usage chunk if asked for, and ``[DONE]``."""
    def delta_choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    chunks = [_chunk(model, [delta_choice({"role": "assistant", "content": "", "refusal": None})],
                     include_usage)]
    chunks += [_chunk(model, [delta_choice({"content": f" tok{i}"})], include_usage)
               for i in range(1, STREAM_CONTENT_CHUNKS)]
    chunks.append(_chunk(model, [delta_choice({}, "stop")], include_usage))
    if include_usage:
        chunks.append(_chunk(model, [], True, _usage(STREAM_CONTENT_CHUNKS - 1)))
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"]) == STREAM_TEXT
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _http_response(status: str, content_type: str, body: bytes, keep_alive: bool) -> bytes:
    head = (f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n")
    if not keep_alive:
        head += "connection: close\r\n"
    return head.encode() + b"\r\n" + body


STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
               b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")


class UpstreamProtocol(asyncio.Protocol):
    """One client connection of the fake upstream: HTTP/1.1 with keep-alive, llhttp parsing."""

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
        if self.parser.get_method() != b"POST" or self.url.split(b"?")[0] != CHAT_PATH.encode():
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
        else:
            key = (model, keep_alive)
            if key not in self._completion_cache:
                self._completion_cache[key] = _http_response(
                    "200 OK", "application/json", completion_body(model), keep_alive)
            self._send(self._completion_cache[key])

    def _send(self, data: bytes, close: bool = False) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.transport.close()

    def _stream(self, model: str, include_usage: bool, keep_alive: bool) -> None:
        key = (model, include_usage)
        if key not in self._stream_cache:
            frames = [STREAM_HEAD]
            frames += [f"{len(e):x}\r\n".encode() + e + b"\r\n"
                       for e in stream_events(model, include_usage)]
            frames.append(b"0\r\n\r\n")
            self._stream_cache[key] = frames
        frames = self._stream_cache[key]
        loop = asyncio.get_running_loop()

        def write_frame(i: int) -> None:
            last = i == len(frames) - 1
            self._send(frames[i], close=last and not keep_alive)
            if not last and self.transport is not None and not self.transport.is_closing():
                loop.call_soon(write_frame, i + 1)

        write_frame(0)


async def _serve_upstream(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


def serve_upstream(port: int) -> None:
    """Entry point of the upstream process."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        uvloop.run(_serve_upstream(port))


# --------------------------------------------------------------------------------------------
# Naive floor proxy (runs in its own process, see serve_floor)
# --------------------------------------------------------------------------------------------

def serve_floor(port: int, upstream_port: int) -> None:
    """Entry point of the floor process: Starlette + default httpx.AsyncClient on uvicorn."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    upstream_url = f"http://{HOST}:{upstream_port}{CHAT_PATH}"
    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as client:
            clients["upstream"] = client
            yield

    async def chat_completions(request: Request) -> Response:
        client = clients["upstream"]
        upstream_request = client.build_request(
            "POST", upstream_url, content=await request.body(),
            headers={"content-type": "application/json",
                     "authorization": f"Bearer {UPSTREAM_KEY}"})
        response = await client.send(upstream_request, stream=True)
        content_type = response.headers.get("content-type", "application/json")
        if content_type.startswith("text/event-stream"):
            return StreamingResponse(response.aiter_raw(), status_code=response.status_code,
                                     media_type=content_type,
                                     background=BackgroundTask(response.aclose))
        body = await response.aread()
        return Response(body, status_code=response.status_code, media_type=content_type)

    app = Starlette(routes=[Route(CHAT_PATH, chat_completions, methods=["POST"])],
                    lifespan=lifespan)
    uvicorn.run(app, host=HOST, port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


# --------------------------------------------------------------------------------------------
# Load generator: raw uvloop HTTP/1.1 client
# --------------------------------------------------------------------------------------------

def _post(port: int, path: str, payload: dict[str, Any], extra_headers: str = "") -> bytes:
    """Prebuilt request bytes. No auth header unless a case adds one in ``extra_headers`` (the
    gateway is open on loopback and ignores it)."""
    body = orjson.dumps(payload)
    head = (f"POST {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\n"
            f"user-agent: interlingua-bench\r\naccept: */*\r\n{extra_headers}"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n")
    return head.encode() + body


def build_request(port: int, stream: bool) -> bytes:
    """An OpenAI Chat Completions request; streams ask for the usage chunk."""
    payload: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 64,
    }
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return _post(port, CHAT_PATH, payload)


def build_messages_request(port: int) -> bytes:
    """A streamed Anthropic Messages request, as the Anthropic SDK sends it (minus the key)."""
    payload = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream": True,
    }
    return _post(port, MESSAGES_PATH, payload,
                 f"anthropic-version: {ANTHROPIC_VERSION}\r\n")


def build_gemini_request(port: int) -> bytes:
    """A streamed Gemini generateContent request, as google-genai sends it with ``alt=sse``."""
    payload = {
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        "generationConfig": {"maxOutputTokens": 64},
    }
    return _post(port, GEMINI_STREAM_PATH, payload, "x-goog-api-key: bench\r\n")


def build_responses_request(port: int) -> bytes:
    """A streamed OpenAI Responses request, as the OpenAI SDK sends ``responses.create``."""
    payload = {"model": MODEL, "input": "Say hello.", "stream": True, "max_output_tokens": 64}
    return _post(port, RESPONSES_PATH, payload, "authorization: Bearer x\r\n")


def openai_stream_problem(body: bytes) -> str | None:
    """Why an OpenAI SSE body is not a complete stream, or None."""
    if body.rstrip().endswith(b"data: [DONE]"):
        return None
    return f"stream did not end with [DONE]: {body[-200:]!r}"


def anthropic_stream_problem(body: bytes) -> str | None:
    """Why an Anthropic SSE body is not well framed, or None: it must open with
    ``message_start`` and close with ``message_stop``, and every frame needs an ``event:`` and
    a ``data:`` line."""
    frames = body.replace(b"\r\n", b"\n").strip().split(b"\n\n")
    if not frames[0].startswith(b"event: message_start\n"):
        return f"stream did not start with event: message_start: {body[:200]!r}"
    if not frames[-1].startswith(b"event: message_stop\n"):
        return f"stream did not end with event: message_stop: {body[-200:]!r}"
    bad = [f for f in frames if not f.startswith(b"event: ") or b"\ndata: " not in f]
    if bad:
        return f"{len(bad)} frame(s) without event: and data: lines, first: {bad[0][:200]!r}"
    return None


def gemini_stream_problem(body: bytes) -> str | None:
    """Why a Gemini SSE body is not the upstream's stream, or None: every frame is
    ``data: {...}`` with a GenerateContentResponse, the texts add up to the upstream's 49 tokens,
    and the last frame - only the last - has ``finishReason`` STOP, and it has
    ``usageMetadata``. Checked for every stream, so it is kept cheap (one JSON parse a frame)."""
    frames = body.replace(b"\r\n", b"\n").strip().split(b"\n\n")
    texts: list[str] = []
    for n, frame in enumerate(frames):
        if not frame.startswith(b"data: {"):
            return f"frame {n} is not data: {{...}}: {frame[:200]!r}"
        try:
            chunk = orjson.loads(frame[len(b"data: "):])
            candidate = chunk["candidates"][0]
            parts = candidate["content"]["parts"]
            texts += [p["text"] for p in parts if "text" in p and not p.get("thought")]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            return f"frame {n} is not a GenerateContentResponse ({exc!r}): {frame[:200]!r}"
        reason = candidate.get("finishReason")
        if n < len(frames) - 1 and reason is not None:
            return f"finishReason {reason!r} on frame {n} of {len(frames)}"
    if reason != "STOP":
        return f"last frame has finishReason {reason!r}, not STOP: {frames[-1][:200]!r}"
    if not isinstance(chunk.get("usageMetadata"), dict):
        return f"last frame has no usageMetadata: {frames[-1][:200]!r}"
    text = "".join(texts)
    if text != STREAM_TEXT:
        return f"text is not the upstream's {STREAM_CONTENT_CHUNKS - 1} tokens: {text[:120]!r}"
    return None


def _responses_events(body: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """The payloads of a Responses SSE body and what is wrong with its framing, or None: every
    frame is one ``event:`` and one ``data:`` line, the name equals the payload's ``type`` and
    ``sequence_number`` is the frame's position (0..n-1, no gaps). One JSON parse a frame."""
    frames = body.replace(b"\r\n", b"\n").strip().split(b"\n\n")
    events: list[dict[str, Any]] = []
    for n, frame in enumerate(frames):
        name, _, data = frame.partition(b"\n")
        if not name.startswith(b"event: ") or not data.startswith(b"data: ") or b"\n" in data:
            return events, f"frame {n} is not one event: and one data: line: {frame[:200]!r}"
        try:
            event = orjson.loads(data[len(b"data: "):])
            kind, seq = event["type"], event["sequence_number"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            return events, f"frame {n} has no JSON with type and sequence_number ({exc!r})"
        if not isinstance(kind, str) or kind.encode() != name[len(b"event: "):]:
            return events, f"frame {n}: {name!r} carries type {kind!r}"
        if type(seq) is not int or seq != n:
            return events, f"frame {n} has sequence_number {seq!r}"
        events.append(event)
    return events, None


def responses_stream_problem(body: bytes) -> str | None:
    """Why a Responses SSE body is not the upstream's stream, or None: well framed (see
    ``_responses_events``), the ``response.output_text.delta`` deltas add up to the upstream's 49
    tokens, and the last event is ``response.completed`` whose first output item's first content
    part has that text and whose Response has ``usage``."""
    events, problem = _responses_events(body)
    if problem is not None:
        return problem
    try:
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    except (KeyError, TypeError) as exc:
        return f"an output_text.delta without a text delta ({exc!r})"
    if text != STREAM_TEXT:
        return f"deltas are not the upstream's {STREAM_CONTENT_CHUNKS - 1} tokens: {text[:120]!r}"
    last = events[-1]
    if last["type"] != "response.completed":
        return f"last event is {last['type']}, not response.completed: {body[-200:]!r}"
    response = last.get("response")
    try:
        final = response["output"][0]["content"][0]["text"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError) as exc:
        return f"response.completed has no output[0].content[0].text ({exc!r})"
    if final != text:
        return f"response.completed text differs from the deltas: {str(final)[:120]!r}"
    if not isinstance(response.get("usage"), dict):  # type: ignore[union-attr]
        return f"response.completed has no usage: {body[-200:]!r}"
    return None


@dataclass(frozen=True)
class StreamDialect:
    """How the load generator reads one SSE dialect."""

    name: str
    first_token: re.Pattern[bytes]  # the complete event that brings the first text token
    problem: Callable[[bytes], str | None]  # whole body -> what is wrong with it, or None


OPENAI_SSE = StreamDialect(
    "openai", re.compile(rb'data: [^\n]*"content": ?"[^"\n][^\n]*\n'), openai_stream_problem)
ANTHROPIC_SSE = StreamDialect(
    "anthropic", re.compile(rb"event: content_block_delta\r?\ndata: [^\n]*\n"),
    anthropic_stream_problem)
GEMINI_SSE = StreamDialect(
    "gemini", re.compile(rb'data: [^\n]*"text": ?"[^"\n][^\n]*\n'), gemini_stream_problem)
RESPONSES_SSE = StreamDialect(
    "responses", re.compile(rb"event: response\.output_text\.delta\r?\ndata: [^\n]*\n"),
    responses_stream_problem)


@dataclass
class Run:
    """One batch of requests: bounded by a count or by a deadline, shared by its connections."""

    request: bytes
    total: int | None = None
    deadline: float | None = None
    dialect: StreamDialect | None = None  # set for streams: how to check and time them
    record: bool = True
    issued: int = 0
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    first_bytes: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    first_error: str | None = None

    def claim(self) -> bool:
        """May another request be started?"""
        if self.total is not None and self.issued >= self.total:
            return False
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return False
        self.issued += 1
        return True

    def exhausted(self) -> bool:
        if self.total is not None:
            return self.issued >= self.total
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def fail(self, reason: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = reason

    def done(self, status: int, body: bytes, latency: float, first_byte: float,
             first_token: float | None) -> None:
        """Account one complete response; only good ones enter the latency samples.

        ``body`` is the whole body for streams, the last bytes otherwise; ``first_token`` is
        None when a stream brought no text token."""
        problem = self._problem(status, body, first_token)
        if problem is not None:
            self.fail(problem)
            return
        self.ok += 1
        if self.record:
            self.latencies.append(latency)
            self.first_bytes.append(first_byte)
            if first_token is not None:
                self.first_tokens.append(first_token)

    def _problem(self, status: int, body: bytes, first_token: float | None) -> str | None:
        if status != 200:
            return f"HTTP {status}: {body[-200:]!r}"
        if self.dialect is None:
            return None
        problem = self.dialect.problem(body)
        if problem is None and first_token is None:
            problem = f"no text token in the stream: {body[:200]!r}"
        return problem


class ClientConnection(asyncio.Protocol):
    """A keep-alive connection that sends the next request from the completion callback."""

    def __init__(self, run: Run, finished: asyncio.Future[None]) -> None:
        self.run = run
        self.finished = finished
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.in_flight = False
        self.sent_at = self.first_byte_at = self.first_token_at = 0.0
        self.status = 0
        self.tail = b""  # non-streams: the last bytes, enough for an error message
        self.parts: list[bytes] = []  # streams: the whole body
        self.scan = b""  # streams: the body so far, until the first token is found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send_next()

    def _send_next(self) -> None:
        assert self.transport is not None
        if not self.run.claim():
            self._finish()
            return
        self.in_flight, self.status, self.tail, self.parts, self.scan = True, 0, b"", [], b""
        self.first_byte_at = self.first_token_at = 0.0
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.request)

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._abort(f"unparsable response: {exc}")

    def _abort(self, reason: str) -> None:
        if self.in_flight:
            self.in_flight = False
            self.run.fail(reason)
        if self.transport is not None:
            self.transport.close()
        self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            self.in_flight = False
            self.run.fail(f"connection lost: {exc or 'closed by peer'}")
        self._finish()

    # llhttp callbacks
    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        now = time.perf_counter()
        dialect = self.run.dialect
        if dialect is None:
            self.first_byte_at = self.first_byte_at or now
            self.tail = (self.tail + body)[-256:]
            return
        self.parts.append(body)
        if not self.first_byte_at and b"data:" in body:
            self.first_byte_at = now
        if not self.first_token_at:
            self.scan += body
            if dialect.first_token.search(self.scan):
                self.first_token_at, self.scan = now, b""

    def on_message_complete(self) -> None:
        now = time.perf_counter()
        first = self.first_byte_at or now
        token = self.first_token_at - self.sent_at if self.first_token_at else None
        body = b"".join(self.parts) if self.run.dialect is not None else self.tail
        self.in_flight = False
        self.run.done(self.status, body, now - self.sent_at, first - self.sent_at, token)
        if self.parser.should_keep_alive():
            self._send_next()
        else:
            assert self.transport is not None
            self.transport.close()
            self._finish()


async def drive_connection(port: int, run: Run) -> None:
    """Keep one connection busy until the run is exhausted, reconnecting if the peer closes."""
    loop = asyncio.get_running_loop()
    while not run.exhausted():
        finished: asyncio.Future[None] = loop.create_future()
        try:
            transport, _ = await loop.create_connection(
                partial(ClientConnection, run, finished), HOST, port)
        except OSError as exc:
            if run.claim():
                run.fail(f"connect failed: {exc}")
            await asyncio.sleep(0.01)
            continue
        try:
            await finished
        finally:
            transport.close()


async def execute(port: int, run: Run, connections: int = 1) -> float:
    """Run a batch over ``connections`` parallel connections; return elapsed seconds."""
    started = time.perf_counter()
    await asyncio.gather(*(drive_connection(port, run) for _ in range(connections)))
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------

@dataclass
class Settings:
    requests: int
    warmup_requests: int
    seconds: float
    warmup_seconds: float
    streams: int
    warmup_streams: int
    concurrency: int


@dataclass
class Result:
    """What was measured for one target (times in seconds)."""

    name: str
    p50: float = math.nan
    p99: float = math.nan
    rps: float = math.nan
    first_chunk: float = math.nan
    first_content: float = math.nan
    stream_total: float = math.nan
    # (d) to (f): ClientCase.key -> (first text token p50, total p50)
    translated: dict[str, tuple[float, float]] = field(default_factory=dict)
    errors: int = 0
    notes: list[str] = field(default_factory=list)
    available: bool = True


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for an empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _account(result: Result, run: Run, label: str) -> None:
    result.errors += run.errors
    if run.errors:
        result.notes.append(f"{label}: {run.errors} errors, first: {run.first_error}")


async def measure_latency(port: int, settings: Settings, result: Result) -> None:
    """(a) one request at a time on one keep-alive connection."""
    request = build_request(port, stream=False)
    await execute(port, Run(request, total=settings.warmup_requests, record=False))
    run = Run(request, total=settings.requests)
    await execute(port, run)
    _account(result, run, "(a)")
    result.p50, result.p99 = percentile(run.latencies, 50), percentile(run.latencies, 99)


async def measure_throughput(port: int, settings: Settings, result: Result) -> None:
    """(b) closed-loop throughput with ``concurrency`` keep-alive connections."""
    request = build_request(port, stream=False)
    warmup = Run(request, deadline=time.perf_counter() + settings.warmup_seconds, record=False)
    await execute(port, warmup, settings.concurrency)
    run = Run(request, deadline=time.perf_counter() + settings.seconds, record=False)
    elapsed = await execute(port, run, settings.concurrency)
    _account(result, run, "(b)")
    result.rps = run.ok / elapsed


async def _stream_run(port: int, request: bytes, dialect: StreamDialect,
                      settings: Settings) -> Run:
    """Warm up, then stream ``settings.streams`` times one at a time on one connection."""
    await execute(port, Run(request, total=settings.warmup_streams, record=False,
                            dialect=dialect))
    run = Run(request, total=settings.streams, dialect=dialect)
    await execute(port, run)
    return run


async def measure_streams(port: int, settings: Settings, result: Result) -> None:
    """(c) 50-chunk streams one at a time: first ``data:`` event, first content, completion."""
    run = await _stream_run(port, build_request(port, stream=True), OPENAI_SSE, settings)
    _account(result, run, "(c)")
    result.first_chunk = percentile(run.first_bytes, 50)
    result.first_content = percentile(run.first_tokens, 50)
    result.stream_total = percentile(run.latencies, 50)


@dataclass(frozen=True)
class ClientCase:
    """(d), (e), (f): (c)'s upstream stream asked for by a client of another dialect."""

    key: str  # "(d)"
    client: str  # "Anthropic"
    first_label: str  # what the first text token is, for the table and the target
    build: Callable[[int], bytes]  # port -> request bytes
    dialect: StreamDialect  # how each stream is timed and checked
    check: Callable[[bytes], None]  # full validation of the probe's stream (raises)


async def measure_client_streams(case: ClientCase, port: int, settings: Settings,
                                 result: Result) -> None:
    """(d) to (f): the same upstream streams for a client of ``case``'s dialect: the first
    text token it sees and completion."""
    run = await _stream_run(port, case.build(port), case.dialect, settings)
    _account(result, run, case.key)
    result.translated[case.key] = (percentile(run.first_tokens, 50),
                                   percentile(run.latencies, 50))


async def probe(port: int, translating: bool = False) -> list[str]:
    """Validate one full response of each kind; return a list of problems (empty if fine)."""
    kinds: list[tuple[str, bytes, Callable[[bytes], None]]] = [
        ("completion", build_request(port, stream=False), check_completion),
        ("stream", build_request(port, stream=True), check_stream),
    ]
    if translating:
        kinds += [(f"{case.client} stream", case.build(port), case.check)
                  for case in CLIENT_CASES]
    problems: list[str] = []
    for kind, request, check in kinds:
        try:
            status, body = await fetch_once(port, request)
        except (TimeoutError, OSError, httptools.HttpParserError) as exc:
            problems.append(f"{kind}: request failed: {exc!r}")
            continue
        if status != 200:
            problems.append(f"{kind}: HTTP {status} {body[:300]!r}")
            continue
        try:
            check(body)
        except (ValueError, KeyError, IndexError, TypeError, AssertionError) as exc:
            problems.append(f"{kind}: unexpected body ({exc!r}): {body[:300]!r}")
    return problems


def check_completion(body: bytes) -> None:
    data = orjson.loads(body)
    assert data["object"] == "chat.completion", data.get("object")
    assert isinstance(data["choices"][0]["message"]["content"], str)
    assert data["usage"]["total_tokens"] > 0


def check_stream(body: bytes) -> None:
    events = [line[len(b"data: "):] for line in body.split(b"\n") if line.startswith(b"data: ")]
    assert events and events[-1] == b"[DONE]", "no [DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.count("tok") == STREAM_CONTENT_CHUNKS - 1, f"content: {text[:80]!r}"
    assert any(c.get("usage") for c in chunks), "no usage chunk"


def check_messages_stream(body: bytes) -> None:
    """An Anthropic stream in full: framing, event names equal payload types, one text block
    with all the upstream's text, the stop reason and the usage."""
    problem = anthropic_stream_problem(body)
    assert problem is None, problem
    frames = body.replace(b"\r\n", b"\n").strip().split(b"\n\n")
    events: list[tuple[str, dict[str, Any]]] = []
    for frame in frames:
        name_line, data_line = frame.split(b"\n")[:2]
        payload = orjson.loads(data_line[len(b"data: "):])
        name = name_line[len(b"event: "):].decode()
        assert payload["type"] == name, f"event {name} carries type {payload['type']}"
        events.append((name, payload))
    deltas = [p["delta"] for n, p in events if n == "content_block_delta"]
    assert all(d["type"] == "text_delta" for d in deltas), "non-text deltas"
    text = "".join(d["text"] for d in deltas)
    assert text.count("tok") == STREAM_CONTENT_CHUNKS - 1, f"content: {text[:80]!r}"
    starts = [p["content_block"]["type"] for n, p in events if n == "content_block_start"]
    assert starts == ["text"], f"content blocks: {starts}"
    final = next(p for n, p in events if n == "message_delta")
    assert final["delta"]["stop_reason"] == "end_turn", final["delta"]
    assert final["usage"]["output_tokens"] == STREAM_CONTENT_CHUNKS - 1, final["usage"]


def check_gemini_stream(body: bytes) -> None:
    """A Gemini stream in full: what every stream is checked for, plus one model-role candidate
    per frame, one response id throughout, and the upstream's token counts."""
    problem = gemini_stream_problem(body)
    assert problem is None, problem
    frames = body.replace(b"\r\n", b"\n").strip().split(b"\n\n")
    chunks = [orjson.loads(frame[len(b"data: "):]) for frame in frames]
    assert all(len(c["candidates"]) == 1 and c["candidates"][0]["content"]["role"] == "model"
               for c in chunks), "candidates other than one model turn"
    assert len({c.get("responseId") for c in chunks}) == 1, "responseId changes"
    usage = chunks[-1]["usageMetadata"]
    assert usage["promptTokenCount"] == 12, usage
    assert usage["candidatesTokenCount"] == STREAM_CONTENT_CHUNKS - 1, usage
    assert usage["totalTokenCount"] == 12 + STREAM_CONTENT_CHUNKS - 1, usage


RESPONSES_ORDER = (["response.created", "response.in_progress", "response.output_item.added",
                    "response.content_part.added"]
                   + ["response.output_text.delta"] * (STREAM_CONTENT_CHUNKS - 1)
                   + ["response.output_text.done", "response.content_part.done",
                      "response.output_item.done", "response.completed"])


def check_responses_stream(body: bytes) -> None:
    """A Responses stream in full: what every stream is checked for, plus the exact event order
    for one text item, no ``[DONE]``, one response id, one item id, the ``.done`` events and the
    ``output_item.done`` item agreeing with the completed Response, and the token counts."""
    problem = responses_stream_problem(body)
    assert problem is None, problem
    assert b"[DONE]" not in body, "a [DONE] terminator"
    events, _ = _responses_events(body)
    kinds = [e["type"] for e in events]
    assert kinds == RESPONSES_ORDER, f"event order: {kinds}"
    responses = [e["response"] for e in events if "response" in e]
    assert len({r["id"] for r in responses}) == 1, "response id changes"
    assert responses[0]["id"].startswith("resp_"), responses[0]["id"]
    assert [r["status"] for r in responses] == ["in_progress", "in_progress", "completed"], \
        [r["status"] for r in responses]
    by_kind = {e["type"]: e for e in events}
    item = by_kind["response.output_item.done"]["item"]
    assert item["type"] == "message" and item["status"] == "completed", item
    assert {e.get("item_id") for e in events if "item_id" in e} == {item["id"]}, "item id changes"
    assert by_kind["response.output_text.done"]["text"] == STREAM_TEXT, "output_text.done text"
    assert by_kind["response.content_part.done"]["part"]["text"] == STREAM_TEXT, "part.done text"
    final = by_kind["response.completed"]["response"]
    assert final["output"] == [item], "completed output is not the output_item.done items"
    usage = final["usage"]
    assert usage["input_tokens"] == 12, usage
    assert usage["output_tokens"] == STREAM_CONTENT_CHUNKS - 1, usage
    assert usage["total_tokens"] == 12 + STREAM_CONTENT_CHUNKS - 1, usage


CLIENT_CASES = (
    ClientCase("(d)", "Anthropic", "first content_block_delta", build_messages_request,
               ANTHROPIC_SSE, check_messages_stream),
    ClientCase("(e)", "Gemini", "first text", build_gemini_request, GEMINI_SSE,
               check_gemini_stream),
    ClientCase("(f)", "Responses", "first output_text.delta", build_responses_request,
               RESPONSES_SSE, check_responses_stream),
)


class Collector(asyncio.Protocol):
    """Sends one request and collects the whole (de-chunked) response body."""

    def __init__(self, request: bytes, done: asyncio.Future[None]) -> None:
        self.request, self.done = request, done
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_message_complete()


async def fetch_once(port: int, request: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection, returning status and the full body."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    transport, collector = await loop.create_connection(
        partial(Collector, request, done), HOST, port)
    try:
        await asyncio.wait_for(done, 30)
    finally:
        transport.close()
    return collector.status, b"".join(collector.body)


async def measure_target(name: str, port: int, settings: Settings,
                         translating: bool = False) -> Result:
    """Probe, then measure (a) to (c), and (d) to (f) if the target translates dialects."""
    result = Result(name)
    result.notes.extend(f"probe {p}" for p in await probe(port, translating))
    steps: list[tuple[Callable[[int, Settings, Result], Any], str]] = [
        (measure_latency, "(a) sequential"),
        (measure_throughput, f"(b) {settings.concurrency} connections"),
        (measure_streams, "(c) streams")]
    if translating:
        steps += [(partial(measure_client_streams, case),
                   f"{case.key} {case.client}-client streams") for case in CLIENT_CASES]
    for step, label in steps:
        log(f"  {name}: {label} ...")
        await step(port, settings, result)
    return result


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def can_pin() -> bool:
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    return {PROXY_CORE, LOAD_CORE} <= available and shutil.which("taskset") is not None


class Processes:
    """The servers this run started; only these PIDs are ever signalled."""

    def __init__(self, workdir: Path, pin: bool) -> None:
        self.workdir = workdir
        self.pin = pin
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], core: int) -> subprocess.Popen[bytes]:
        command = (["taskset", "-c", str(core)] if self.pin else []) + argv
        with open(self.workdir / f"{name}.log", "wb") as output:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                    stderr=subprocess.STDOUT, cwd=REPO)
        self.running[name] = proc
        return proc

    def output(self, name: str, limit: int = 2000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-limit:] if path.exists() else ""

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


async def wait_ready(procs: Processes, name: str, port: int, timeout: float = 60) -> None:
    """Poll the port until it accepts connections; fail early if the process exits."""
    proc = procs.running[name]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{procs.output(name)}")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f} s:\n"
                       f"{procs.output(name)}")


def interlingua_command(workdir: Path, upstream_port: int, port: int) -> list[str]:
    config = workdir / "interlingua.toml"
    config.write_text(
        f'[server]\ndata_dir = "{workdir / "data"}"\n\n'
        f'[providers.fake]\ntype = "openai"\nurl = "http://{HOST}:{upstream_port}/v1"\n'
        f'key = "{UPSTREAM_KEY}"\nmodels = ["{MODEL}"]\n')
    candidates = [Path(sys.executable).parent / "interlingua", REPO / ".venv/bin/interlingua"]
    binary = next((c for c in candidates if c.exists()), None)
    if binary is None:
        raise RuntimeError("interlingua executable not found next to this Python or in .venv")
    return [str(binary), "serve", "--config", str(config), "--host", HOST, "--port", str(port)]


async def run_proxy(procs: Processes, name: str, argv: list[str], port: int,
                    settings: Settings, translating: bool = False) -> Result:
    """Start one proxy on the proxy core, measure it, stop it (also on failure)."""
    log(f"starting {name} ...")
    try:
        procs.start(name, argv, PROXY_CORE)
        await wait_ready(procs, name, port)
        return await measure_target(name, port, settings, translating)
    except (RuntimeError, OSError) as exc:
        log(f"{name}: could not be measured: {exc}")
        lines = [line for line in str(exc).splitlines() if line.strip()]
        summary = " … ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else repr(exc)
        return Result(name, available=False, notes=[f"not measured: {summary}"])
    finally:
        procs.stop(name)


async def run_all(procs: Processes, settings: Settings, only: str | None) -> list[Result]:
    script = [sys.executable, str(Path(__file__).resolve())]
    upstream_port = free_port()
    procs.start("upstream", script + ["--serve-upstream", str(upstream_port)], LOAD_CORE)
    await wait_ready(procs, "upstream", upstream_port)
    log("measuring direct ...")
    results = [await measure_target("direct", upstream_port, settings)]
    if only in (None, "floor"):
        port = free_port()
        argv = script + ["--serve-floor", str(port), str(upstream_port)]
        results.append(await run_proxy(procs, "floor", argv, port, settings))
    if only in (None, "interlingua"):
        port = free_port()
        try:
            argv = interlingua_command(procs.workdir, upstream_port, port)
        except RuntimeError as exc:
            log(f"interlingua: {exc}")
            results.append(Result("interlingua", available=False, notes=[str(exc)]))
        else:
            results.append(await run_proxy(procs, "interlingua", argv, port, settings,
                                           translating=True))
    procs.stop("upstream")
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:.2f} ms"


def added(value: float, base: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isnan(base):
        return f"({ms(value)})"
    return f"{(value - base) * 1000:+.2f} ms ({ms(value)})"


def table_rows(results: list[Result]) -> Iterator[list[str]]:
    direct = results[0]
    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("(a) p50 added (abs)", lambda r: added(r.p50, direct.p50) if r is not direct
         else f"— ({ms(r.p50)})"),
        ("(a) p99 added (abs)", lambda r: added(r.p99, direct.p99) if r is not direct
         else f"— ({ms(r.p99)})"),
        ("(b) req/s", lambda r: "—" if math.isnan(r.rps) else f"{r.rps:,.0f}"),
        ("(c) first chunk p50", lambda r: ms(r.first_chunk)),
        ("(c) first content p50", lambda r: ms(r.first_content)),
        ("(c) total p50", lambda r: ms(r.stream_total)),
    ]
    for case in CLIENT_CASES:
        rows += [
            (f"{case.key} {case.first_label} p50",
             lambda r, k=case.key: ms(r.translated.get(k, (math.nan, math.nan))[0])),
            (f"{case.key} total p50",
             lambda r, k=case.key: ms(r.translated.get(k, (math.nan, math.nan))[1])),
        ]
    rows.append(("errors", lambda r: str(r.errors) if r.available else "not run"))
    for label, cell in rows:
        yield [label] + [cell(r) for r in results]


def markdown_table(results: list[Result]) -> str:
    header = ["", *(r.name for r in results)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _measured(result: Result | None) -> Result | None:
    return result if result is not None and result.available else None


def targets(results: list[Result]) -> list[str]:
    """The target lines for Interlingua (one per client case after (c)'s), each PASS, FAIL
    or n/a."""
    by_name = {r.name: r for r in results}
    direct = by_name["direct"]
    floor, gateway = _measured(by_name.get("floor")), _measured(by_name.get("interlingua"))
    nan = math.nan

    ratio = gateway.rps / floor.rps if gateway and floor and floor.rps > 0 else nan
    added_p50 = gateway.p50 - direct.p50 if gateway else nan
    first = gateway.first_chunk if gateway else nan
    floor_first = floor.first_chunk if floor else nan
    same_dialect = gateway.first_content if gateway else nan

    def line(text: str, value: str, ok: bool, *inputs: float) -> str:
        known = not any(math.isnan(v) for v in inputs)
        return f"- {text}: {value} → {verdict(ok if known else None)}"

    def translation_line(case: ClientCase) -> str:
        translated = gateway.translated.get(case.key, (nan, nan))[0] if gateway else nan
        translation = translated - same_dialect
        return line(f"{case.key} {case.first_label} within 1 ms of (c)'s first content",
                    f"{ms(translated)} vs {ms(same_dialect)}"
                    + ("" if math.isnan(translation) else f" ({translation * 1000:+.2f} ms)"),
                    translation <= 0.001, translation)

    return [
        line("(b) throughput ≥ 2x floor's", "—" if math.isnan(ratio) else f"{ratio:.2f}x",
             ratio >= 2, ratio),
        line("(a) added p50 ≤ 1.0 ms",
             "—" if math.isnan(added_p50) else f"{added_p50 * 1000:+.2f} ms",
             added_p50 <= 0.001, added_p50),
        line("(c) first chunk ≤ floor's", f"{ms(first)} vs {ms(floor_first)}",
             first <= floor_first, first, floor_first),
    ] + [translation_line(case) for case in CLIENT_CASES]


def report(results: list[Result], settings: Settings, pinned: bool, load: float) -> str:
    setup = (f"{settings.requests} sequential requests (after {settings.warmup_requests}), "
             f"{settings.concurrency} connections for {settings.seconds:g} s, "
             f"{settings.streams} streams per dialect (after {settings.warmup_streams}); "
             f"proxy on core {PROXY_CORE}, upstream + load generator on core {LOAD_CORE}"
             if pinned else "unpinned (taskset or 2 cores unavailable)")
    lines = [f"Python {platform.python_version()}, {setup}."]
    if load > 0.5:
        lines.append(f"Warning: load average {load:.2f} before the run: other processes share "
                     "these cores, so tail latencies (p99) especially are noisy.")
    lines += ["", markdown_table(results), "",
             "Targets for Interlingua:", *targets(results)]
    notes = [f"- {r.name}: {n}" for r in results for n in r.notes]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (~15 s)")
    parser.add_argument("--requests", type=int, help="(a) sequential requests (default 2000)")
    parser.add_argument("--seconds", type=float, help="(b) seconds at full load (default 5)")
    parser.add_argument("--streams", type=int,
                        help="(c) to (f) sequential streams each (default 300)")
    parser.add_argument("--concurrency", type=int, default=32, help="(b) connections (32)")
    parser.add_argument("--only", choices=("floor", "interlingua"),
                        help="measure only this proxy (direct is always measured)")
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", type=int, nargs=2, metavar=("PORT", "UPSTREAM"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    requests = args.requests or (300 if quick else 2000)
    streams = args.streams or (50 if quick else 300)
    seconds = args.seconds or (1.5 if quick else 5.0)
    return Settings(requests=requests, warmup_requests=max(20, requests // 10),
                    seconds=seconds, warmup_seconds=min(1.0, seconds / 5 + 0.2),
                    streams=streams, warmup_streams=max(10, streams // 10),
                    concurrency=args.concurrency)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    if args.serve_floor:
        serve_floor(*args.serve_floor)
        return 0

    settings = settings_from(args)
    load = os.getloadavg()[0]
    pinned = can_pin()
    if pinned:
        os.sched_setaffinity(0, {LOAD_CORE})
    else:
        log("warning: cannot pin to cores 0 and 1; numbers will be noisy")
    # Ctrl-C and SIGTERM both unwind through the finally below, which stops our servers
    # (set explicitly: a shell's background job starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="interlingua-bench-") as tmp:
        procs = Processes(Path(tmp), pinned)
        try:
            results = uvloop.run(run_all(procs, settings, args.only))
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        finally:
            procs.stop_all()
    print(report(results, settings, pinned, load))
    return 0 if all(r.available for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
