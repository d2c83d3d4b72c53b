"""Clients of every dialect on a Responses upstream (`api = "responses"`), the gateway keeping state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.asgi import run
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_client, client, gateway, provider

TOOLS: Any = [{"type": "function", "name": "get_weather", "description": "weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
               "strict": False}]
O_TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                                  "parameters": TOOLS[0]["parameters"]}}]


def responses_provider(url: str, *models: str) -> dict[str, Any]:
    return provider(url, *models, api="responses")


def test_responses_client_on_a_responses_upstream_with_gateway_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(
                tmp_path, providers={"r": responses_provider(up.url, "gpt-5")}) as (_, url):
            sdk = client(url)
            up.script(fr.reply(fr.reasoning("weather ", "needed"), fr.call("get_weather", '{"city":', ' "Oslo"}')),
                      fr.text("Cold."))
            async with sdk.responses.stream(model="gpt-5", input="Weather in Oslo?", tools=TOOLS,
                                            reasoning={"effort": "low"}) as stream:
                first = await stream.get_final_response()
            sent = up.requests[-1].json
            assert sent["store"] is False and sent["include"] == ["reasoning.encrypted_content"]
            reasoning_item, call = first.output[0], first.output[1]
            assert reasoning_item.type == "reasoning" and reasoning_item.encrypted_content in up.encrypted
            assert json.loads(call.arguments) == {"city": "Oslo"}
            second = await sdk.responses.create(model="gpt-5", previous_response_id=first.id, tools=TOOLS,
                                                input=[{"type": "function_call_output", "call_id": call.call_id,
                                                        "output": "-3 C"}])
            assert second.output_text == "Cold."
            sent = up.requests[-1].json
            assert "previous_response_id" not in sent
            kinds = [item.get("type", "message") for item in sent["input"]]
            assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
            assert sent["input"][1]["encrypted_content"] == reasoning_item.encrypted_content
            assert (await sdk.responses.retrieve(second.id)).output_text == "Cold."
            # What the client reads says what the gateway did, not what the stateless upstream was asked.
            assert (first.store, first.previous_response_id) == (True, None)
            assert (second.store, second.previous_response_id) == (True, first.id)
            kept = await sdk.responses.retrieve(second.id)
            assert (kept.store, kept.previous_response_id) == (True, first.id)

    run(scenario())


def test_a_passed_through_answer_says_what_the_gateway_did_with_the_state(tmp_path: Path) -> None:
    """`store`, `previous_response_id` and `conversation` as the client asked, in a Responses
    upstream's own bytes, whole and streamed, every snapshot of the stream included."""
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(
                tmp_path, providers={"r": responses_provider(up.url, "gpt-5")}) as (_, url):
            sdk = client(url)
            up.script(fr.text("One."), fr.text("Two."), fr.text("Three."), fr.text("Four."))
            first = await sdk.responses.create(model="gpt-5", input="Count.")
            assert (first.store, first.previous_response_id, first.conversation) == (True, None, None)
            unstored = await sdk.responses.create(model="gpt-5", input="Again.", store=False,
                                                  previous_response_id=first.id)
            assert (unstored.store, unstored.previous_response_id) == (False, first.id)
            made = await sdk.conversations.create()
            snapshots = []
            async with sdk.responses.stream(model="gpt-5", input="On.", conversation=made.id) as stream:
                async for event in stream:
                    if event.type in ("response.created", "response.in_progress", "response.completed"):
                        snapshots.append(event.response)
                streamed = await stream.get_final_response()
            assert [s.store for s in snapshots] == [True, True, True]
            assert all(s.conversation is not None and s.conversation.id == made.id for s in snapshots)
            assert streamed.output_text == "Three." and streamed.conversation is not None
            whole = await sdk.responses.create(model="gpt-5", input="Last.", conversation={"id": made.id})
            assert whole.conversation is not None and whole.conversation.id == made.id and whole.store is True
            kept = await sdk.responses.retrieve(whole.id)
            assert kept.conversation is not None and kept.conversation.id == made.id
            assert all(request.json["store"] is False and "conversation" not in request.json
                       for request in up.requests)

    run(scenario())


def test_chat_client_on_a_responses_upstream_carries_encrypted_reasoning(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(
                tmp_path, providers={"r": responses_provider(up.url, "gpt-5")}) as (_, url):
            sdk = client(url)
            up.script(fr.reply(fr.reasoning("thinking"), fr.call("get_weather", '{"city": "Oslo"}')),
                      fr.text("Cold."))
            stream = await sdk.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "w?"}],
                                                       tools=O_TOOLS, stream=True, reasoning_effort="low")
            chunks = [c async for c in stream]
            calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
            call_id = calls[0].id
            assert "".join(tc.function.arguments or "" for tc in calls) == '{"city": "Oslo"}'
            assert up.requests[-1].json["tools"] == [{**TOOLS[0]}]
            history: list[Any] = [{"role": "user", "content": "w?"},
                                  {"role": "assistant", "content": None, "tool_calls": [
                                      {"id": call_id, "type": "function",
                                       "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
                                  {"role": "tool", "tool_call_id": call_id, "content": "-3 C"}]
            second = await sdk.chat.completions.create(model="gpt-5", messages=history, tools=O_TOOLS)
            assert second.choices[0].message.content == "Cold."
            sent = up.requests[-1].json["input"]
            reasoning = [i for i in sent if i.get("type") == "reasoning"]
            assert len(reasoning) == 1 and reasoning[0]["encrypted_content"] in up.encrypted
            assert [i.get("type") for i in sent[-2:]] == ["function_call", "function_call_output"]

    run(scenario())


def test_anthropic_client_on_a_responses_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(
                tmp_path, providers={"r": responses_provider(up.url, "gpt-5")}) as (_, url):
            up.script(fr.text("Bon", "jour", usage=fr.Usage(30, 2, cached_tokens=10)))
            async with anthropic_client(url).messages.stream(model="gpt-5", max_tokens=50, system="be brief",
                                                              messages=[{"role": "user", "content": "hi"}]) as stream:
                pieces = [t async for t in stream.text_stream]
                final = await stream.get_final_message()
            assert "".join(pieces) == "Bonjour"
            assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (20, 10)
            sent = up.requests[-1].json
            assert sent["input"][0] == {"type": "message", "role": "system",
                                        "content": [{"type": "input_text", "text": "be brief"}]}
            assert sent["max_output_tokens"] == 50

    run(scenario())


def test_input_tokens_from_a_responses_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(
                tmp_path, providers={"r": responses_provider(up.url, "gpt-5")}) as (_, url):
            count = await client(url).responses.input_tokens.count(model="gpt-5", input="hello there")
            assert count.input_tokens == fr.count_tokens([{"role": "user", "content": "hello there"}])
            assert up.requests[-1].path == "/v1/responses/input_tokens"

    run(scenario())
