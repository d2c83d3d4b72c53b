"""Responses clients (the `openai` SDK's `responses` API, as Codex CLI speaks it) on upstreams that
speak other dialects, with the gateway keeping the conversation state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects.openai_responses_request import decode_responses_request
from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_provider, client, gateway, gemini_provider, provider
from tests.support import read_all, sse_events
from tests.test_client_fixtures import load, replay

TOOLS: Any = [{"type": "function", "name": "get_weather", "description": "weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def test_create_retrieve_continue_and_delete_on_a_chat_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            sdk = client(url)
            up.script(fo.text("Paris.", usage=fo.Usage(20, 2, cached_tokens=5, reasoning_tokens=1)),
                      fo.text("About 2.1 million."))
            first = await sdk.responses.create(model="gpt-x", input="Capital of France?", instructions="be brief",
                                               max_output_tokens=100, temperature=0.3,
                                               text={"format": {"type": "text"}, "verbosity": "low"},
                                               reasoning={"effort": "low"}, metadata={"k": "v"})
            assert first.output_text == "Paris." and first.status == "completed"
            assert (first.usage.input_tokens, first.usage.input_tokens_details.cached_tokens,
                    first.usage.output_tokens_details.reasoning_tokens) == (20, 5, 1)
            assert first.instructions == "be brief" and first.metadata == {"k": "v"}
            sent = up.requests[-1].json
            assert sent["messages"] == [{"role": "developer", "content": "be brief"},
                                        {"role": "user", "content": "Capital of France?"}]
            assert (sent["max_completion_tokens"], sent["temperature"], sent["verbosity"],
                    sent["reasoning_effort"]) == (100, 0.3, "low", "low")
            second = await sdk.responses.create(model="gpt-x", input="Population?", previous_response_id=first.id)
            assert second.output_text == "About 2.1 million." and second.previous_response_id == first.id
            assert [m["role"] for m in up.requests[-1].json["messages"]] == ["user", "assistant", "user"]
            assert up.requests[-1].json["messages"][1]["content"] == "Paris."
            assert (await sdk.responses.retrieve(first.id)).output_text == "Paris."
            items = await sdk.responses.input_items.list(second.id)
            assert [i.content[0].text for i in items.data] == ["Population?"]
            said = [{"role": "user", "content": f"Part {n}."} for n in range(3)]
            third = await sdk.responses.create(model="gpt-x", input=said)  # type: ignore[arg-type]
            newest = await sdk.responses.input_items.list(third.id, limit=2)  # newest first, as the API lists
            assert [i.content[0].text for i in newest.data] == ["Part 2.", "Part 1."] and newest.has_more
            every = [i.content[0].text async for i in sdk.responses.input_items.list(third.id, order="asc", limit=1)]
            assert every == ["Part 0.", "Part 1.", "Part 2."]  # the SDK paged by `after` three times
            with pytest.raises(openai.BadRequestError) as too_many:
                await sdk.responses.input_items.list(third.id, limit=101)
            assert too_many.value.body["param"] == "limit"  # type: ignore[index]
            deleted = await sdk.responses.delete(first.id)
            assert deleted is None or getattr(deleted, "deleted", True)
            with pytest.raises(openai.NotFoundError):
                await sdk.responses.retrieve(first.id)
            with pytest.raises(openai.NotFoundError) as gone:
                await sdk.responses.create(model="gpt-x", input="again", previous_response_id=first.id)
            assert gone.value.body["param"] == "previous_response_id"  # type: ignore[index]

    run(scenario())


def test_streamed_function_calling_loop_on_a_chat_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            sdk = client(url)
            up.script(fo.Reply(content=["Let me check."], reasoning=["weather", " needed"],
                               tool_calls=[fo.call("get_weather", '{"ci', 'ty": "Oslo"}', id="call_1")]),
                      fo.text("Cold."))
            events: list[Any] = []
            async with sdk.responses.stream(model="gpt-x", input="Weather in Oslo?", tools=TOOLS) as stream:
                async for event in stream:
                    events.append(event)
                final = await stream.get_final_response()
            numbers = [e.sequence_number for e in events]
            assert numbers == list(range(len(events)))
            kinds = [e.type for e in events]
            assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
            assert [i.type for i in final.output] == ["reasoning", "message", "function_call"]
            assert final.output == events[-1].response.output
            done = [e.item for e in events if e.type == "response.output_item.done"]
            assert [i.id for i in done] == [i.id for i in final.output]
            call = final.output[2]
            assert (call.call_id, call.name, json.loads(call.arguments)) == ("call_1", "get_weather", {"city": "Oslo"})
            assert [e.delta for e in events if e.type == "response.function_call_arguments.delta"] == [
                '{"ci', 'ty": "Oslo"}']
            assert up.requests[-1].json["tools"] == [{"type": "function", "function": {
                "name": "get_weather", "description": "weather", "parameters": TOOLS[0]["parameters"], "strict": True}}]
            second = await sdk.responses.create(model="gpt-x", previous_response_id=final.id, tools=TOOLS,
                                                input=[{"type": "function_call_output", "call_id": "call_1",
                                                        "output": "-3 C"}])
            assert second.output_text == "Cold."
            sent = up.requests[-1].json["messages"]
            assert sent[1]["tool_calls"][0]["id"] == "call_1" and sent[1]["reasoning_content"] == "weather needed"
            assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "-3 C"}

    run(scenario())


def test_stateless_loop_on_anthropic_carries_the_thinking(tmp_path: Path) -> None:
    """store: false and no previous_response_id: the client echoes items, the gateway the signature."""

    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            sdk = client(url)
            up.script(fa.reply(fa.thinking("need weather"), fa.call("get_weather", '{"city": "Oslo"}')),
                      fa.text("Cold."))
            first = await sdk.responses.create(model="c1", input="Weather?", tools=TOOLS, store=False,
                                               reasoning={"effort": "medium"},
                                               include=["reasoning.encrypted_content"])
            assert up.requests[-1].json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
            call = next(i for i in first.output if i.type == "function_call")
            echoed = [i.model_dump(exclude_none=True) for i in first.output]
            second = await sdk.responses.create(model="c1", tools=TOOLS, store=False, reasoning={"effort": "medium"},
                                                input=[{"role": "user", "content": "Weather?"}, *echoed,
                                                       {"type": "function_call_output", "call_id": call.call_id,
                                                        "output": "-3 C"}])
            assert second.output_text == "Cold."
            turn = up.requests[-1].json["messages"][1]["content"]
            assert turn[0]["type"] == "thinking" and turn[0]["signature"] in up.signatures
            with pytest.raises(openai.NotFoundError):
                await sdk.responses.retrieve(first.id)

    run(scenario())


def test_responses_on_gemini_and_incomplete_answers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, "m")}) as (_, url):
            up.script(fg.reply(fg.say("Part"), finish_reason="MAX_TOKENS"))
            response = await client(url).responses.create(model="m", input="Write a lot", max_output_tokens=5)
            assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
            assert up.requests[-1].json["generationConfig"]["maxOutputTokens"] == 5

    run(scenario())


def test_input_tokens_and_malformed_items(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-4o")}) as (_, url):
            count = await client(url).responses.input_tokens.count(model="gpt-4o", input="hello world")
            assert count.input_tokens == 2 + 4 + 3
            with pytest.raises(openai.BadRequestError) as bad:
                await client(url).responses.create(model="gpt-4o", input=[
                    {"role": "user", "content": "hi"}, {"type": "function_call", "name": "f", "arguments": "{}"}])
            assert bad.value.body["param"] == "input[1].call_id"  # type: ignore[index]
            assert up.requests == []

    run(scenario())


def test_codex_cli_requests_on_a_chat_upstream(tmp_path: Path) -> None:
    """Codex's real first and tool-result turns: developer messages, custom apply_patch tool,
    hosted tools, item ids the gateway never issued."""

    async def scenario() -> None:
        for name in ("codex.first-request.json", "codex.tool-result-request.json"):
            fixture = load(name)
            aliases = {fixture["body"]["model"]: {"targets": ["oa/gpt-x"]}}
            async with fo.FakeOpenAI() as up, gateway(tmp_path / name, providers={"oa": provider(up.url)},
                                                      models=aliases) as (_, url):
                async with httpx.AsyncClient(base_url=url) as raw:
                    body = {**fixture["body"], "tools": [t for t in fixture["body"]["tools"]
                                                         if t.get("type") in ("function", "custom")]}
                    response = await raw.post("/v1/responses", content=orjson.dumps(body),
                                              headers={"content-type": "application/json"})
                assert response.status_code == 200, response.text
                names = [f.name for f in sse_events(response.content)]
                assert names[0] == "response.created" and names[-1] == "response.completed"
                sent = up.requests[-1].json
                assert sent["messages"][0]["role"] == "developer"
                assert any(t["type"] == "custom" for t in sent["tools"])
        assert replay  # the shared replay helper serves Anthropic fixtures; Codex needs its tools filtered

    run(scenario())


def test_stored_responses_survive_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up:
            providers = {"oa": provider(up.url, "gpt-x")}
            async with gateway(tmp_path, providers=providers) as (_, url):
                first = await client(url).responses.create(model="gpt-x", input="remember me")
            async with gateway(tmp_path, providers=providers) as (_, url):
                again = await client(url).responses.retrieve(first.id)
                assert again.output_text == first.output_text == "Hello from fake"
                await client(url).responses.create(model="gpt-x", input="and now?", previous_response_id=first.id)
                assert [m["role"] for m in up.requests[-1].json["messages"]] == ["user", "assistant", "user"]

    run(scenario())


def test_compaction_on_an_upstream_that_cannot_compact(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            up.script(fo.text("The user likes Oslo; asked about weather."), fo.text("Still cold."))
            history: Any = [{"role": "user", "content": "I love Oslo " * 40},
                            {"role": "assistant", "content": "Nice city."},
                            {"role": "user", "content": "Weather there?"}]
            reply = await client(url).responses.create(model="gpt-x", input=history, instructions="be brief",
                                                       extra_body={"context_management": [
                                                           {"type": "compaction", "compact_threshold": 50}]})
            assert reply.output_text == "Still cold."
            summary_request, main_request = (r.json for r in up.requests[-2:])
            assert "I love Oslo" in summary_request["messages"][1]["content"]
            assert [m["role"] for m in main_request["messages"]] == ["developer", "user", "user"]
            assert main_request["messages"][1]["content"].endswith("The user likes Oslo; asked about weather.")
            assert main_request["messages"][2]["content"] == "Weather there?"

    run(scenario())


def test_streamed_and_whole_answers_assemble_the_same(tmp_path: Path) -> None:
    def shape(response: Any) -> list[Any]:
        """The output without ids, which differ, and the SDK's `parsed` fields, which only streams carry."""
        items = [item.model_dump(exclude={"id", "parsed_arguments"}) for item in response.output]
        for item in items:
            for part in item.get("content") or ():
                part.pop("parsed", None)
        return items

    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            answer = fo.Reply(content=["Two ", "calls."], reasoning=["hmm"],
                              tool_calls=[fo.call("get_weather", '{"city": "Oslo"}', id="call_a"),
                                          fo.call("get_weather", '{"city": "Rome"}', id="call_b")])
            up.script(answer, answer)
            whole = await client(url).responses.create(model="gpt-x", input="w?", tools=TOOLS)
            async with client(url).responses.stream(model="gpt-x", input="w?", tools=TOOLS) as stream:
                streamed = await stream.get_final_response()
            assert shape(whole) == shape(streamed)
            assert [i.type for i in whole.output] == ["reasoning", "message", "function_call", "function_call"]
            assert whole.usage == streamed.usage

    run(scenario())


def test_a_failure_mid_stream_ends_with_response_failed_and_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            up.script(fo.fail_mid_stream("partial", message="upstream exploded"))
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.post("/v1/responses", json={"model": "gpt-x", "input": "hi", "stream": True})
            events = [f.json() for f in sse_events(response.content)]
            assert [e["sequence_number"] for e in events] == list(range(len(events)))
            assert [e["type"] for e in events[-2:]] == ["response.failed", "error"]
            assert events[-2]["response"]["error"]["message"] == "upstream exploded"
            assert any(e["type"] == "response.output_text.delta" and e["delta"] == "partial" for e in events)

    run(scenario())


@pytest.mark.parametrize("fields, param", [
    ({"input": [{"type": ["message"], "role": "user", "content": "x"}]}, "input[0].type"),
    ({"input": [{"type": "reasoning", "summary": 3}]}, "input[0].summary"),
    ({"input": [{"type": "reasoning", "summary": [{"text": ["t"]}]}]}, "input[0].summary[0].text"),
    ({"input": [{"type": "reasoning", "encrypted_content": {}}]}, "input[0].encrypted_content"),
    ({"tool_choice": {"type": "allowed_tools", "tools": [{"name": ["f"]}]}}, "tool_choice.tools[0].name"),
    ({"previous_response_id": ["resp_1"]}, "previous_response_id"),
    ({"store": "yes"}, "store"),
])
def test_wrong_types_are_400s_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(ir.GatewayError) as info:
        read_all(decode_responses_request({"model": "m", "input": "hi", **fields}))
    assert (info.value.status, info.value.param) == (400, param)
