"""The dispatcher alone, with in-process providers: fallback order, failover limits, disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.catalog import Catalog
from interlingua.adapters.dialects import OPENAI_CHAT
from interlingua.adapters.providers import Provider, Target
from interlingua.adapters.replies import Body, Chunks, Reply
from interlingua.app.dispatcher import Dispatcher
from interlingua.middleware.state import DIALECT, DISCONNECTED, ERROR, OPERATION, REQUEST, TARGET, TARGETS, USAGE
from tests.asgi import call, run


class Scripted(Provider):
    """A provider whose answer is given: a reply or an error to raise."""

    kind = "scripted"
    codec = OPENAI_CHAT

    def __init__(self, name: str, answer: Reply | ir.GatewayError) -> None:
        super().__init__(name, "http://127.0.0.1:9")
        self.answer = answer
        self.calls = 0

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {}

    async def chat(self, request: ir.ChatRequest, model: str) -> Reply:
        self.calls += 1
        if isinstance(self.answer, ir.GatewayError):
            raise self.answer
        return self.answer


def _state(*providers: Provider, stream: bool = False) -> dict[str, Any]:
    return {DIALECT: OPENAI_CHAT, OPERATION: ops.CHAT,
            REQUEST: ir.ChatRequest("m", [], "openai", stream=stream),
            TARGETS: [Target(p, "m") for p in providers]}


def _dispatcher() -> Dispatcher:
    return Dispatcher(Catalog({}, {}))


BODY = b'{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}'


def test_falls_back_on_retryable_errors_in_order() -> None:
    down = Scripted("down", ir.GatewayError("unavailable", "refused", retryable=True))
    busy = Scripted("busy", ir.GatewayError("rate_limit", "slow down", retryable=True))
    up = Scripted("up", Body(BODY))
    state = _state(down, busy, up)
    out = run(call(_dispatcher(), state=state))
    assert out.status == 200 and out.body == BODY
    assert (down.calls, busy.calls, up.calls) == (1, 1, 1)
    assert state[TARGET].label == "up/m"
    assert state[USAGE] == ir.Usage(input_tokens=3, output_tokens=2)
    assert out.headers[b"x-interlingua-upstream"] == b"up/m"


def test_a_client_error_is_not_retried_elsewhere() -> None:
    bad = Scripted("bad", ir.GatewayError("invalid_request", "bad field", status=400))
    never = Scripted("never", Body(BODY))
    out = run(call(_dispatcher(), state=_state(bad, never)))
    (error_message,) = [m for m in out.messages if m["type"] == ERROR]
    assert error_message["error"].status == 400 and never.calls == 0


async def _nothing() -> None:
    """A stream with nothing to release."""


async def _chunks(*items: bytes | ir.GatewayError, gap: float = 0.0) -> AsyncIterator[bytes]:
    for item in items:
        if gap:
            await asyncio.sleep(gap)
        if isinstance(item, ir.GatewayError):
            raise item
        yield item


def test_a_stream_that_breaks_before_its_first_event_falls_over() -> None:
    broken = ir.GatewayError("upstream", "reset", retryable=True)
    first = Scripted("first", Chunks(_chunks(broken), _nothing))
    second = Scripted("second", Chunks(_chunks(b'data: {"choices":[]}\n\n', b"data: [DONE]\n\n"), _nothing))
    out = run(call(_dispatcher(), state=_state(first, second, stream=True)))
    assert out.status == 200 and out.body == b'data: {"choices":[]}\n\ndata: [DONE]\n\n'
    assert first.calls == second.calls == 1


def test_a_stream_that_breaks_after_its_first_event_reports_in_stream() -> None:
    broken = ir.GatewayError("upstream", "reset", retryable=True)
    first = Scripted("first", Chunks(_chunks(b'data: {"choices":[]}\n\n', broken), _nothing))
    second = Scripted("second", Body(BODY))
    out = run(call(_dispatcher(), state=_state(first, second, stream=True)))
    assert second.calls == 0
    assert [m["type"] for m in out.messages] == ["http.response.start", "http.response.body", ERROR]
    assert out.scope["state"][USAGE].estimated is True


def test_a_client_disconnect_cancels_the_upstream_and_is_recorded() -> None:
    closed = asyncio.Event()

    async def close() -> None:
        closed.set()

    slow = Scripted("slow", Chunks(_chunks(*[b'data: {"choices":[]}\n\n'] * 100, gap=0.05), close))

    async def scenario() -> dict[str, Any]:
        state = _state(slow, stream=True)
        received: list[dict[str, Any]] = []
        gone = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            received.append(message)
            if len(received) == 3:
                gone.set()

        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [], "state": state}
        await asyncio.wait_for(_dispatcher()(scope, receive, send), 2)
        assert closed.is_set()
        assert len(received) < 10
        return state

    state = run(scenario())
    assert state[DISCONNECTED] is True
    assert state[USAGE].output_tokens >= 1 and state[USAGE].estimated is True
