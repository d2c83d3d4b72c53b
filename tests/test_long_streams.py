"""A long answer, call or chain of thought streamed in small pieces costs time in proportion to its
length. Each piece was appended to all that came before it (a copy of the whole each time, on the
event loop): 100,000 pieces of text took 12 s to encode for a Responses client, 0.4 s now; a
call's arguments to a Responses or Gemini client, a custom tool's input held until whole, and a
reasoning kept for the next turn each took 2.3-2.6 s, 0.1-0.3 s now. Each case checks that
200,000 pieces come out whole as they went in, in a sixth of the CPU time the copying took (four
times the above, for twice the pieces)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects import tools
from interlingua.adapters.dialects.gemini import CODEC as GEMINI
from interlingua.adapters.dialects.openai_responses_stream import ResponsesStreamEncoder
from interlingua.adapters.providers.anthropic import AnthropicProvider
from interlingua.adapters.storage.reasoning import ReasoningStore
from tests.asgi import run
from tests.support import cpu_seconds, sse_events

PIECES = 200_000
PIECE = "abcdefghij"
WHOLE = PIECE * PIECES


def _timed(work: Callable[[], object]) -> object:
    result, spent = cpu_seconds(work)
    assert spent < 8, "a long stream took time growing with the square of its length"
    return result


def _events(body: bytes) -> list[Any]:
    return [event.json() for event in sse_events(body)]


def _responses_text() -> str:
    encoder = ResponsesStreamEncoder(None)
    for _ in range(PIECES):
        encoder.encode(ir.TextDelta(PIECE))
    done = [e for e in _events(encoder.encode(ir.Finish("stop"))) if e["type"] == "response.output_text.done"]
    return done[0]["text"]  # type: ignore[no-any-return]


def _responses_arguments() -> str:
    encoder = ResponsesStreamEncoder(None)
    encoder.encode(ir.ToolCallDelta(0, id="call_1", name="write"))
    for _ in range(PIECES):
        encoder.encode(ir.ToolCallDelta(0, PIECE))
    done = [e for e in _events(encoder.encode(ir.Finish("tool_calls")))
            if e["type"] == "response.function_call_arguments.done"]
    return done[0]["arguments"]  # type: ignore[no-any-return]


def _gemini_arguments() -> str:
    encoder = GEMINI.stream_encoder(ir.ChatRequest(model="m", messages=[], dialect=GEMINI.name))
    encoder.encode(ir.ToolCallDelta(0, '{"content": "', id="call_1", name="write"))
    for _ in range(PIECES):
        encoder.encode(ir.ToolCallDelta(0, PIECE))
    encoder.encode(ir.ToolCallDelta(0, '"}'))
    chunk = orjson.loads(encoder.encode(ir.Finish("tool_calls")).removeprefix(b"["))  # a JSON array's first item
    return chunk["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]["content"]  # type: ignore[no-any-return]


def _custom_input() -> str:
    restorer = tools.CallRestorer(frozenset({"apply_patch"}))
    restorer.feed([ir.ToolCallDelta(0, '{"input": "', id="call_1", name="apply_patch")])
    for _ in range(PIECES):
        restorer.feed([ir.ToolCallDelta(0, PIECE)])
    restorer.feed([ir.ToolCallDelta(0, '"}')])
    (call,) = restorer.flush()
    assert isinstance(call, ir.ToolCallDelta) and call.kind == "custom"
    return call.arguments


def _remembered_reasoning() -> str:
    store = ReasoningStore()
    provider = AnthropicProvider("claude", "http://127.0.0.1:9", reasoning_store=store)

    async def upstream() -> AsyncIterator[list[ir.StreamEvent]]:
        for _ in range(PIECES):
            yield [ir.ReasoningDelta(PIECE)]
        yield [ir.ReasoningDelta("", signature="sig"), ir.ToolCallDelta(0, "{}", id="toolu_1", name="write")]

    async def drain() -> None:
        async for _ in provider._remembering(upstream()):
            pass

    run(drain())
    (reasoning,) = store.recall(provider.kind, "toolu_1") or []
    return reasoning.text


@pytest.mark.parametrize("whole", [_responses_text, _responses_arguments, _gemini_arguments, _custom_input,
                                   _remembered_reasoning])
def test_a_long_stream_costs_time_in_proportion_to_its_length(whole: Callable[[], str]) -> None:
    assert _timed(whole) == WHOLE
