"""OpenAI Chat Completions end to end: the official `openai` SDK, the gateway under uvicorn, and a
fake OpenAI-compatible upstream that records what it was sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from interlingua.adapters.storage.ledger import totals
from tests.asgi import run
from tests.fakes.openai_upstream import FakeOpenAI, Usage, call, text, tool_calls
from tests.harness import client, gateway, provider

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def test_models_list_and_get(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m1", "m2")},
                                               models={"fast": {"targets": ["up/m1"]}}) as (_, url):
            sdk = client(url)
            listed = await sdk.models.list()
            assert [m.id for m in listed.data] == ["fast", "all-minilm-l6-v2", "minilm-bm25", "m1", "m2"]
            assert {m.owned_by for m in listed.data} == {"interlingua", "local", "up"}
            assert [m.capabilities for m in listed.data] == [["chat"], ["embeddings"], ["rerank"], ["chat"], ["chat"]]
            assert (await sdk.models.retrieve("up/anything-else")).id == "up/anything-else"
            assert (await sdk.models.retrieve("fast")).owned_by == "interlingua"
            with pytest.raises(openai.NotFoundError, match="does not exist"):
                await sdk.models.retrieve("nope")

    run(scenario())


def test_non_streamed_completion_rewrites_only_the_model(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url)},
                                               models={"fast": {"targets": ["up/real-model"]}}) as (app, url):
            up.script(text("Hi", " there", usage=Usage(12, 3, cached_tokens=4, reasoning_tokens=1)))
            reply = await client(url).chat.completions.create(model="fast", messages=MESSAGES)
            assert reply.choices[0].message.content == "Hi there"
            assert reply.usage.prompt_tokens == 12 and reply.usage.prompt_tokens_details.cached_tokens == 4
            sent = up.requests[-1]
            assert sent.json == {"model": "real-model", "messages": MESSAGES}
            assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
            app.ledger.flush()  # type: ignore[union-attr]
        (row,) = totals(tmp_path / "usage.sqlite3")
        assert (row["model"], row["input_tokens"], row["cached_tokens"], row["output_tokens"],
                row["reasoning_tokens"]) == ("fast", 12, 4, 3, 1)

    run(scenario())


EVERY_FIELD: dict[str, Any] = {
    "messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "system", "content": [{"type": "text", "text": "sys"}], "name": "boss"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 3}"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}},
                                                               "required": ["city"], "additionalProperties": False},
                                                "strict": True}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": True,
    "response_format": {"type": "json_schema", "json_schema": {"name": "out", "strict": True,
                                                               "schema": {"type": "object", "properties": {}}}},
    "stop": ["END", "STOP"],
    "n": 2,
    "seed": 7,
    "logprobs": True,
    "top_logprobs": 2,
    "reasoning_effort": "low",
    "verbosity": "high",
    "max_completion_tokens": 300,
    "max_tokens": 300,
    "temperature": 0.5,
    "top_p": 0.9,
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
    "logit_bias": {"50256": -100},
    "user": "u-1",
    "safety_identifier": "s-1",
    "prompt_cache_key": "p-1",
    "metadata": {"team": "a"},
    "store": False,
    "service_tier": "auto",
}


def test_every_field_reaches_the_upstream_unchanged_but_the_model(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "gpt-x")}) as (_, url):
            extra = {"a_field_from_the_future": {"nested": [1, 2]}}
            reply = await client(url).chat.completions.create(model="gpt-x", extra_body=extra, **EVERY_FIELD)
            assert len(reply.choices) == 2 and reply.choices[0].logprobs is not None
            assert up.requests[-1].json == {"model": "gpt-x", **EVERY_FIELD, **extra}

    run(scenario())


def test_streams_pass_through_and_usage_is_asked_for_and_stripped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (app, url):
            sdk = client(url)
            up.script(text("Hel", "lo", usage=Usage(7, 2)), text("Hel", "lo", usage=Usage(7, 2)))
            plain = [c async for c in await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)]
            asked = [c async for c in await sdk.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True})]
            assert "".join(c.choices[0].delta.content or "" for c in plain if c.choices) == "Hello"
            assert all(c.usage is None for c in plain) and all(c.choices for c in plain)
            assert asked[-1].choices == [] and asked[-1].usage.total_tokens == 9
            assert [r.json["stream_options"] for r in up.requests] == [{"include_usage": True}] * 2
            assert "stream_options" not in EVERY_FIELD
            app.ledger.flush()  # type: ignore[union-attr]
        (row,) = totals(tmp_path / "usage.sqlite3")
        assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (2, 14, 4)

    run(scenario())


def test_parallel_tool_calls_stream_their_argument_fragments(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (_, url):
            up.script(tool_calls(call("get_weather", '{"ci', 'ty": "Oslo"}', id="call_a"),
                                 call("get_time", '{"tz"', ': "CET"}', id="call_b")))
            tools: Any = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                          for n in ("get_weather", "get_time")]
            async with client(url).chat.completions.stream(model="m", messages=MESSAGES, tools=tools) as stream:
                fragments = [e.arguments_delta for e in [e async for e in stream]
                             if e.type == "tool_calls.function.arguments.delta" and e.arguments_delta]
                final = await stream.get_final_completion()
            assert fragments == ['{"ci', 'ty": "Oslo"}', '{"tz"', ': "CET"}']
            calls = final.choices[0].message.tool_calls
            assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
                ("call_a", "get_weather", {"city": "Oslo"}), ("call_b", "get_time", {"tz": "CET"})]
            assert final.choices[0].finish_reason == "tool_calls"

    run(scenario())


def test_a_chunk_reaches_the_client_before_the_upstream_sends_the_next(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (_, url):
            gate = asyncio.Event()
            up.script(text("first", "second", gate=gate))
            stream = await client(url).chat.completions.create(model="m", messages=MESSAGES, stream=True)
            chunks = aiter(stream)
            first = await asyncio.wait_for(anext(chunks), 2)
            assert first.choices[0].delta.role == "assistant" and not gate.is_set()
            gate.set()
            rest = [c async for c in chunks]
            assert "".join(c.choices[0].delta.content or "" for c in rest) == "firstsecond"

    run(scenario())


def test_fallback_tries_the_next_target_on_429_and_5xx(tmp_path: Path) -> None:
    from tests.fakes.openai_upstream import error, refused_port

    async def scenario() -> None:
        async with FakeOpenAI() as busy, FakeOpenAI() as good:
            providers = {"busy": provider(busy.url), "good": provider(good.url),
                         "dead": provider(f"http://127.0.0.1:{refused_port()}/v1")}
            models = {"fast": {"targets": ["dead/a", "busy/b", "busy/c", "good/d"]}}
            async with gateway(tmp_path, providers=providers, models=models) as (_, url):
                busy.script(error(429, "slow down", headers={"retry-after": "3"}), error(500, "oops"))
                reply = await client(url).chat.completions.with_raw_response.create(model="fast", messages=MESSAGES)
                assert reply.headers["x-interlingua-upstream"] == "good/d"
                assert [r.json["model"] for r in busy.requests] == ["b", "c"]
                assert good.requests[-1].json["model"] == "d"

    run(scenario())


def test_gateway_keys_and_model_allow_lists(tmp_path: Path) -> None:
    keys = {"team-a": {"key": "sk-team-a-secret", "models": ["up/*"]},
            "admin": {"key_sha256": __import__("hashlib").sha256(b"sk-admin-secret").hexdigest()}}

    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(
                tmp_path, keys=keys, providers={"up": provider(up.url, "m"), "elsewhere": provider(up.url)},
                                               models={"other": {"targets": ["up/x"]}}) as (_, url):
            with pytest.raises(openai.AuthenticationError) as refused:
                await client(url, "sk-wrong-key").chat.completions.create(model="m", messages=MESSAGES)
            assert "sk-upstream-secret" not in str(refused.value.body)
            assert (await client(url, "sk-team-a-secret").chat.completions.create(model="m", messages=MESSAGES)).choices
            assert [m.id for m in (await client(url, "sk-team-a-secret").models.list()).data] == ["other", "m"]
            assert (await client(url, "sk-admin-secret").chat.completions.create(model="other", messages=MESSAGES))
            with pytest.raises(openai.PermissionDeniedError):
                await client(url, "sk-team-a-secret").chat.completions.create(model="elsewhere/x", messages=MESSAGES)
            assert all("sk-team-a-secret" not in r.body.decode() + str(r.headers) for r in up.requests)

    run(scenario())


def test_an_upstreams_cookies_are_not_sent_back_with_other_clients_requests(tmp_path: Path) -> None:
    """Upstreams set cookies (Cloudflare's `__cf_bm` on api.openai.com); one pool serves every
    client of the gateway, so a kept cookie would follow one client's answer into the next
    client's request. A host name, not an IP address: cookie jars ignore cookies from those."""
    from tests.fakes.openai_upstream import error

    async def scenario() -> None:
        async with FakeOpenAI() as up:
            named = up.url.replace("127.0.0.1", "localhost")
            async with gateway(tmp_path, providers={"up": provider(named, "m1")}) as (_, url):
                up.script(error(400, "bad", headers={"set-cookie": "__cf_bm=first-client; Path=/"}), text("Hi"))
                with pytest.raises(openai.BadRequestError):
                    await client(url).chat.completions.create(model="up/m1", messages=MESSAGES)
                reply = await client(url).chat.completions.create(model="up/m1", messages=MESSAGES)
                assert reply.choices[0].message.content == "Hi"
                assert [r.headers.get("cookie") for r in up.requests] == [None, None]

    run(scenario())
