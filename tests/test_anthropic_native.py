"""Anthropic clients on an Anthropic upstream: the official SDK, the gateway, a fake Messages API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects.anthropic import CODEC as MESSAGES
from interlingua.adapters.providers import verbatim
from interlingua.adapters.providers.anthropic import AnthropicProvider
from interlingua.adapters.providers.seal import Seal
from interlingua.adapters.replies import Body
from interlingua.adapters.storage.ledger import totals
from tests.asgi import run
from tests.fakes.anthropic_upstream import FakeAnthropic, Usage, call, error, fail_mid_stream, reply, text, thinking
from tests.harness import anthropic_client, anthropic_provider, gateway

HI: list[Any] = [{"role": "user", "content": "hi"}]
TOOLS: list[Any] = [{"name": "get_weather", "description": "weather",
                     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
THINK: Any = {"type": "enabled", "budget_tokens": 2048}


def test_create_stream_and_count_pass_through(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeAnthropic() as up, gateway(tmp_path, providers={"claude": anthropic_provider(up.url)},
                                                  models={"sonnet": {"targets": ["claude/claude-real"]}}) as (app, url):
            sdk = anthropic_client(url)
            cached = Usage(20, 3, cache_read_input_tokens=5, cache_creation_input_tokens=2)
            up.script(text("Hi", " there", usage=cached),
                      text("streamed", " reply", usage=Usage(20, 4)))
            message = await sdk.messages.create(model="sonnet", max_tokens=100, messages=HI,
                                                system=[{"type": "text", "text": "be brief",
                                                         "cache_control": {"type": "ephemeral"}}],
                                                metadata={"user_id": "u1"}, stop_sequences=["END"],
                                                extra_body={"top_k": 5})
            assert message.content[0].text == "Hi there"
            assert message.usage.cache_read_input_tokens == 5
            sent = up.requests[-1].json
            assert sent["model"] == "claude-real" and sent["system"][0]["cache_control"] == {"type": "ephemeral"}
            assert (sent["metadata"], sent["stop_sequences"], sent["top_k"]) == ({"user_id": "u1"}, ["END"], 5)
            assert up.requests[-1].api_key == "sk-ant-upstream-secret"
            async with sdk.messages.stream(model="sonnet", max_tokens=100, messages=HI) as stream:
                pieces = [t async for t in stream.text_stream]
                final = await stream.get_final_message()
            assert pieces == ["streamed", " reply"] and final.content[0].text == "streamed reply"
            count = await sdk.messages.count_tokens(model="sonnet", messages=HI)
            assert count.input_tokens == len("hi") // 4 + 1
            assert up.requests[-1].path == "/v1/messages/count_tokens"
            app.ledger.flush()  # type: ignore[union-attr]
        rows = {r["model"]: r for r in totals(tmp_path / "usage.sqlite3")}
        assert (rows["sonnet"]["input_tokens"], rows["sonnet"]["cached_tokens"]) == (27 + 20, 5)
        assert rows["sonnet"]["output_tokens"] == 7

    run(scenario())


def test_beta_requests_and_headers_reach_the_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            await anthropic_client(url).messages.create(
                model="c1", max_tokens=50, messages=HI, extra_query={"beta": "true"},
                extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14,context-management-2025-06-27"},
                extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015"}]}})
            sent = up.requests[-1]
            assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,context-management-2025-06-27"
            assert sent.json["context_management"] == {"edits": [{"type": "clear_thinking_20251015"}]}

    run(scenario())


def test_thinking_tool_loop_survives_byte_for_byte(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            sdk = anthropic_client(url)
            up.script(reply(thinking("Need the ", "weather"), call("get_weather", '{"city":', ' "Oslo"}')),
                      text("It is cold."))
            async with sdk.messages.stream(model="c1", max_tokens=4096, messages=HI, tools=TOOLS,
                                           thinking=THINK) as stream:
                first = await stream.get_final_message()
            kinds = [b.type for b in first.content]
            assert kinds == ["thinking", "tool_use"] and first.content[1].input == {"city": "Oslo"}
            assert first.content[0].signature in up.signatures
            history = [*HI, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.content[1].id,
                                                     "content": "-3 C"}]}]
            second = await sdk.messages.create(model="c1", max_tokens=4096, messages=history, tools=TOOLS,
                                               thinking=THINK)
            assert second.content[0].text == "It is cold."
            echoed = up.requests[-1].json["messages"][1]["content"][0]
            assert echoed == first.content[0].model_dump(exclude_none=True)

    run(scenario())


def test_errors_in_anthropic_shape(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            sdk = anthropic_client(url)
            async with httpx.AsyncClient(base_url=url) as raw:
                missing = await raw.post("/v1/messages", json={"model": "c1", "messages": HI},
                                         headers={"anthropic-version": "2023-06-01"})
            assert missing.status_code == 400
            assert missing.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                                 "message": "max_tokens: is required"}}
            # A same-dialect body goes upstream as it came: Anthropic names the field it refuses.
            with pytest.raises(anthropic.BadRequestError) as malformed:
                await sdk.messages.create(model="c1", max_tokens=10,
                                          messages=[{"role": "user", "content": [{"type": "text"}]}])  # type: ignore[list-item]
            assert malformed.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
            assert "messages.0.content.0.text" in malformed.value.message
            with pytest.raises(anthropic.NotFoundError):
                await sdk.messages.create(model="nope", max_tokens=10, messages=HI)
            up.script(error(529, "Overloaded"))
            with pytest.raises(anthropic.APIStatusError) as overloaded:
                await sdk.messages.create(model="c1", max_tokens=10, messages=HI)
            assert overloaded.value.status_code == 529
            assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
            up.script(fail_mid_stream("partial", message="Overloaded"))
            with pytest.raises(anthropic.APIStatusError) as mid:
                async with sdk.messages.stream(model="c1", max_tokens=10, messages=HI) as stream:
                    async for _ in stream:
                        pass
            assert "Overloaded" in str(mid.value)

    run(scenario())


def test_models_answer_in_anthropic_shape(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1", "c2")}) as (_, url):
            page = await anthropic_client(url).models.list()
            assert [m.id for m in page.data] == ["all-minilm-l6-v2", "minilm-bm25", "c1", "c2"]
            assert page.data[0].type == "model"
            assert (await anthropic_client(url).models.retrieve("claude/c9")).id == "claude/c9"

    run(scenario())


def test_the_upstream_gets_the_clients_bytes_with_only_the_model_changed(tmp_path: Path) -> None:
    body = (b'{ "model" : "sonnet", "max_tokens": 100,\n  "messages": [{"role": "user", "content": '
            b'"caf\\u00e9 \\"quoted\\"", "model": "not this one"}],\n  "tools": []}')
    async def scenario() -> None:
        real = {"targets": ["claude/claude-real"]}
        async with FakeAnthropic() as up, gateway(tmp_path, providers={"claude": anthropic_provider(up.url)},
                                                  models={"sonnet": real, "claude-real": real}) as (_, url):
            up.script(text("one"), text("two"), text("three"))
            async with httpx.AsyncClient(base_url=url) as raw:
                headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
                for sent in (body, body.replace(b'"sonnet"', b'"claude-real"'),
                             body.replace(b'"max_tokens": 100', b'"max_tokens": 100, "model": "claude-real"')):
                    answer = await raw.post("/v1/messages", content=sent, headers=headers)
                    assert answer.status_code == 200 and answer.json()["content"][0]["text"]
            renamed, unchanged, duplicated = (r.body for r in up.requests)
            assert renamed == body.replace(b'"sonnet"', b'"claude-real"')
            assert unchanged == body.replace(b'"sonnet"', b'"claude-real"')
            # The first `model` is not the one the gateway routed (orjson keeps the last): re-encoded.
            assert b'"sonnet"' not in duplicated and duplicated.count(b'"model":"claude-real"') == 1

    run(scenario())


def test_the_bytes_go_as_they_came_only_where_the_kinds_body_changes_no_more_than_the_model() -> None:
    raw = b'{"model":"a","store":false,"messages":[]}'
    native = orjson.loads(raw)
    assert verbatim.payload(raw, native, dict(native)) is raw  # nothing changes
    gemini = b'{"contents":[]}'
    assert verbatim.payload(gemini, orjson.loads(gemini), dict(orjson.loads(gemini))) is None  # not its values
    parsed = orjson.loads(gemini)
    assert verbatim.payload(gemini, parsed, dict(parsed)) is gemini  # no model in the body: in the path
    assert verbatim.payload(raw, native, {**native, "model": "b"}) == raw.replace(b'"a"', b'"b"')
    assert verbatim.payload(raw, native, {**native, "store": False}) is raw  # the same value: unchanged
    assert verbatim.payload(raw, native, {**native, "store": True}) is None  # a value of the kind's own
    assert verbatim.payload(raw, native, {**native, "include": []}) is None  # a field added
    assert verbatim.payload(raw, native, {k: v for k, v in native.items() if k != "store"}) is None  # dropped


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"model":"a","x":1}', b'{"model":"b","x":1}'),
    (b' \n{ "model"\t:  "a" , "x":1}', b' \n{ "model"\t:  "b" , "x":1}'),
    (b'{"model":"\\u0061","x":1}', b'{"model":"b","x":1}'),
    (b'{"x":1,"model":"a"}', None),  # not the first member: the parsed body is encoded instead
    (b'{"model":"z","model":"a"}', None),  # not the value the gateway read
    (b'{"model":["a"]}', None),
])
def test_with_model_replaces_only_a_first_member_holding_the_routed_name(body: bytes, expected: bytes | None) -> None:
    assert verbatim.with_model(body, "a", "b") == expected


def test_a_same_dialect_call_never_decodes_the_conversation() -> None:
    """What makes a coding agent's turn cheap: its messages stay as they came, unread."""
    body = orjson.dumps({"model": "sonnet", "max_tokens": 50, "tools": TOOLS, "messages": [
        *HI, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "EqQB"},
                                               {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}]})
    async def scenario() -> None:
        async with FakeAnthropic() as up:
            up.script(text("Sunny."))
            up.signatures.add("EqQB")  # minted by Anthropic in an earlier turn
            provider = AnthropicProvider("claude", up.url, key="sk-ant-upstream", seal=Seal("s" * 32))
            request = MESSAGES.decode_request(ops.CHAT, orjson.loads(body), {b"anthropic-version": b"2023-06-01"}, {})
            request.raw = body
            try:
                answer = await provider.chat(request, "claude-real")
            finally:
                await provider.aclose()
            assert isinstance(answer, Body) and orjson.loads(answer.body)["content"][0]["text"] == "Sunny."
            assert up.requests[0].body == body.replace(b'"sonnet"', b'"claude-real"')
            assert isinstance(request, ir.DeferredChatRequest) and not request.decoded

    run(scenario())
