"""Across dialects: Anthropic clients on an OpenAI-compatible upstream, OpenAI clients on Anthropic."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_client, anthropic_provider, client, gateway, provider
from tests.support import sse_events

HI: list[Any] = [{"role": "user", "content": "hi"}]
A_TOOLS: list[Any] = [{"name": "get_weather", "description": "weather",
                       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
O_TOOLS: list[Any] = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                                        "parameters": {"type": "object",
                                                                       "properties": {"city": {"type": "string"}}}}}]
PNG = "iVBORw0KGgo="


# Anthropic client -> OpenAI-compatible upstream ---------------------------------------------------


def test_anthropic_client_on_openai_upstream_translates_the_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            up.script(fo.text("Bonjour", usage=fo.Usage(30, 2, cached_tokens=10)))
            message = await anthropic_client(url).messages.create(
                model="gpt-x", max_tokens=300, stop_sequences=["END"], extra_body={"temperature": 0.3, "top_p": 0.9},
                system=[{"type": "text", "text": "be brief"}], metadata={"user_id": "u-7"},
                tools=A_TOOLS, tool_choice={"type": "auto", "disable_parallel_tool_use": True},
                thinking={"type": "enabled", "budget_tokens": 2048},
                messages=[{"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                    "data": "JVBERi0="}}]}])
            assert message.content[0].text == "Bonjour" and message.stop_reason == "end_turn"
            assert (message.usage.input_tokens, message.usage.cache_read_input_tokens,
                    message.usage.output_tokens) == (20, 10, 2)
            sent = up.requests[-1].json
            assert sent["messages"][0] == {"role": "system", "content": "be brief"}
            assert sent["messages"][1]["content"] == [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}}]
            assert (sent["max_completion_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (
                300, 0.3, 0.9, ["END"])
            assert sent["tools"] == O_TOOLS and sent["tool_choice"] == "auto"
            assert sent["parallel_tool_calls"] is False and sent["user"] == "u-7"
            assert sent["reasoning_effort"] == "medium"

    run(scenario())


RAG_TURN: list[Any] = [
    {"role": "user", "content": [
        {"type": "document", "title": "Returns", "context": "the shop's policy", "citations": {"enabled": True},
         "source": {"type": "text", "media_type": "text/plain", "data": "Refunds take five working days."}},
        {"type": "document", "source": {"type": "content", "content": [
            {"type": "text", "text": "Parcels leave at noon."}, {"type": "text", "text": "Express takes a day."}]}},
        {"type": "text", "text": "Search the help centre too."}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "search",
                                       "input": {"q": "refund"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
        {"type": "search_result", "source": "https://help.example/refunds", "title": "Refunds",
         "content": [{"type": "text", "text": "Refunds reach the card used to pay."}],
         "citations": {"enabled": True}}]}]},
]


@pytest.mark.parametrize("upstream", ["chat", "gemini"])
def test_text_documents_and_search_results_reach_another_upstream_as_text(tmp_path: Path, upstream: str) -> None:
    """Anthropic's plain-text and custom-content documents and its search results (a RAG tool's
    answer) have no block elsewhere: the upstream reads their title, context, source and text, where
    they were once sent as empty files, which the upstream refused."""
    from tests.fakes import gemini_upstream as fg
    from tests.harness import gemini_provider

    async def scenario() -> None:
        fake = fo.FakeOpenAI() if upstream == "chat" else fg.FakeGemini()
        made = provider if upstream == "chat" else gemini_provider
        async with fake as up, gateway(tmp_path, providers={"up": made(up.url, "m-x")}) as (_, url):
            up.script(fo.text("Five working days.") if upstream == "chat" else fg.text("Five working days."))
            message = await anthropic_client(url).messages.create(model="m-x", max_tokens=100, messages=RAG_TURN,
                                                                   tools=A_TOOLS)
            assert message.content[0].type == "text" and message.content[0].text == "Five working days."
            sent = up.requests[-1].json
            if upstream == "chat":
                assert sent["messages"][0]["content"][:2] == [
                    {"type": "text", "text": "Returns\n\nthe shop's policy\n\nRefunds take five working days."},
                    {"type": "text", "text": "Parcels leave at noon.\n\nExpress takes a day."}]
                assert sent["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": (
                    "Refunds\n\nhttps://help.example/refunds\n\nRefunds reach the card used to pay.")}
            else:
                assert [p["text"] for p in sent["contents"][0]["parts"][:2]] == [
                    "Returns\n\nthe shop's policy\n\nRefunds take five working days.",
                    "Parcels leave at noon.\n\nExpress takes a day."]
                answer = sent["contents"][2]["parts"][0]["functionResponse"]["response"]
                assert "https://help.example/refunds" in str(answer) and "Refunds reach the card" in str(answer)

    run(scenario())


def test_text_documents_and_search_results_go_back_to_anthropic_whole() -> None:
    from interlingua.adapters.dialects.anthropic_request import decode_messages_request, encode_messages_request

    decoded = decode_messages_request({"model": "m", "max_tokens": 10, "messages": RAG_TURN}, {})
    assert encode_messages_request(decoded, "m")["messages"] == RAG_TURN


def test_anthropic_client_streams_tool_arguments_from_openai_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            up.script(fo.text("Let me look.", reasoning=["thinking ", "hard"]).__class__(
                content=["Let me look."], reasoning=["thinking ", "hard"],
                tool_calls=[fo.call("get_weather", '{"ci', 'ty": "Oslo"}', id="call:weird/1")],
                usage=fo.Usage(12, 9)))
            raw_events: list[Any] = []
            async with anthropic_client(url).messages.stream(model="gpt-x", max_tokens=100, messages=HI,
                                                              tools=A_TOOLS) as stream:
                async for event in stream:
                    raw_events.append(event)
                final = await stream.get_final_message()
            assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
            assert final.content[0].thinking == "thinking hard"
            tool = final.content[2]
            assert tool.input == {"city": "Oslo"} and final.stop_reason == "tool_use"
            partials = [e.partial_json for e in raw_events if e.type == "input_json"]
            assert partials == ['{"ci', 'ty": "Oslo"}']
            assert final.usage.output_tokens == 9 and final.usage.input_tokens == 12
            # the foreign id is made valid for Anthropic and restored on the way back
            assert tool.id.startswith("b64_")
            history = [*HI, {"role": "assistant", "content": [{"type": "tool_use", "id": tool.id,
                                                               "name": "get_weather", "input": tool.input}]},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id,
                                                     "content": "-3 C", "is_error": False}]}]
            await anthropic_client(url).messages.create(model="gpt-x", max_tokens=100, messages=history,
                                                        tools=A_TOOLS)
            sent = up.requests[-1].json["messages"]
            assert sent[1]["tool_calls"][0]["id"] == "call:weird/1"
            assert sent[2] == {"role": "tool", "tool_call_id": "call:weird/1", "content": "-3 C"}

    run(scenario())


def test_anthropic_client_gets_pings_while_the_upstream_is_slow(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")},
                                                  server={"ping_seconds": 0.05}) as (_, url):
            up.script(fo.text("slow", " answer", chunk_delay=0.3))
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.post("/v1/messages", headers={"anthropic-version": "2023-06-01"},
                                          json={"model": "gpt-x", "max_tokens": 10, "messages": HI, "stream": True})
            frames = sse_events(response.content)
            names = [f.name for f in frames]
            assert names[0] == "message_start" and names[-1] == "message_stop"
            assert names.count("ping") >= 3
            assert all(f.name is not None and f.data.startswith(b"{") for f in frames)

    run(scenario())


def test_anthropic_client_sees_openai_upstream_errors_in_its_shape(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            up.script(fo.error(429, "Rate limit reached", headers={"retry-after": "2"}))
            with pytest.raises(anthropic.RateLimitError) as limited:
                await anthropic_client(url).messages.create(model="gpt-x", max_tokens=10, messages=HI)
            assert limited.value.body == {"type": "error", "error": {"type": "rate_limit_error",
                                                                     "message": "Rate limit reached"}}
            up.script(fo.fail_mid_stream("partial", message="upstream exploded"))
            with pytest.raises(anthropic.APIError, match="upstream exploded"):
                async with anthropic_client(url).messages.stream(model="gpt-x", max_tokens=10, messages=HI) as s:
                    async for _ in s:
                        pass

    run(scenario())


def test_count_tokens_on_an_openai_upstream_is_a_local_estimate(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-4o")}) as (_, url):
            words = " ".join(["the quick brown fox jumps over the lazy dog"] * 20)
            count = await anthropic_client(url).messages.count_tokens(
                model="gpt-4o", messages=[{"role": "user", "content": words}])
            assert count.input_tokens == 180 + 4 + 3  # 9 tokens a phrase in o200k, plus message framing
            assert up.requests == []

    run(scenario())


def test_count_tokens_on_a_gemini_upstream_is_geminis_count(tmp_path: Path) -> None:
    """Claude Code counts its turns' tokens: on a Gemini model the count is Gemini's countTokens of
    the translated turn (system, tools and messages), not an estimate."""
    from tests.fakes import gemini_upstream as fg
    from tests.harness import gemini_provider

    async def scenario() -> None:
        async with fg.FakeGemini(["gemini-2.5-flash"]) as up, gateway(
                tmp_path, providers={"gm": gemini_provider(up.url, "gemini-2.5-flash")}) as (_, url):
            count = await anthropic_client(url).messages.count_tokens(
                model="gemini-2.5-flash", system="Be brief.", messages=[{"role": "user", "content": "Hello there"}],
                tools=[{"name": "read", "description": "Read a file.", "input_schema": {
                    "type": "object", "properties": {"path": {"type": "string"}}}}])
            (asked,) = up.requests
            assert asked.path == "/v1beta/models/gemini-2.5-flash:countTokens"
            inner = asked.json["generateContentRequest"]
            assert inner["systemInstruction"]["parts"] == [{"text": "Be brief."}]
            assert inner["tools"][0]["functionDeclarations"][0]["name"] == "read"
            assert count.input_tokens == fg.count_tokens(asked.json)

    run(scenario())


# OpenAI client -> Anthropic upstream --------------------------------------------------------------


def test_openai_client_on_anthropic_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            up.script(fa.text("Hi", usage=fa.Usage(10, 2, cache_read_input_tokens=30, cache_creation_input_tokens=5)))
            reply = await client(url).chat.completions.create(
                model="c1", max_completion_tokens=200, temperature=1.7, stop=["END"], user="u-1",
                messages=[{"role": "system", "content": "sys"}, {"role": "developer", "content": "dev"},
                          {"role": "user", "content": [
                              {"type": "text", "text": "look"},
                              {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}],
                response_format={"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}})
            assert reply.choices[0].message.content == "Hi" and reply.choices[0].finish_reason == "stop"
            assert (reply.usage.prompt_tokens, reply.usage.prompt_tokens_details.cached_tokens,
                    reply.usage.completion_tokens) == (45, 30, 2)
            sent = up.requests[-1].json
            assert sent["system"] == [{"type": "text", "text": "sys"}, {"type": "text", "text": "dev"}]
            assert sent["messages"] == [{"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]
            assert (sent["max_tokens"], sent["temperature"], sent["stop_sequences"]) == (200, 1.0, ["END"])
            assert sent["metadata"] == {"user_id": "u-1"}
            assert sent["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}

    run(scenario())


def test_openai_client_tool_loop_with_thinking_on_anthropic(tmp_path: Path) -> None:
    """The Chat dialect has no slot for a signature: the gateway carries it between turns."""

    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            up.script(fa.reply(fa.thinking("weather ", "needed"), fa.call("get_weather", '{"city": ', '"Oslo"}')),
                      fa.text("Cold."))
            sdk = client(url)
            async with sdk.chat.completions.stream(model="c1", messages=HI, tools=O_TOOLS,
                                                   reasoning_effort="high") as stream:
                first = await stream.get_final_completion()
            assert up.requests[-1].json["thinking"] == {"type": "enabled", "budget_tokens": 4096}
            message = first.choices[0].message
            assert first.choices[0].finish_reason == "tool_calls"
            (call,) = message.tool_calls
            assert json.loads(call.function.arguments) == {"city": "Oslo"}
            history: list[Any] = [*HI, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                                  {"role": "tool", "tool_call_id": call.id, "content": "-3 C"}]
            second = await sdk.chat.completions.create(model="c1", messages=history, tools=O_TOOLS,
                                                       reasoning_effort="high")
            assert second.choices[0].message.content == "Cold."
            turn = up.requests[-1].json["messages"][1]["content"]
            assert turn[0]["type"] == "thinking" and turn[0]["signature"] in up.signatures
            assert turn[1] == {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Oslo"}}

    run(scenario())


def test_foreign_signatures_never_reach_anthropic(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fa.FakeAnthropic(require_thinking_in_tool_turns=False) as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            history: list[Any] = [*HI, {"role": "assistant", "content": "ok", "reasoning_content": "from elsewhere"},
                                  {"role": "user", "content": "again"}]
            await client(url).chat.completions.create(model="c1", messages=history)
            assert up.requests[-1].json["messages"][1] == {"role": "assistant",
                                                           "content": [{"type": "text", "text": "ok"}]}

    run(scenario())


def test_openai_client_sees_anthropic_overload_as_503(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            up.script(fa.error(529, "Overloaded"))
            with pytest.raises(openai.InternalServerError) as info:
                await client(url).chat.completions.create(model="c1", messages=HI)
            assert info.value.status_code == 503 and "Overloaded" in info.value.message
            up.script(fa.reply(fa.say("No."), stop_reason="refusal"),
                      fa.reply(fa.say("..."), stop_reason="max_tokens"))
            refusal = await client(url).chat.completions.create(model="c1", messages=HI)
            cut = await client(url).chat.completions.create(model="c1", messages=HI)
            assert (refusal.choices[0].finish_reason, cut.choices[0].finish_reason) == ("content_filter", "length")
            await asyncio.sleep(0)

    run(scenario())


def test_translated_answers_name_the_upstream_too(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            whole = await anthropic_client(url).messages.with_raw_response.create(model="gpt-x", max_tokens=5,
                                                                                   messages=HI)
            assert whole.headers["x-interlingua-upstream"] == "oa/gpt-x"
            async with anthropic_client(url).messages.with_streaming_response.create(
                    model="gpt-x", max_tokens=5, messages=HI, stream=True) as streamed:
                assert streamed.headers["x-interlingua-upstream"] == "oa/gpt-x"

    run(scenario())
