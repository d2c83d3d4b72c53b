"""Tests of the fake OpenAI upstream, driven by the official SDK pointed straight at it.

Why: the gateway's tests trust this fake to speak the real wire format. If the official client
parses it correctly here, a gateway test failure points at the gateway, not at the fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import openai
import orjson
import pytest

from tests.fakes.openai_upstream import (
    FakeOpenAI,
    ResettingUpstream,
    Usage,
    call,
    custom_call,
    error,
    fail_mid_stream,
    refused_port,
    text,
    tool_calls,
)
from tests.support import async_test, raw_post, sse_events

MESSAGES = [{"role": "user", "content": "Hi"}]


@asynccontextmanager
async def served(**options: object) -> AsyncIterator[tuple[FakeOpenAI, openai.AsyncOpenAI]]:
    """A running fake and an SDK client for it; no retries, so one call is one request."""
    async with FakeOpenAI(**options) as fake:
        async with openai.AsyncOpenAI(base_url=fake.url, api_key="sk-test", max_retries=0) as client:
            yield fake, client


async def raw_stream(fake: FakeOpenAI, body: dict[str, object]) -> bytes:
    """The exact bytes of a streamed reply, to check framing that the SDK would hide."""
    _, headers, raw = await raw_post(fake, "/chat/completions", body, {})
    assert headers["content-type"].startswith("text/event-stream")
    return raw


@async_test
async def test_non_streamed_text_has_the_reference_shape() -> None:
    async with served() as (fake, client):
        counts = Usage(prompt_tokens=12, completion_tokens=7, cached_tokens=4, reasoning_tokens=2)
        fake.script(text("Hi", " there", usage=counts))
        first = await client.chat.completions.create(model="gpt-x", messages=MESSAGES)
        default = await client.chat.completions.create(model="other", messages=MESSAGES)

    assert first.id.startswith("chatcmpl-") and first.object == "chat.completion"
    assert first.model == "gpt-x" and first.system_fingerprint == "fp_fake"
    choice = first.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert choice.message.content == "Hi there"
    assert (choice.message.refusal, choice.message.annotations, choice.message.tool_calls) == (None, [], None)
    usage = first.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 7, 19)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 4
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 2
    # An empty script falls back to the default reply, echoing the requested model.
    assert (default.model, default.choices[0].message.content) == ("other", "Hello from fake")


@async_test
async def test_streamed_text_reports_usage_only_when_asked() -> None:
    async with served() as (fake, client):
        fake.script(text("Hel", "lo"), text("Hel", "lo"))
        plain = [c async for c in await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)]
        with_usage = [
            c
            async for c in await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        ]

    assert plain[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in plain) == "Hello"
    assert plain[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in plain)
    assert len({c.id for c in plain}) == 1

    *content, last = with_usage
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens == 15
    assert all(c.usage is None for c in content) and content[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("include_usage", [False, True])
@async_test
async def test_stream_framing_is_byte_exact(include_usage: bool) -> None:
    async with FakeOpenAI() as fake:
        fake.script(text("Hi"))
        request = {"model": "m", "messages": MESSAGES, "stream": True}
        if include_usage:
            request["stream_options"] = {"include_usage": True}
        raw = await raw_stream(fake, request)

    assert raw.endswith(b"\n\ndata: [DONE]\n\n") and b"event:" not in raw
    frames = sse_events(raw)[:-1]
    chunks = [frame.json() for frame in frames]
    assert all(frame.data == orjson.dumps(frame.json()) for frame in frames)  # compact, as orjson writes it
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hi"}, {}]
    if include_usage:
        assert all(c["usage"] is None for c in chunks[:-1])
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 15
    else:
        assert all("usage" not in c for c in chunks)


@async_test
async def test_parallel_tool_calls_stream_and_assemble() -> None:
    weather = call("get_weather", '{"ci', 'ty":"Paris"}', id="call_1")
    clock = call("get_time", '{"tz":', '"CET"}', id="call_2")
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_time")
    ]
    async with served() as (fake, client):
        fake.script(tool_calls(weather, clock), tool_calls(weather, clock))
        async with client.chat.completions.stream(model="m", messages=MESSAGES, tools=tools) as stream:
            async for _ in stream:
                pass
            final = await stream.get_final_completion()
        raw = await raw_stream(fake, {"model": "m", "messages": MESSAGES, "stream": True})

    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assembled = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
    assert assembled == [("call_1", "get_weather", '{"city":"Paris"}'), ("call_2", "get_time", '{"tz":"CET"}')]
    # The first fragment of each call names it; later fragments carry only index and arguments.
    calls = [f.json()["choices"][0]["delta"].get("tool_calls") for f in sse_events(raw)[1:-2]]
    named = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    assert calls[0] == [named]
    assert calls[1] == [{"index": 0, "function": {"arguments": '{"ci'}}]
    assert calls[3][0]["index"] == 1 and calls[3][0]["id"] == "call_2"


@async_test
async def test_custom_tool_call_carries_its_raw_input() -> None:
    patch = custom_call("apply_patch", "*** Begin Patch\n", "*** End Patch\n", id="call_p")
    async with served() as (fake, client):
        fake.script(tool_calls(patch), tool_calls(patch))
        whole = await client.chat.completions.create(model="m", messages=MESSAGES)
        raw = await raw_stream(fake, {"model": "m", "messages": MESSAGES, "stream": True})

    (made,) = whole.choices[0].message.tool_calls or []
    assert made.type == "custom" and (made.id, made.custom.name) == ("call_p", "apply_patch")
    assert made.custom.input == "*** Begin Patch\n*** End Patch\n"
    calls = [f.json()["choices"][0]["delta"].get("tool_calls") for f in sse_events(raw)[1:-2]]
    named = {"index": 0, "id": "call_p", "type": "custom", "custom": {"name": "apply_patch", "input": ""}}
    assert calls == [[named], [{"index": 0, "custom": {"input": "*** Begin Patch\n"}}],
                     [{"index": 0, "custom": {"input": "*** End Patch\n"}}]]


@async_test
async def test_reasoning_logprobs_and_n_choices() -> None:
    async with served() as (fake, client):
        fake.script(text("A", "B", reasoning=["Hmm", "."]), text("A", "B"))
        whole = await client.chat.completions.create(
            model="m", messages=MESSAGES, n=2, logprobs=True, top_logprobs=2
        )
        chunks = [
            c
            async for c in await client.chat.completions.create(
                model="m", messages=MESSAGES, n=2, logprobs=True, stream=True
            )
        ]

    assert [c.index for c in whole.choices] == [0, 1]
    message = whole.choices[0].message
    assert message.content == "AB" and message.reasoning_content == "Hmm."
    logprobs = whole.choices[1].logprobs
    assert logprobs is not None and [t.token for t in logprobs.content or []] == ["A", "B"]
    assert [t.token for t in (logprobs.content or [])[0].top_logprobs] == ["A", "alt1"]

    assert [c.choices[0].index for c in chunks] == [0, 1] * 4  # role, A, B, finish, interleaved
    content = [c for c in chunks if c.choices[0].delta.content]
    assert [c.choices[0].logprobs.content[0].token for c in content if c.choices[0].logprobs] == ["A", "A", "B", "B"]


@pytest.mark.parametrize(
    ("status", "exception"),
    [(400, openai.BadRequestError), (429, openai.RateLimitError), (503, openai.InternalServerError)],
)
@async_test
async def test_error_reply_raises_the_sdk_exception(status: int, exception: type[openai.APIStatusError]) -> None:
    async with served() as (fake, client):
        fake.script(error(status, "Nope, try later", code="some_code", headers={"retry-after": "7"}))
        with pytest.raises(exception) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    assert caught.value.status_code == status and caught.value.code == "some_code"
    assert "Nope, try later" in caught.value.message
    assert caught.value.response.headers["retry-after"] == "7"


@async_test
async def test_mid_stream_error_frame_and_dropped_connection() -> None:
    async with served() as (fake, client):
        fake.script(fail_mid_stream("Hel", message="boom"), fail_mid_stream("Hel", drop=True))
        seen: list[str] = []
        with pytest.raises(openai.APIError, match="boom"):
            async for chunk in await client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                seen.append(chunk.choices[0].delta.content or "")
        with pytest.raises(openai.APIConnectionError):
            async for chunk in await client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                seen.append(chunk.choices[0].delta.content or "")

    assert seen == ["", "Hel", "", "Hel"]
    assert fake.disconnects == 0  # the fake itself ended those streams


@async_test
async def test_requests_are_recorded() -> None:
    async with served(models=["a", "org/b"]) as (fake, client):
        await client.chat.completions.create(
            model="gpt-x", messages=MESSAGES, temperature=0.5, extra_headers={"X-Trace": "t1"}
        )
        listed = await client.models.list()
        one = await client.models.retrieve("org/b")
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("missing")

    chat = fake.requests[0]
    assert (chat.method, chat.path) == ("POST", "/v1/chat/completions")
    assert chat.headers["authorization"] == "Bearer sk-test" and chat.headers["x-trace"] == "t1"
    assert chat.json == orjson.loads(chat.body)
    assert chat.json["model"] == "gpt-x" and chat.json["messages"] == MESSAGES and chat.json["temperature"] == 0.5
    assert [m.id for m in listed.data] == ["a", "org/b"] and one.owned_by == "fake"
    assert [r.path for r in fake.requests[1:]] == ["/v1/models", "/v1/models/org/b", "/v1/models/missing"]


@async_test
async def test_gate_holds_chunks_and_early_close_counts_a_disconnect() -> None:
    gate = asyncio.Event()
    async with served() as (fake, client):
        fake.script(text("a", "b", gate=gate))
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert (await anext(stream)).choices[0].delta.role == "assistant"
        # The upstream is parked on the gate: the next chunk must not arrive.
        next_chunk = asyncio.ensure_future(anext(stream))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(next_chunk), 0.05)
        gate.set()
        assert (await next_chunk).choices[0].delta.content == "a"
        assert [c.choices[0].delta.content for c in [c async for c in stream]] == ["b", None]
        assert fake.disconnects == 0  # a complete stream is not a disconnect

        held = asyncio.Event()
        fake.script(text("x", "y", gate=held))
        early = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        await anext(early)
        await early.close()
        await fake.wait_for_disconnects(1)  # noticed while parked on the gate, without setting it
        assert fake.disconnects == 1


@async_test
async def test_unreachable_upstreams_raise_connection_errors() -> None:
    async with ResettingUpstream() as resetting:
        for url in (f"http://127.0.0.1:{refused_port()}/v1", resetting.url):
            async with openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0) as client:
                with pytest.raises(openai.APIConnectionError):
                    await client.chat.completions.create(model="m", messages=MESSAGES)
    assert resetting.connections == 1


@async_test
async def test_head_delay_trips_client_timeout() -> None:
    async with served() as (fake, client):
        fake.script(text("late", head_delay=0.5))
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=MESSAGES, timeout=0.05)
