"""Gemini clients on a Gemini upstream: google-genai, the gateway, a fake Gemini API."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from google.genai import errors, types

from interlingua.adapters.storage.ledger import totals
from tests.asgi import run
from tests.fakes import gemini_upstream as fg
from tests.harness import gateway, gemini_client, gemini_provider

HI = "Hi"
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
TOOLS: Any = [types.Tool(function_declarations=[WEATHER])]


def test_generate_stream_and_count_pass_through(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-2.5-flash")},
                                                  models={"flash": {"targets": ["g/gemini-2.5-flash"]}}) as (app, url):
            sdk = gemini_client(url).aio
            up.script(fg.text("Hel", "lo", usage=fg.Usage(12, 4, thoughts=3, cached=2)), fg.text("str", "eamed"))
            config = types.GenerateContentConfig(system_instruction="be brief", temperature=0.2,
                                                 safety_settings=[types.SafetySetting(
                                                     category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE")])
            response = await sdk.models.generate_content(model="flash", contents=HI, config=config)
            assert response.text == "Hello"
            assert response.usage_metadata.thoughts_token_count == 3
            sent = up.requests[-1]
            assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
            assert sent.json["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
            assert sent.api_key == "g-upstream-secret"
            pieces = [c.text async for c in await sdk.models.generate_content_stream(model="flash", contents=HI)]
            assert "".join(p or "" for p in pieces) == "streamed"
            assert up.requests[-1].query == "alt=sse"
            count = await sdk.models.count_tokens(model="flash", contents=HI)
            assert count.total_tokens == fg.count_tokens({"contents": [{"role": "user", "parts": [{"text": HI}]}]})
            app.ledger.flush()  # type: ignore[union-attr]
        rows = {r["model"]: r for r in totals(tmp_path / "usage.sqlite3")}
        assert (rows["flash"]["input_tokens"], rows["flash"]["output_tokens"], rows["flash"]["reasoning_tokens"]) == (
            12 + fg.Usage().prompt, 4 + 3 + fg.Usage().candidates, 3)

    run(scenario())


def test_streamed_json_array_without_alt_sse(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, "m")}) as (_, url):
            up.script(fg.text("a", "b", "c"))
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.post("/v1beta/models/m:streamGenerateContent", headers={"x-goog-api-key": "k"},
                                          json={"contents": [{"role": "user", "parts": [{"text": HI}]}]})
            assert response.headers["content-type"] == "application/json"
            chunks = orjson.loads(response.content)
            assert "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"]) == "abc"
            assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in chunks[-1]

    run(scenario())


def test_function_calling_loop_keeps_gemini_3_signatures(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-3-pro")}) as (_, url):
            sdk = gemini_client(url).aio
            up.script(fg.function_calls(fg.call("get_weather", {"city": "Oslo"})), fg.text("Cold."))
            config = types.GenerateContentConfig(tools=TOOLS,
                                                 thinking_config=types.ThinkingConfig(include_thoughts=True))
            first = await sdk.models.generate_content(model="g/gemini-3-pro", contents=HI, config=config)
            (call,) = first.function_calls
            assert call.args == {"city": "Oslo"}
            history: Any = [types.Content(role="user", parts=[types.Part(text=HI)]), first.candidates[0].content,
                            types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                                name="get_weather", response={"temp": -3}, id=call.id))])]
            second = await sdk.models.generate_content(model="g/gemini-3-pro", contents=history, config=config)
            assert second.text == "Cold."
            assert up.requests[-1].path == "/v1beta/models/gemini-3-pro:generateContent"

    run(scenario())


def test_errors_in_google_shape(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, "m")}) as (_, url):
            sdk = gemini_client(url).aio
            async with httpx.AsyncClient(base_url=url) as raw:
                missing = await raw.post("/v1beta/models/m:generateContent", headers={"x-goog-api-key": "k"}, json={})
                two = await raw.post("/v1beta/models/m:generateContent", headers={"x-goog-api-key": "k"},
                                     json={"contents": [{"role": "user", "parts": [
                                         {"text": "a", "inlineData": {"mimeType": "image/png", "data": "AA=="}}]}]})
            assert missing.status_code == 400
            assert missing.json() == {"error": {"code": 400, "message": "contents: is required",
                                                "status": "INVALID_ARGUMENT"}}
            assert "contents[0].parts[0]" in two.json()["error"]["message"]
            with pytest.raises(errors.ClientError) as unknown:
                await sdk.models.generate_content(model="nope", contents=HI)
            assert unknown.value.code == 404
            up.script(fg.error(429, "Quota exceeded", retry_delay="7s"))
            with pytest.raises(errors.ClientError) as limited:
                await sdk.models.generate_content(model="m", contents=HI)
            assert limited.value.code == 429 and "Quota exceeded" in str(limited.value)
            up.script(fg.fail_mid_stream("partial", message="backend exploded"))
            with pytest.raises(errors.APIError, match="backend exploded"):
                async for _ in await sdk.models.generate_content_stream(model="m", contents=HI):
                    pass

    run(scenario())


def test_models_list_is_paged(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "a", "b", "c")}) as (_, url):
            pager = await gemini_client(url).aio.models.list(config={"page_size": 2})
            names = [m.name async for m in pager]
            assert names == ["models/all-minilm-l6-v2", "models/minilm-bm25", "models/a", "models/b", "models/c"]
            model = await gemini_client(url).aio.models.get(model="g/anything")
            assert model.name == "models/g/anything"

    run(scenario())


def test_a_signature_on_an_empty_last_chunk_survives_the_next_turn(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-3-pro")}) as (_, url):
            sdk = gemini_client(url).aio
            up.script(fg.text("Hel", "lo", text_signature="empty_chunk"), fg.text("again"))
            chunks = [c async for c in await sdk.models.generate_content_stream(model="gemini-3-pro", contents=HI)]
            parts = [p for c in chunks for p in c.candidates[0].content.parts]
            signed = [p for p in parts if p.thought_signature]
            assert len(signed) == 1 and signed[0].text == ""
            history: Any = [types.Content(role="user", parts=[types.Part(text=HI)]),
                            types.Content(role="model", parts=parts),
                            types.Content(role="user", parts=[types.Part(text="more")])]
            second = await sdk.models.generate_content(model="gemini-3-pro", contents=history)
            assert second.text == "again"
            echoed = up.requests[-1].json["contents"][1]["parts"]
            sent = [base64.urlsafe_b64decode(p["thoughtSignature"]) for p in echoed if "thoughtSignature" in p]
            assert sent == [signed[0].thought_signature] and sent[0] in up.signatures

    run(scenario())


def test_a_model_name_is_escaped_in_the_upstream_path(tmp_path: Path) -> None:
    """The client's model text goes into the upstream URL: a `?` or `#` in it stays part of the name."""
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url)}) as (_, url):
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.post("/v1beta/models/g/a b%3Fc%23d:generateContent",
                                          json={"contents": [{"role": "user", "parts": [{"text": HI}]}]})
            assert response.status_code == 200
            assert (up.requests[-1].path, up.requests[-1].query) == ("/v1beta/models/a b?c#d:generateContent", "")

    run(scenario())
