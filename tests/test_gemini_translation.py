"""Across dialects with Gemini: Gemini clients on OpenAI and Anthropic upstreams, and OpenAI and
Anthropic clients (Claude Code's real requests included) on a Gemini 3 upstream that demands its
thought signatures back."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pydantic
from google.genai import types

from interlingua.adapters.providers.seal import PREFIX
from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.harness import (
    anthropic_client,
    anthropic_provider,
    client,
    gateway,
    gemini_client,
    gemini_provider,
    provider,
)
from tests.support import sse_data
from tests.test_client_fixtures import events, load, replay

HI = "Hi"
PNG = "iVBORw0KGgo="
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
G_TOOLS: Any = [types.Tool(function_declarations=[WEATHER])]
O_TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                  "parameters": {"type": "object",
                                                                 "properties": {"city": {"type": "string"}},
                                                                 "required": ["city"]}}}]


class Verdict(pydantic.BaseModel):
    answer: str
    confidence: int


# Gemini client -> OpenAI-compatible upstream ------------------------------------------------------


def test_gemini_client_on_openai_upstream_translates_the_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            up.script(fo.text('{"answer": "yes", "confidence": 9}', usage=fo.Usage(40, 8, reasoning_tokens=3)))
            config = types.GenerateContentConfig(
                system_instruction="be brief", temperature=0.4, top_p=0.9, max_output_tokens=500,
                stop_sequences=["END"], candidate_count=2, seed=5, response_mime_type="application/json",
                response_schema=Verdict, thinking_config=types.ThinkingConfig(thinking_budget=2048))
            contents: Any = [types.Content(role="user", parts=[
                types.Part(text="judge this"), types.Part.from_bytes(data=b"\x89PNG\r\n\x1a\n", mime_type="image/png"),
                types.Part.from_bytes(data=b"%PDF-", mime_type="application/pdf")])]
            response = await gemini_client(url).aio.models.generate_content(model="gpt-x", contents=contents,
                                                                            config=config)
            assert len(response.candidates) == 2 and response.parsed == Verdict(answer="yes", confidence=9)
            usage = response.usage_metadata
            assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count) == (40, 5, 3)
            sent = up.requests[-1].json
            assert sent["messages"][0] == {"role": "system", "content": "be brief"}
            assert sent["messages"][1]["content"] == [
                {"type": "text", "text": "judge this"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}}]
            assert (sent["temperature"], sent["top_p"], sent["max_completion_tokens"], sent["stop"], sent["n"],
                    sent["seed"], sent["reasoning_effort"]) == (0.4, 0.9, 500, ["END"], 2, 5, "medium")
            schema = sent["response_format"]["json_schema"]["schema"]
            assert schema["type"] == "object" and schema["properties"]["confidence"]["type"] == "integer"

    run(scenario())


def test_gemini_client_function_calling_loop_on_openai_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            sdk = gemini_client(url).aio
            up.script(fo.tool_calls(fo.call("get_weather", '{"city"', ': "Oslo"}', id="call_w1"),
                                    fo.call("get_weather", '{"city": "Rome"}', id="call_w2")),
                      fo.text("Cold in Oslo, warm in Rome."))
            config = types.GenerateContentConfig(tools=G_TOOLS)
            chunks = [c async for c in await sdk.models.generate_content_stream(model="gpt-x", contents=HI,
                                                                                config=config)]
            calls = [fc for c in chunks for fc in c.function_calls or ()]
            assert [(fc.name, fc.args) for fc in calls] == [("get_weather", {"city": "Oslo"}),
                                                            ("get_weather", {"city": "Rome"})]
            assert chunks[-1].candidates[0].finish_reason == "STOP" and chunks[-1].usage_metadata is not None
            model_turn = types.Content(role="model", parts=[types.Part(function_call=fc) for fc in calls])
            answers = types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                name="get_weather", id=fc.id, response={"temp": t})) for fc, t in zip(calls, (-3, 21), strict=True)])
            history: Any = [types.Content(role="user", parts=[types.Part(text=HI)]), model_turn, answers]
            final = await sdk.models.generate_content(model="gpt-x", contents=history, config=config)
            assert final.text == "Cold in Oslo, warm in Rome."
            sent = up.requests[-1].json["messages"]
            assert [c["id"] for c in sent[1]["tool_calls"]] == ["call_w1", "call_w2"]
            assert sent[2:] == [{"role": "tool", "tool_call_id": "call_w1", "content": '{"temp":-3}'},
                                {"role": "tool", "tool_call_id": "call_w2", "content": '{"temp":21}'}]

    run(scenario())


def test_gemini_client_on_anthropic_upstream_with_thinking(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            sdk = gemini_client(url).aio
            up.script(fa.reply(fa.thinking("need ", "weather"), fa.call("get_weather", '{"city": "Oslo"}')),
                      fa.text("Cold."))
            config = types.GenerateContentConfig(tools=G_TOOLS, thinking_config=types.ThinkingConfig(
                thinking_budget=2048, include_thoughts=True))
            first = await sdk.models.generate_content(model="c1", contents=HI, config=config)
            assert [p.thought for p in first.candidates[0].content.parts] == [True, None]
            assert up.requests[-1].json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
            (call,) = first.function_calls
            history: Any = [types.Content(role="user", parts=[types.Part(text=HI)]), first.candidates[0].content,
                            types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                                name="get_weather", id=call.id, response={"temp": -3}))])]
            second = await sdk.models.generate_content(model="c1", contents=history, config=config)
            assert second.text == "Cold."
            turn = up.requests[-1].json["messages"][1]["content"]
            assert turn[0]["type"] == "thinking" and turn[0]["signature"] in up.signatures
            assert turn[1]["type"] == "tool_use" and turn[1]["id"] == call.id

    run(scenario())


# OpenAI and Anthropic clients -> Gemini 3 upstream ------------------------------------------------


def test_openai_client_tool_loop_on_gemini_3(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-3-pro")}) as (_, url):
            up.script(fg.reply(fg.thought("thinking"), fg.call("get_weather", {"city": "Oslo"}),
                               usage=fg.Usage(20, 6, thoughts=4, cached=5)),
                      fg.text("Cold."))
            sdk = client(url)
            first = await sdk.chat.completions.create(model="gemini-3-pro", messages=[{"role": "user", "content": HI}],
                                                      tools=O_TOOLS, reasoning_effort="high",
                                                      response_format={"type": "json_object"})
            sent = up.requests[-1].json
            assert sent["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "high", "includeThoughts": True}
            assert sent["generationConfig"]["responseMimeType"] == "application/json"
            assert sent["tools"][0]["functionDeclarations"][0]["parameters"]["type"] == "OBJECT"
            message = first.choices[0].message
            assert first.choices[0].finish_reason == "tool_calls"
            assert (first.usage.prompt_tokens, first.usage.completion_tokens,
                    first.usage.completion_tokens_details.reasoning_tokens,
                    first.usage.prompt_tokens_details.cached_tokens) == (20, 10, 4, 5)
            (call,) = message.tool_calls
            history: list[Any] = [{"role": "user", "content": HI},
                                  {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                                  {"role": "tool", "tool_call_id": call.id, "content": '{"temp": -3}'}]
            second = await sdk.chat.completions.create(model="gemini-3-pro", messages=history, tools=O_TOOLS)
            assert second.choices[0].message.content == "Cold."
            model_turn = up.requests[-1].json["contents"][1]
            assert model_turn["parts"][0]["functionCall"] == {"name": "get_weather", "args": {"city": "Oslo"},
                                                              "id": call.id}
            assert "thoughtSignature" in model_turn["parts"][0]
            assert up.requests[-1].json["contents"][2]["parts"][0]["functionResponse"]["response"] == {"temp": -3}

    run(scenario())


def test_history_from_another_provider_is_accepted_by_gemini_3(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-3-pro")}) as (_, url):
            history: list[Any] = [
                {"role": "user", "content": HI},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "toolu_from_claude", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
                {"role": "tool", "tool_call_id": "toolu_from_claude", "content": "-3 C"}]
            reply = await client(url).chat.completions.create(model="gemini-3-pro", messages=history, tools=O_TOOLS)
            assert reply.choices[0].message.content == "Hello from fake"
            model_turn = up.requests[-1].json["contents"][1]["parts"][0]
            assert "id" not in model_turn["functionCall"]
            assert base64.b64decode(model_turn["thoughtSignature"]) == b"skip_thought_signature_validator"
            response = up.requests[-1].json["contents"][2]["parts"][0]["functionResponse"]
            assert response == {"name": "get_weather", "response": {"result": "-3 C"}}

    run(scenario())


def test_a_claude_tools_image_reaches_gemini_with_its_function_response(tmp_path: Path) -> None:
    """Claude Code's Read of a picture answers with an image in the tool result: Gemini 3 gets it
    inside the function response, Gemini 2.5 beside it, and both accept the turn."""
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-3-pro", "gemini-2.5-pro")}) as (_, url):
            picture = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(b"\x89PNG").decode()}
            history: list[Any] = [
                {"role": "user", "content": "What does pixel.png show?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_read1", "name": "Read",
                                                   "input": {"file_path": "/w/pixel.png"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_read1",
                                              "content": [{"type": "image", "source": picture}]}]}]
            tools = [{"name": "Read", "description": "Read a file",
                      "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}]
            inline = {"inlineData": {"mimeType": "image/png", "data": picture["data"]}}
            for model, parts in (("gemini-3-pro", lambda fr: [{"functionResponse": {**fr, "parts": [inline]}}]),
                                 ("gemini-2.5-pro", lambda fr: [{"functionResponse": fr}, inline])):
                up.script(fg.text("A pixel."))
                answer = await anthropic_client(url).messages.create(model=model, max_tokens=100, tools=tools,
                                                                     messages=history)
                assert answer.content[0].text == "A pixel."
                response = {"name": "Read", "response": {"result": ""}}
                assert up.requests[-1].json["contents"][2]["parts"] == parts(response)

    run(scenario())


def test_anthropic_client_streams_from_gemini(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-2.5-pro")}) as (_, url):
            up.script(fg.reply(fg.say("Checking."), fg.call("get_weather", {"city": "Oslo"}, id=False)))
            tools: Any = [{"name": "get_weather", "input_schema": {"type": "object",
                                                                   "properties": {"city": {"type": "string"}}}}]
            async with anthropic_client(url).messages.stream(model="gemini-2.5-pro", max_tokens=200, tools=tools,
                                                              messages=[{"role": "user", "content": HI}]) as stream:
                final = await stream.get_final_message()
            # The call's thought signature reaches the client sealed, as a thinking block's signature.
            assert [b.type for b in final.content] == ["text", "thinking", "tool_use"]
            assert final.content[1].signature.startswith(PREFIX)  # type: ignore[union-attr]
            assert final.content[2].input == {"city": "Oslo"} and final.stop_reason == "tool_use"
            assert up.requests[-1].query == "alt=sse"

    run(scenario())


def test_blocked_prompts_are_content_filtered(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, "m")}) as (_, url):
            up.script(fg.blocked("SAFETY"))
            reply = await client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": HI}])
            assert reply.choices[0].finish_reason == "content_filter"

    run(scenario())


def test_claude_code_on_a_gemini_upstream(tmp_path: Path) -> None:
    """Claude Code's 24 real tool schemas ($schema, additionalProperties, propertyNames, const...)
    must reach Gemini in its schema subset, which the fake checks as strictly as the real API."""
    fixture = load("claude.first-request.json")

    async def scenario() -> None:
        aliases = {fixture["body"]["model"]: {"targets": ["g/gemini-2.5-pro"]}}
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url)},
                                                  models=aliases) as (_, url):
            response = await replay(url, fixture)
            assert response.status_code == 200, response.text
            assert events(response)[0] == "message_start" and events(response)[-1] == "message_stop"
            sent = up.requests[-1].json
            declarations = sent["tools"][0]["functionDeclarations"]
            assert len(declarations) == len(fixture["body"]["tools"])
            dumped = orjson.dumps(declarations).decode()
            for word in ("$schema", "additionalProperties", "propertyNames", "exclusiveMinimum", '"const"'):
                assert word not in dumped
            assert sent["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 31999, "includeThoughts": True}

    run(scenario())


def test_hard_schemas_convert_into_what_gemini_accepts(tmp_path: Path) -> None:
    """A schema with a $ref cycle and nullable unions still converts into something Gemini accepts."""
    schema = {"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"},
                                                                   "v": {"type": ["integer", "null"]}}}},
              "type": "object", "properties": {"root": {"$ref": "#/$defs/node"},
                                               "kind": {"const": "tree"},
                                               "size": {"type": "number", "exclusiveMinimum": 0},
                                               "tag": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}

    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, "m")}) as (_, url):
            tools: Any = [{"type": "function", "function": {"name": "grow", "parameters": schema}}]
            reply = await client(url).chat.completions.create(model="m", tools=tools,
                                                              messages=[{"role": "user", "content": HI}])
            assert reply.choices[0].message.content == "Hello from fake"
            params = up.requests[-1].json["tools"][0]["functionDeclarations"][0]["parameters"]
            assert params["properties"]["kind"] == {"enum": ["tree"], "type": "STRING"}
            assert params["properties"]["size"] == {"type": "NUMBER", "minimum": 0}
            assert params["properties"]["tag"] == {"type": "STRING", "nullable": True}
            assert json.dumps(params).count('"OBJECT"') >= 2

    run(scenario())


def test_a_schema_whose_references_would_inline_past_the_bound_goes_whole(tmp_path: Path) -> None:
    """A 2 kB schema whose every level names the next twice would inline into 2 ** 30 schemas (18
    levels took 3 s and 260 MB, on the event loop); it goes to Gemini whole, which resolves it."""
    defs: dict[str, Any] = {f"d{i}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/d{i + 1}"},
                                                                       "b": {"$ref": f"#/$defs/d{i + 1}"}}}
                            for i in range(30)}
    schema = {"$defs": {**defs, "d30": {"type": "string"}}, "type": "object",
              "properties": {"tree": {"$ref": "#/$defs/d0"}}}
    plain = {"type": "object", "properties": {"path": {"type": "string"}}}

    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, "m")}) as (_, url):
            tools: Any = [{"type": "function", "function": {"name": "grow", "parameters": schema}},
                          {"type": "function", "function": {"name": "read", "parameters": plain}}]
            reply = await client(url).chat.completions.create(model="m", tools=tools,
                                                              messages=[{"role": "user", "content": HI}])
            assert reply.choices[0].message.content == "Hello from fake"
            grow, read = up.requests[-1].json["tools"][0]["functionDeclarations"]
            assert grow == {"name": "grow", "parametersJsonSchema": schema}
            assert read == {"name": "read",
                            "parameters": {"type": "OBJECT", "properties": {"path": {"type": "STRING"}}}}

    run(scenario())


def test_gemini_stream_from_openai_upstream_as_raw_sse(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            up.script(fo.text("a", "b"))
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.post("/v1beta/models/gpt-x:streamGenerateContent?alt=sse",
                                          headers={"x-goog-api-key": "k"},
                                          json={"contents": [{"role": "user", "parts": [{"text": HI}]}]})
            chunks = sse_data(response.content, b"\r\n\r\n")
            assert all(isinstance(c, dict) for c in chunks)
            last = chunks[-1]
            assert last["candidates"][0]["finishReason"] == "STOP"
            assert last["usageMetadata"]["totalTokenCount"] == 15

    run(scenario())
