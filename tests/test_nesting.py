"""The nesting check on raw JSON bytes, against a plain walk of the parsed value; where it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import OPENAI_CHAT
from interlingua.middleware.nesting import MAX_DEPTH, nests_deeper
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS
from tests.asgi import Recorder, call, run
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.anthropic_upstream import text as claude_text
from tests.fakes.openai_upstream import FakeOpenAI, text
from tests.harness import anthropic_client, anthropic_provider, gateway, provider

# Strings full of what could be mistaken for structure: brackets, quotes, escapes.
TRICKY = st.text(alphabet='[]{}"\\ab\n', max_size=8)
VALUES = st.recursive(st.none() | st.booleans() | TRICKY,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
                      max_leaves=40)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=300, database=None, derandomize=True)
@given(VALUES, st.integers(0, 12))
def test_the_byte_scan_agrees_with_a_walk(value: Any, limit: int) -> None:
    assert nests_deeper(orjson.dumps(value), limit) == (depth(value) > limit)


def test_the_limit_is_inclusive_and_strings_do_not_count() -> None:
    assert not nests_deeper(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert nests_deeper(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert not nests_deeper(orjson.dumps({"a": "[{" * 500, "b": '\\"[' * 300}))


@settings(max_examples=50, database=None, derandomize=True)
@given(VALUES, st.integers(0, 12))
def test_a_large_body_is_scanned_alike(value: Any, limit: int) -> None:
    padded = {"pad": '\\"[\n' * 5000, "value": value}  # past SMALL, so the bracket count is skipped
    assert nests_deeper(orjson.dumps(padded), limit + 1) == (depth(padded) > limit + 1)


def test_a_body_nested_too_deep_is_a_400_naming_the_body() -> None:
    inner = Recorder()
    state = {DIALECT: OPENAI_CHAT, OPERATION: ops.EMBEDDINGS, PARAMS: {}}
    deep = b'{"model": "m", "input": ' + b"[" * 120 + b"]" * 120 + b"}"
    out = run(call(NormalisationMiddleware(inner), body=deep, headers=[(b"content-type", b"application/json")],
                   state=state))
    assert out.status == 400 and out.json()["error"]["param"] == "body"
    assert "nests deeper than 100 levels" in out.json()["error"]["message"] and not inner.scopes


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


def history(levels: int) -> list[Any]:
    """A tool loop whose call's input nests `levels` deep: the body nests five levels more."""
    return [{"role": "user", "content": "look it up"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup",
                                               "input": nested(levels)}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "found"}]}]


CLAUDE_HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "k"}


def test_a_chat_turn_is_checked_only_where_the_gateway_reads_it(tmp_path: Path) -> None:
    """Sent on as it came, a deep turn is its upstream's to judge; translated (or encoded again, as
    for the SDK, which does not put `model` first), it is refused before anything walks it."""
    async def scenario() -> None:
        models = {"same": {"targets": ["claude/claude-real"]}, "other": {"targets": ["gpt/gpt-real"]}}
        async with FakeAnthropic() as claude, FakeOpenAI() as gpt, gateway(
                tmp_path, providers={"claude": anthropic_provider(claude.url), "gpt": provider(gpt.url)},
                models=models) as (_, url):
            claude.script(claude_text("found it"))
            # `model` first, as Claude Code sends it, so the bytes can go on as they came
            turn = orjson.dumps({"model": "same", "max_tokens": 50, "messages": history(120)})
            async with httpx.AsyncClient(base_url=url) as client:
                answer = await client.post("/v1/messages", content=turn, headers=CLAUDE_HEADERS)
            assert answer.status_code == 200 and answer.json()["content"][0]["text"] == "found it"
            assert claude.requests[-1].body == turn.replace(b'"same"', b'"claude-real"')
            sdk = anthropic_client(url)
            with pytest.raises(anthropic.BadRequestError) as refused:
                await sdk.messages.create(model="other", max_tokens=50, messages=history(120))
            assert "nests deeper than 100 levels" in refused.value.message
            assert not [r for r in gpt.requests if r.path.endswith("/chat/completions")]
            gpt.script(text("shallow"))
            shallow = await sdk.messages.create(model="other", max_tokens=50, messages=history(90))
            assert shallow.content[0].text == "shallow"  # type: ignore[union-attr]

    run(scenario())


def test_a_gemini_schema_too_deep_to_walk_is_refused_before_it_is_walked(tmp_path: Path) -> None:
    """The response schema is converted by recursion, which 1,000 levels (orjson reads 1,024) exhaust."""
    schema = b'{"type": "array", "items": ' * 1000 + b'{"type": "string"}' + b"}" * 1000
    body = (b'{"contents": [{"role": "user", "parts": [{"text": "answer in JSON"}]}], "generationConfig": '
            b'{"responseMimeType": "application/json", "responseSchema": ' + schema + b"}}")
    async def scenario() -> None:
        async with FakeOpenAI() as gpt, gateway(tmp_path, providers={"gpt": provider(gpt.url, "gpt-real")}) as (_, url):
            async with httpx.AsyncClient(base_url=url) as client:
                out = await client.post("/v1beta/models/gpt-real:generateContent", content=body,
                                        headers={"content-type": "application/json", "x-goog-api-key": "k"})
            assert out.status_code == 400 and out.json()["error"]["status"] == "INVALID_ARGUMENT"
            assert "nests deeper than 100 levels" in out.json()["error"]["message"]
            assert not [r for r in gpt.requests if r.path.endswith("/chat/completions")]

    run(scenario())
