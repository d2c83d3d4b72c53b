"""Tests of the fake Anthropic upstream, driven by the official SDK pointed straight at it.

Why: the gateway's tests trust this fake to speak the real wire format and to reject what the real
API rejects. If the official client parses it correctly here, and the validation fires here, a
gateway test failure points at the gateway, not at the fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anthropic
import httpx2
import orjson
import pytest

from tests.fakes.anthropic_upstream import (
    FakeAnthropic,
    Usage,
    call,
    count_tokens,
    error,
    fail_mid_stream,
    redacted,
    reply,
    say,
    text,
    thinking,
    tool_use,
)
from tests.support import async_test, raw_post, sse_events

MESSAGES: list[Any] = [{"role": "user", "content": "Hi"}]
THINKING = {"type": "enabled", "budget_tokens": 1024}
WEATHER_TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}


def sdk(fake: FakeAnthropic, **credential: str) -> anthropic.AsyncAnthropic:
    """An SDK client for the fake; no retries, so one call is one request.

    The fake speaks plain HTTP, so the client skips loading the CA bundle, which costs ~30 ms a client.
    """
    http_client = anthropic.DefaultAsyncHttpxClient(verify=False)
    return anthropic.AsyncAnthropic(base_url=fake.url, max_retries=0, http_client=http_client, **credential)


@asynccontextmanager
async def served(**options: Any) -> AsyncIterator[tuple[FakeAnthropic, anthropic.AsyncAnthropic]]:
    """A running fake and an SDK client for it."""
    async with FakeAnthropic(**options) as fake:
        async with sdk(fake, api_key="sk-ant-test") as client:
            yield fake, client


@async_test
async def test_non_streamed_text_has_the_reference_shape() -> None:
    async with served() as (fake, client):
        counts = Usage(input_tokens=12, output_tokens=7, cache_read_input_tokens=4, cache_creation_input_tokens=3)
        weather = call("get_weather", '{"city":', '"Paris"}', id="toolu_9")
        fake.script(text("Hi", " there", usage=counts), tool_use(weather))
        first = await client.messages.create(model="claude-x", max_tokens=100, messages=MESSAGES)
        called = await client.messages.create(model="claude-x", max_tokens=100, messages=MESSAGES)
        default = await client.messages.create(model="other", max_tokens=100, messages=MESSAGES)

    assert first.id.startswith("msg_") and (first.type, first.role, first.model) == ("message", "assistant", "claude-x")
    assert [(b.type, b.text) for b in first.content] == [("text", "Hi there")]
    assert (first.stop_reason, first.stop_sequence, first.stop_details) == ("end_turn", None, None)
    usage = first.usage
    assert (usage.input_tokens, usage.output_tokens) == (12, 7)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (4, 3)
    assert usage.cache_creation and usage.cache_creation.ephemeral_5m_input_tokens == 3
    assert called.stop_reason == "tool_use"
    assert [(b.type, b.id, b.input) for b in called.content] == [
        ("tool_use", "toolu_9", {"city": "Paris"})
    ]
    # An empty script falls back to the default reply, echoing the requested model.
    assert (default.model, default.content[0].text) == ("other", "Hello from fake")
    sent = fake.requests[0]
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/messages", "")
    # SDK 2.x sends `api_key` as a bearer token, older ones as x-api-key: the fake takes either.
    assert "sk-ant-test" in (sent.api_key, sent.auth_token)
    assert "anthropic-version" in sent.headers and sent.json["max_tokens"] == 100


@async_test
async def test_streamed_text_and_cumulative_usage() -> None:
    async with served() as (fake, client):
        fake.script(text("Hel", "lo", usage=Usage(input_tokens=20, output_tokens=9, cache_read_input_tokens=5)))
        async with client.messages.stream(model="claude-x", max_tokens=100, messages=MESSAGES) as stream:
            pieces = [p async for p in stream.text_stream]
            final = await stream.get_final_message()

    assert pieces == ["Hel", "lo"]
    assert final.content[0].text == "Hello" and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_input_tokens) == (20, 9, 5)


@async_test
async def test_stream_framing_is_byte_exact() -> None:
    async with FakeAnthropic() as fake:
        fake.script(reply(thinking("Hm"), say("Hi"), call("f", "", '{"a":', "1}", id="toolu_1"), pings=1))
        body = {"model": "m", "max_tokens": 2000, "messages": MESSAGES, "stream": True, "thinking": THINKING}
        status, headers, raw = await raw_post(fake, "/v1/messages", body, HEADERS)

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert fake.requests[0].api_key == "sk-ant-test" and fake.requests[0].auth_token is None
    assert headers["request-id"].startswith("req_")
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n') and b"[DONE]" not in raw
    frames = sse_events(raw)
    events = []
    for frame in frames:
        payload = frame.json()
        assert payload["type"] == frame.name  # the SDK dispatches on the event line
        if payload["type"] == "ping":
            assert frame.data == b'{"type": "ping"}'
        else:
            assert frame.data == orjson.dumps(payload)  # compact JSON, exactly as orjson writes it
            events.append(payload)
    assert [f.name for f in frames[:3]] == ["message_start", "ping", "content_block_start"]
    assert raw.count(b"event: ping") == 1 + 6  # after message_start, and one before each of six deltas

    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"] == {
        "input_tokens": 10,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    shapes = [(e["type"], e.get("index"), (e.get("delta") or e.get("content_block") or {}).get("type")) for e in events]
    assert shapes[1:-2] == [
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, "tool_use"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
    ]
    assert events[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[3]["delta"]["signature"] in fake.signatures
    assert events[8]["content_block"] == {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    assert events[9]["delta"] == {"type": "input_json_delta", "partial_json": ""}
    assert events[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 5,
        },
    }


@async_test
async def test_streamed_thinking_and_parallel_tool_use_assemble() -> None:
    async with served() as (fake, client):
        fake.script(
            reply(
                thinking("Let me", " check."),
                call("get_weather", "", '{"city":', ' "Paris"}', id="toolu_a"),
                call("get_weather", '{"city": "Rome"}', id="toolu_b"),
            )
        )
        async with client.messages.stream(
            model="claude-x", max_tokens=2048, thinking=THINKING, tools=[WEATHER_TOOL], messages=MESSAGES
        ) as stream:
            final = await stream.get_final_message()

    assert final.stop_reason == "tool_use"
    first, *calls = final.content
    assert first.type == "thinking" and first.thinking == "Let me check."
    assert first.signature.startswith("sig_") and first.signature in fake.signatures
    assert [(c.type, c.id, c.input) for c in calls] == [
        ("tool_use", "toolu_a", {"city": "Paris"}),
        ("tool_use", "toolu_b", {"city": "Rome"}),
    ]


@async_test
async def test_redacted_thinking_streamed_and_whole() -> None:
    async with served() as (fake, client):
        fake.script(reply(redacted("opaque"), say("Hi")), reply(redacted("opaque"), say("Hi")))
        whole = await client.messages.create(model="m", max_tokens=2048, thinking=THINKING, messages=MESSAGES)
        async with client.messages.stream(model="m", max_tokens=2048, thinking=THINKING, messages=MESSAGES) as stream:
            streamed = await stream.get_final_message()

    for message in (whole, streamed):
        assert [b.type for b in message.content] == ["redacted_thinking", "text"]
        assert message.content[0].data == "opaque"


@pytest.mark.parametrize(
    ("options", "stop_reason", "stop_sequence"),
    [
        ({"stop_reason": "max_tokens"}, "max_tokens", None),
        ({"stop_sequence": "END"}, "stop_sequence", "END"),
        ({"stop_reason": "refusal"}, "refusal", None),
        ({"stop_reason": "pause_turn"}, "pause_turn", None),
        ({"stop_reason": "model_context_window_exceeded"}, "model_context_window_exceeded", None),
    ],
)
@async_test
async def test_stop_reason_overrides(options: dict[str, Any], stop_reason: str, stop_sequence: str | None) -> None:
    async with served() as (fake, client):
        fake.script(text("x", **options), text("x", **options))
        whole = await client.messages.create(model="m", max_tokens=10, messages=MESSAGES)
        async with client.messages.stream(model="m", max_tokens=10, messages=MESSAGES) as stream:
            streamed = await stream.get_final_message()

    for message in (whole, streamed):
        assert (message.stop_reason, message.stop_sequence) == (stop_reason, stop_sequence)
        details = message.stop_details
        assert (details.type if details else None) == ("refusal" if stop_reason == "refusal" else None)


@async_test
async def test_two_turn_tool_loop_with_thinking_and_a_tampered_signature() -> None:
    async with served() as (fake, client):
        fake.script(reply(thinking("I need the weather."), call("get_weather", '{"city": "Paris"}')), text("Sunny."))
        options: dict[str, Any] = {
            "model": "claude-x",
            "max_tokens": 2048,
            "thinking": THINKING,
            "tools": [WEATHER_TOOL],
        }
        async with client.messages.stream(messages=MESSAGES, **options) as stream:
            first = await stream.get_final_message()
        tool_id = first.content[1].id
        result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "sunny"}]}
        second = await client.messages.create(messages=[*MESSAGES, first.to_param(), result], **options)

        echoed = fake.requests[1].json["messages"][1]["content"]
        tampered = [{**echoed[0], "signature": echoed[0]["signature"] + "x"}, echoed[1]]
        with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
            await client.messages.create(
                messages=[*MESSAGES, {"role": "assistant", "content": tampered}, result], **options
            )

    assert second.content[0].text == "Sunny."
    assert echoed[0]["type"] == "thinking" and echoed[0]["signature"] in fake.signatures
    assert len(fake.requests) == 3


@async_test
async def test_thinking_required_in_tool_turns_unless_switched_off() -> None:
    call_turn = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}
    request: dict[str, Any] = {
        "model": "m",
        "max_tokens": 2048,
        "thinking": THINKING,
        "messages": [*MESSAGES, call_turn, result],
    }
    async with served() as (_, client):
        with pytest.raises(anthropic.BadRequestError, match="Expected `thinking` or `redacted_thinking`, but found"):
            await client.messages.create(**request)
        await client.messages.create(**{**request, "thinking": {"type": "disabled"}})
    async with served(require_thinking_in_tool_turns=False) as (_, client):
        await client.messages.create(**request)


def _request(**changes: Any) -> dict[str, Any]:
    """A valid messages body with `changes` applied; a value of None removes the field."""
    body: dict[str, Any] = {"model": "m", "max_tokens": 2048, "messages": MESSAGES, **changes}
    return {k: v for k, v in body.items() if v is not None}


def _tool_turns(tool_use_id: str, *results: Any) -> list[Any]:
    """User asks, assistant calls `tool_use_id`, user answers with `results` blocks."""
    turn = {"role": "assistant", "content": [{"type": "tool_use", "id": tool_use_id, "name": "f", "input": {}}]}
    return [*MESSAGES, turn, {"role": "user", "content": list(results)}]


def _result(tool_use_id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "ok"}


INVALID = {
    "no model": (_request(model=None), "model: Field required"),
    "no max_tokens": (_request(max_tokens=None), "max_tokens: Field required"),
    "no messages": (_request(messages=None), "messages: Field required"),
    "system role": (_request(messages=[{"role": "system", "content": "x"}]), "Input should be 'user' or 'assistant'"),
    "same role twice": (_request(messages=[*MESSAGES, *MESSAGES]), 'multiple "user" roles in a row'),
    "empty text block": (
        _request(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
        "text content blocks must be non-empty",
    ),
    "empty content": (_request(messages=[{"role": "user", "content": ""}]), "must have non-empty content"),
    "bad tool_use id": (
        _request(messages=_tool_turns("functions.f:0", _result("functions.f:0"))),
        "String should match pattern",
    ),
    "unknown tool_use_id": (_request(messages=_tool_turns("toolu_1", _result("toolu_2"))), "unexpected `tool_use_id`"),
    "tool_result not first": (
        _request(messages=_tool_turns("toolu_1", {"type": "text", "text": "see:"}, _result())),
        "`tool_result` blocks must come first",
    ),
    "tool_use unanswered": (
        _request(messages=_tool_turns("toolu_1", {"type": "text", "text": "hm"})),
        "`tool_use` ids were found without `tool_result` blocks",
    ),
    "budget below 1024": (
        _request(thinking={"type": "enabled", "budget_tokens": 1023}),
        "greater than or equal to 1024",
    ),
    "budget not below max_tokens": (
        _request(max_tokens=1024, thinking=THINKING),
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    ),
    "tool without a name": (
        _request(tools=[{"responses": {"type": "web_search"}}]), "tools.0.custom.name: Field required"
    ),
    "custom tool without a schema": (_request(tools=[{"name": "f"}]), "tools.0.custom.input_schema: Field required"),
    "server tool without a name": (
        _request(tools=[{"type": "web_search_20250305"}]), "tools.0.web_search_20250305.name: Field required"
    ),
    "temperature above 1": (_request(temperature=1.5), "temperature: Input should be less than or equal to 1"),
    "temperature with thinking": (_request(temperature=0.5, thinking=THINKING), "may only be set to 1"),
    "forced tool with thinking": (
        _request(thinking=THINKING, tool_choice={"type": "any"}),
        "Thinking may not be enabled when tool_choice forces tool use",
    ),
    "foreign signature": (
        _request(
            messages=[
                *MESSAGES,
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "EqQB"}]},
                *MESSAGES,
            ]
        ),
        "Invalid `signature` in `thinking` block",
    ),
}


@pytest.mark.parametrize(("body", "message"), INVALID.values(), ids=INVALID.keys())
@async_test
async def test_invalid_requests_are_rejected_like_the_real_api(body: dict[str, Any], message: str) -> None:
    async with served() as (fake, client):
        fake.script(text("never sent"))
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.post("/v1/messages", body=body, cast_to=object)
        # A rejected request consumes no scripted reply.
        accepted = await client.messages.create(model="m", max_tokens=10, messages=MESSAGES)

    assert message in caught.value.message
    error_body = caught.value.body
    assert isinstance(error_body, dict) and error_body["type"] == "error"
    assert error_body["error"]["type"] == "invalid_request_error"
    assert error_body["request_id"] == caught.value.response.headers["request-id"]
    assert accepted.content[0].text == "never sent"


@async_test
async def test_version_header_and_credential_are_required() -> None:
    async with FakeAnthropic() as fake:
        body = _request()
        no_version = await raw_post(fake, "/v1/messages", body, {"x-api-key": "k"})
        no_key = await raw_post(fake, "/v1/messages", body, {"anthropic-version": "2023-06-01"})
        async with sdk(fake, auth_token="tok") as client:
            await client.messages.create(**body)

    assert no_version[0] == 400 and b"anthropic-version: header is required" in no_version[2]
    assert no_key[0] == 401 and orjson.loads(no_key[2])["error"]["type"] == "authentication_error"
    assert fake.requests[-1].auth_token == "tok" and fake.requests[-1].api_key is None


@async_test
async def test_count_tokens_is_deterministic() -> None:
    messages = [
        {"role": "user", "content": "abcdefgh"},  # 8
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"text": "skip"}}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "1234"}]}],
        },
    ]
    async with served() as (fake, client):
        counted = await client.messages.count_tokens(model="m", system="system!", messages=messages)
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.count_tokens(model="m", messages=[{"role": "bot", "content": "x"}])

    assert counted.input_tokens == (7 + 8 + 4) // 4 + 1 == count_tokens(fake.requests[0].json)
    assert fake.requests[0].path == "/v1/messages/count_tokens"


@async_test
async def test_models_list_and_retrieve() -> None:
    async with served(models=["claude-a", "claude-b"]) as (fake, client):
        listed = [m async for m in client.models.list()]
        one = await client.models.retrieve("claude-b")
        with pytest.raises(anthropic.NotFoundError):
            await client.models.retrieve("missing")
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            async with session.get(f"{fake.url}/v1/models") as response:
                page = await response.json()

    assert [(m.type, m.id, m.display_name) for m in listed] == [
        ("model", "claude-a", "claude-a"),
        ("model", "claude-b", "claude-b"),
    ]
    assert one.id == "claude-b" and one.created_at.year == 2025
    assert (page["has_more"], page["first_id"], page["last_id"]) == (False, "claude-a", "claude-b")


@async_test
async def test_beta_query_string_is_ignored() -> None:
    async with served() as (fake, client):
        # Older SDKs add `?beta=true` to beta calls by themselves; 2.x no longer does.
        message = await client.beta.messages.create(
            model="m",
            max_tokens=10,
            messages=MESSAGES,
            betas=["interleaved-thinking-2025-05-14"],
            extra_query={"beta": "true"},
        )

    assert message.content[0].text == "Hello from fake"
    assert (fake.requests[0].path, fake.requests[0].query) == ("/v1/messages", "beta=true")
    assert fake.requests[0].headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"


@async_test
async def test_error_replies_raise_the_sdk_exceptions() -> None:
    async with served() as (fake, client):
        fake.script(error(529, "Overloaded"), error(429, "Slow down", headers={"retry-after": "7"}))
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            await client.messages.create(model="m", max_tokens=10, messages=MESSAGES, stream=True)
        with pytest.raises(anthropic.RateLimitError) as limited:
            await client.messages.create(model="m", max_tokens=10, messages=MESSAGES)

    assert overloaded.value.status_code == 529
    assert overloaded.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": overloaded.value.response.headers["request-id"],
    }
    assert limited.value.status_code == 429 and limited.value.response.headers["retry-after"] == "7"
    assert isinstance(limited.value.body, dict) and limited.value.body["error"]["type"] == "rate_limit_error"


@async_test
async def test_mid_stream_error_event_and_dropped_connection() -> None:
    async with served() as (fake, client):
        fake.script(
            fail_mid_stream("Hel", message="Overloaded now"), fail_mid_stream("Hel", drop=True), fail_mid_stream()
        )
        seen: list[str] = []
        with pytest.raises(anthropic.APIStatusError, match="overloaded_error") as caught:
            async with client.messages.stream(model="m", max_tokens=10, messages=MESSAGES) as stream:
                async for piece in stream.text_stream:
                    seen.append(piece)
        # A body cut short is an error, whatever class the SDK version wraps it in.
        with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
            async with client.messages.stream(model="m", max_tokens=10, messages=MESSAGES) as stream:
                async for piece in stream.text_stream:
                    seen.append(piece)
        # Not streamed, the same failure is a plain 529.
        with pytest.raises(anthropic.APIStatusError) as whole:
            await client.messages.create(model="m", max_tokens=10, messages=MESSAGES)

    assert seen == ["Hel", "Hel"]
    body = caught.value.body
    assert isinstance(body, dict) and body["error"] == {"type": "overloaded_error", "message": "Overloaded now"}
    assert whole.value.status_code == 529
    assert [r.json.get("stream", False) for r in fake.requests] == [True, True, False]
    assert fake.disconnects == 0  # the fake itself ended those streams


@async_test
async def test_gate_holds_events_and_early_close_counts_a_disconnect() -> None:
    gate = asyncio.Event()
    async with served() as (fake, client):
        fake.script(text("a", "b", gate=gate))
        stream = await client.messages.create(model="m", max_tokens=10, messages=MESSAGES, stream=True)
        assert (await anext(stream)).type == "message_start"
        # The upstream is parked on the gate: the next event must not arrive.
        next_event = asyncio.ensure_future(anext(stream))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(next_event), 0.05)
        gate.set()
        assert (await next_event).type == "content_block_start"  # the SDK skips pings
        rest = [e.type async for e in stream]
        assert rest[-2:] == ["message_delta", "message_stop"]
        assert fake.disconnects == 0  # a complete stream is not a disconnect

        fake.script(text("x", "y", gate=asyncio.Event()))
        early = await client.messages.create(model="m", max_tokens=10, messages=MESSAGES, stream=True)
        await anext(early)
        await early.close()
        await fake.wait_for_disconnects(1)  # noticed while parked on the gate, without setting it
        assert fake.disconnects == 1


@async_test
async def test_head_and_chunk_delays() -> None:
    async with served() as (fake, client):
        fake.script(text("late", head_delay=0.5), text("a", "b", chunk_delay=0.01))
        with pytest.raises(anthropic.APITimeoutError):
            await client.messages.create(model="m", max_tokens=10, messages=MESSAGES, timeout=0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with client.messages.stream(model="m", max_tokens=10, messages=MESSAGES) as stream:
            assert [p async for p in stream.text_stream] == ["a", "b"]
        # Seven events follow message_start (ping, block start, two deltas, block stop, message delta
        # and stop), each delayed.
        assert loop.time() - started >= 7 * 0.01
