"""The load generator: a raw uvloop HTTP/1.1 client with prebuilt request bytes and llhttp parsing
that sends the next request straight from the parser's completion callback.

A stream's first text token counts when its whole SSE line (for named events, its ``event:`` and
``data:`` lines) has arrived, however the network split it.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httptools
import orjson

from scripts.bench import CHAT_PATH, GATEWAY_KEY, HOST, MESSAGES_PATH, MODEL
from scripts.bench.agent_turn import agent_turn

HELLO = "Say hello."


def _post(port: int, path: str, payload: dict[str, Any], extra_headers: str = "") -> bytes:
    """Prebuilt request bytes, with the gateway key (which direct and the proxies ignore)."""
    body = orjson.dumps(payload)
    head = (f"POST {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\n"
            f"user-agent: interlingua-bench\r\naccept: */*\r\nauthorization: Bearer {GATEWAY_KEY}\r\n{extra_headers}"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n")
    return head.encode() + body


def chat_request(port: int, stream: bool) -> bytes:
    """An OpenAI Chat Completions request; streams ask for the usage chunk."""
    payload: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": HELLO}], "max_tokens": 64}
    if stream:
        payload.update(stream=True, stream_options={"include_usage": True})
    return _post(port, CHAT_PATH, payload)


def messages_request(port: int) -> bytes:
    """A streamed Anthropic Messages request, as the Anthropic SDK sends it (minus the key)."""
    payload = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": HELLO}], "stream": True}
    return _post(port, "/v1/messages", payload, "anthropic-version: 2023-06-01\r\n")


def gemini_request(port: int) -> bytes:
    """A streamed Gemini generateContent request, as google-genai sends it with ``alt=sse``."""
    payload = {"contents": [{"role": "user", "parts": [{"text": HELLO}]}], "generationConfig": {"maxOutputTokens": 64}}
    return _post(port, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", payload)


def responses_request(port: int) -> bytes:
    """A streamed OpenAI Responses request, as the OpenAI SDK sends ``responses.create``. ``store``
    stays at its default (true), so the gateway also keeps each Response, as it would for a client."""
    payload = {"model": MODEL, "input": HELLO, "stream": True, "max_output_tokens": 64}
    return _post(port, "/v1/responses", payload)


def agent_request(port: int, model: str) -> bytes:
    """The 200 KB coding-agent turn (``agent_turn.py``), as Claude Code sends it, not streamed."""
    return _post(port, MESSAGES_PATH, agent_turn(model), "anthropic-version: 2023-06-01\r\n")


# The complete SSE event that brings a dialect's first text token.
OPENAI_TOKEN = re.compile(rb'data: [^\n]*"content": ?"[^"\n][^\n]*\n')
ANTHROPIC_TOKEN = re.compile(rb"event: content_block_delta\r?\ndata: [^\n]*\n")
GEMINI_TOKEN = re.compile(rb'data: [^\n]*"text": ?"[^"\n][^\n]*\n')
RESPONSES_TOKEN = re.compile(rb"event: response\.output_text\.delta\r?\ndata: [^\n]*\n")


@dataclass
class Run:
    """One batch of requests, bounded by a count or by a deadline, shared by its connections."""

    request: bytes
    total: int | None = None
    deadline: float | None = None
    first_token: re.Pattern[bytes] | None = None  # set for streams: how to spot the first text token
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
        if self.exhausted():
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

    def done(self, status: int, tail: bytes, latency: float, first_byte: float, first_token: float | None) -> None:
        """Account one complete response; only good ones enter the samples. ``tail`` is the end of
        the body, for the error message; ``first_token`` is None when a stream brought no text."""
        if status != 200:
            self.fail(f"HTTP {status}: {tail!r}")
        elif self.first_token is not None and first_token is None:
            self.fail(f"no text token in the stream, which ended: {tail!r}")
        else:
            self.ok += 1
            if self.record:
                self.latencies.append(latency)
                self.first_bytes.append(first_byte)
                if first_token is not None:
                    self.first_tokens.append(first_token)


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
        self.tail = b""  # the last bytes of the body, enough for an error message
        self.scan = b""  # streams: the body so far, until the first token is found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send_next()

    def _send_next(self) -> None:
        assert self.transport is not None
        if not self.run.claim():
            self._finish()
            return
        self.in_flight, self.status, self.tail, self.scan = True, 0, b"", b""
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
        self.tail = (self.tail + body)[-256:]
        first_token = self.run.first_token
        if first_token is None:
            self.first_byte_at = self.first_byte_at or now
            return
        if not self.first_byte_at and b"data:" in body:
            self.first_byte_at = now
        if not self.first_token_at:
            self.scan += body
            if first_token.search(self.scan):
                self.first_token_at, self.scan = now, b""

    def on_message_complete(self) -> None:
        now = time.perf_counter()
        first = self.first_byte_at or now
        token = self.first_token_at - self.sent_at if self.first_token_at else None
        self.in_flight = False
        self.run.done(self.status, self.tail, now - self.sent_at, first - self.sent_at, token)
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
            transport, _ = await loop.create_connection(partial(ClientConnection, run, finished), HOST, port)
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
    """Run a batch over ``connections`` parallel connections; return the seconds it took."""
    started = time.perf_counter()
    await asyncio.gather(*(drive_connection(port, run) for _ in range(connections)))
    return time.perf_counter() - started
