"""Tests of the fake Gemini upstream, driven by the official google-genai SDK pointed straight at it.

Why: the gateway's tests trust this fake to speak the real wire format and to reject what the real
API rejects. If the official client parses it correctly here, and the validation fires here, a
gateway test failure points at the gateway, not at the fake.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pydantic
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import (
    FAKE_PNG_HEAD,
    INTERNAL_MESSAGE,
    SKIP_SIGNATURE,
    FakeGemini,
    Usage,
    blocked,
    call,
    candidate,
    candidates,
    count_tokens,
    error,
    fail_mid_stream,
    function_calls,
    reply,
    say,
    text,
    thought,
)
from tests.support import async_test, raw_post, sse_data

# google-genai subclasses aiohttp.ClientSession each time it opens a session, which aiohttp warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

KEY = {"x-goog-api-key": "g-test"}
HI: list[Any] = [{"role": "user", "parts": [{"text": "Hi"}]}]
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    # A JSON-Schema tool as Claude Code sends it: fine under parametersJsonSchema.
    parameters_json_schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
TOOLS: types.ToolListUnion = [types.Tool(function_declarations=[WEATHER])]


def sdk(fake: FakeGemini, api_key: str = "g-test") -> genai.Client:
    """An SDK client for the fake. One attempt: without retry options the SDK sleeps 1-10 s and
    retries a refused or dropped connection by itself, which would hide the failure and slow the test."""
    options = types.HttpOptions(
        base_url=fake.url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key=api_key, http_options=options)


@asynccontextmanager
async def served(**options: Any) -> AsyncIterator[tuple[FakeGemini, Any]]:
    """A running fake and the SDK's async client for it."""
    async with FakeGemini(**options) as fake:
        client = sdk(fake).aio
        try:
            yield fake, client
        finally:
            await client.aclose()


async def raw_get(fake: FakeGemini, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=KEY) as session, session.get(f"{fake.url}{path}") as response:
        return response.status, await response.json()


def parts(response: types.GenerateContentResponse, index: int = 0) -> list[types.Part]:
    """The parts of one candidate, asserting every level exists: the SDK types them all Optional."""
    assert response.candidates
    content = response.candidates[index].content
    assert content
    return content.parts or []


def finish(response: types.GenerateContentResponse, index: int = 0) -> types.FinishReason | None:
    assert response.candidates
    return response.candidates[index].finish_reason


def decoded(signature: bytes | str | None) -> bytes:
    """A signature as bytes, whichever base64 alphabet a string used."""
    assert signature is not None
    if isinstance(signature, bytes):
        return signature
    return base64.urlsafe_b64decode(signature.replace("+", "-").replace("/", "_"))


@async_test
async def test_generate_content_has_the_reference_shape() -> None:
    async with served() as (fake, client):
        usage = Usage(prompt=12, candidates=7, thoughts=50, cached=4)
        fake.script(reply(thought("Plan"), say("Hi", " there"), usage=usage), reply(thought("Plan"), say("Hi")))
        plain = await client.models.generate_content(model="provider/model", contents="Hello")
        thinking = types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)
        with_thoughts = await client.models.generate_content(
            model="gemini-x", contents="Hello", config=types.GenerateContentConfig(thinking_config=thinking)
        )
        status, headers, body = await raw_post(fake, "/v1beta/models/gemini-x:generateContent", {"contents": HI}, KEY)

    # Thought parts only come back when the request includes thoughts; their tokens are counted anyway.
    assert plain.text == "Hi there" and plain.model_version == "provider/model" and plain.response_id
    assert finish(plain) == types.FinishReason.STOP
    counts = plain.usage_metadata
    assert counts is not None
    assert (counts.prompt_token_count, counts.candidates_token_count, counts.thoughts_token_count) == (12, 7, 50)
    assert (counts.cached_content_token_count, counts.total_token_count) == (4, 12 + 7 + 50)
    assert [(p.text, p.thought) for p in parts(with_thoughts)] == [("Plan", True), ("Hi", None)]
    # The model id keeps its "/" in the path, unescaped, and the SDK sends the key as a header.
    first = fake.requests[0]
    assert first.path == "/v1beta/models/provider/model:generateContent"
    assert (first.model, first.action) == ("provider/model", "generateContent")
    assert first.api_key == "g-test" and first.headers["x-goog-api-key"] == "g-test"
    # Nested fields go out in snake_case: the fake, like the real API, reads both spellings.
    sent_thinking = fake.requests[1].json["generationConfig"]["thinkingConfig"]
    assert sent_thinking == {"include_thoughts": True, "thinking_budget": 1024}

    assert status == 200 and headers["content-type"] == "application/json; charset=UTF-8"
    whole = orjson.loads(body)
    assert body == orjson.dumps(whole)  # compact JSON, camelCase keys
    assert whole == {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hello from fake"}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "totalTokenCount": 15,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}],
        },
        "modelVersion": "gemini-x",
        "responseId": whole["responseId"],
    }


@async_test
async def test_sse_stream_framing_is_byte_exact() -> None:
    async with FakeGemini() as fake:
        fake.script(reply(say("Hel", "lo"), call("f", {"a": 1}, id="c1"), call("g", id=False)))
        path = "/v1beta/models/m:streamGenerateContent?alt=sse"
        status, headers, raw = await raw_post(fake, path, {"contents": HI}, KEY)

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert b"[DONE]" not in raw and b"event:" not in raw
    chunks = sse_data(raw, b"\r\n\r\n")
    assert [c["candidates"][0]["content"]["parts"] for c in chunks[:2]] == [[{"text": "Hel"}], [{"text": "lo"}]]
    first_call, second_call = chunks[2]["candidates"][0]["content"]["parts"]  # parallel calls: one chunk
    assert first_call["functionCall"] == {"id": "c1", "name": "f", "args": {"a": 1}}
    assert decoded(first_call["thoughtSignature"]) in fake.signatures and "+" in first_call["thoughtSignature"]
    assert second_call == {"functionCall": {"name": "g", "args": {}}}  # only the first call is signed
    assert [("finishReason" in c["candidates"][0], "usageMetadata" in c) for c in chunks] == [
        (False, False),
        (False, False),
        (True, True),
    ]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"  # no tool finish reason in Gemini
    assert {(c["modelVersion"], c["responseId"]) for c in chunks} == {("m", chunks[0]["responseId"])}
    assert fake.requests[0].params == {"alt": "sse"}


@async_test
async def test_stream_without_alt_sse_is_one_json_array() -> None:
    async with FakeGemini() as fake:
        fake.script(text("a", "b"))
        status, headers, raw = await raw_post(fake, "/v1beta/models/m:streamGenerateContent", {"contents": HI}, KEY)

    assert status == 200 and headers["content-type"].startswith("application/json")
    assert raw.startswith(b"[{") and raw.endswith(b"}]") and raw.count(b"},\r\n{") == 1
    chunks = orjson.loads(raw)
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == ["a", "b"]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


@async_test
async def test_sdk_stream_assembles_text_thoughts_and_running_usage() -> None:
    async with served(sse_separator=b"\n\n") as (fake, client):  # LF framing is parsed too
        fake.script(reply(thought("Hmm"), say("Hel", "lo"), usage=Usage(thoughts=3), usage_on_every_chunk=True))
        config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
        stream = await client.models.generate_content_stream(model="m", contents="Hi", config=config)
        chunks = [chunk async for chunk in stream]

    assert [[(p.text, p.thought) for p in parts(c)] for c in chunks] == [
        [("Hmm", True)],
        [("Hel", None)],
        [("lo", None)],
    ]
    assert [finish(c) for c in chunks] == [None, None, types.FinishReason.STOP]
    usages = [c.usage_metadata for c in chunks]
    # Every chunk carries usage; only the last has the output counts.
    assert [(u.candidates_token_count, u.total_token_count) for u in usages if u] == [(None, 10), (None, 10), (5, 18)]


@async_test
async def test_several_candidates_whole_and_streamed() -> None:
    async with served() as (fake, client):
        fake.script(
            text("same"),
            candidates(candidate(say("a", "b")), candidate(say("c"), finish_reason="MAX_TOKENS")),
        )
        config = types.GenerateContentConfig(candidate_count=2)
        whole = await client.models.generate_content(model="m", contents="Hi", config=config)
        stream = await client.models.generate_content_stream(model="m", contents="Hi", config=config)
        chunks = [chunk async for chunk in stream]

    # One scripted candidate is repeated to fill candidateCount.
    assert [(c.index, parts(whole, c.index or 0)[0].text) for c in whole.candidates or []] == [(0, "same"), (1, "same")]
    texts: dict[int, str] = {0: "", 1: ""}
    finishes: dict[int, Any] = {}
    for chunk in chunks:
        for entry in chunk.candidates or []:
            assert entry.index is not None
            for part in entry.content.parts if entry.content and entry.content.parts else []:
                texts[entry.index] += part.text or ""
            if entry.finish_reason:
                finishes[entry.index] = entry.finish_reason
    assert texts == {0: "ab", 1: "c"}
    assert finishes == {0: types.FinishReason.STOP, 1: types.FinishReason.MAX_TOKENS}
    assert [finish(c, -1) for c in chunks] == [None, types.FinishReason.MAX_TOKENS]


@pytest.mark.parametrize(
    ("scripted", "finish", "message"),
    [
        (text("x"), "STOP", None),
        (text("cut", finish_reason="MAX_TOKENS"), "MAX_TOKENS", None),
        (reply(finish_reason="SAFETY"), "SAFETY", None),
        (text("quoted", finish_reason="RECITATION"), "RECITATION", None),
        (
            reply(finish_reason="MALFORMED_FUNCTION_CALL", finish_message="Malformed function call: f(1"),
            "MALFORMED_FUNCTION_CALL",
            "Malformed function call: f(1",
        ),
    ],
)
@async_test
async def test_finish_reasons_whole_and_streamed(scripted: Any, finish: str, message: str | None) -> None:
    async with served() as (fake, client):
        fake.script(scripted, scripted, scripted)
        whole = await client.models.generate_content(model="m", contents="Hi")
        stream = await client.models.generate_content_stream(model="m", contents="Hi")
        last = [chunk async for chunk in stream][-1]
        _, _, raw = await raw_post(fake, "/v1beta/models/m:generateContent", {"contents": HI}, KEY)

    for response in (whole, last):
        assert response.candidates and response.candidates[0].finish_reason == finish
    # On the wire only: google-genai drops `finishMessage` from Gemini API responses.
    assert orjson.loads(raw)["candidates"][0].get("finishMessage") == message
    if finish in ("SAFETY", "MALFORMED_FUNCTION_CALL"):  # nothing generated: a candidate with no content
        assert whole.candidates and whole.candidates[0].content is None


@async_test
async def test_blocked_prompt_has_feedback_and_no_candidates() -> None:
    async with served() as (fake, client):
        fake.script(blocked("PROHIBITED_CONTENT"), blocked())
        whole = await client.models.generate_content(model="m", contents="Hi")
        stream = await client.models.generate_content_stream(model="m", contents="Hi")
        chunks = [chunk async for chunk in stream]

    for response in (whole, *chunks):
        assert response.candidates is None and response.text is None
    assert whole.prompt_feedback and whole.prompt_feedback.block_reason == "PROHIBITED_CONTENT"
    assert len(chunks) == 1 and chunks[0].prompt_feedback and chunks[0].prompt_feedback.block_reason == "SAFETY"
    assert whole.usage_metadata and whole.usage_metadata.candidates_token_count is None


async def _call_turn(client: Any) -> tuple[types.GenerateContentResponse, list[types.Content]]:
    """Ask, get two parallel calls, and build the SDK-style history answering them."""
    first = await client.models.generate_content(
        model="gemini-3", contents="Weather in Paris and Rome?", config=types.GenerateContentConfig(tools=TOOLS)
    )
    assert first.candidates and first.candidates[0].content and first.function_calls
    answers = [
        types.Part(function_response=types.FunctionResponse(id=c.id, name=c.name, response={"output": "sunny"}))
        for c in first.function_calls
    ]
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris and Rome?")]),
        first.candidates[0].content,
        types.Content(role="user", parts=answers),
    ]
    return first, history


@async_test
async def test_function_calling_loop_echoes_the_signature() -> None:
    async with served() as (fake, client):
        paris, rome = call("get_weather", {"city": "Paris"}), call("get_weather", {"city": "Rome"})
        fake.script(function_calls(paris, rome), text("Sunny in both."))
        first, history = await _call_turn(client)
        second = await client.models.generate_content(
            model="gemini-3", contents=history, config=types.GenerateContentConfig(tools=TOOLS)
        )

    assert [(c.id, c.name, c.args) for c in first.function_calls or []] == [
        (paris.id, "get_weather", {"city": "Paris"}),
        (rome.id, "get_weather", {"city": "Rome"}),
    ]
    minted = parts(first)[0].thought_signature
    assert minted in fake.signatures and parts(first)[1].thought_signature is None
    assert second.text == "Sunny in both."
    sent = fake.requests[1].json
    echoed = sent["contents"][1]["parts"][0]["thoughtSignature"]
    # The SDK re-encodes the signature URL-safe: only the decoded bytes match what was minted.
    assert "-" in echoed and decoded(echoed) == minted
    assert sent["contents"][2]["parts"][0]["functionResponse"] == {
        "id": paris.id,
        "name": "get_weather",
        "response": {"output": "sunny"},
    }
    assert sent["tools"][0]["functionDeclarations"][0]["parameters_json_schema"]["additionalProperties"] is False


@async_test
async def test_function_call_signature_is_required_and_checked() -> None:
    async with served() as (fake, client):
        fake.script(function_calls(call("get_weather", {"city": "Paris"})))
        _, history = await _call_turn(client)
        assert history[1].parts
        calls_part = history[1].parts[0]
        minted = calls_part.thought_signature
        config = types.GenerateContentConfig(tools=TOOLS)

        calls_part.thought_signature = None
        with pytest.raises(errors.ClientError) as missing:
            await client.models.generate_content(model="gemini-3", contents=history, config=config)
        calls_part.thought_signature = b"forged"
        with pytest.raises(errors.ClientError, match="Corrupted thought signature"):
            await client.models.generate_content(model="gemini-3", contents=history, config=config)
        # The documented escape hatch, as bytes (the SDK base64-encodes it) and as the literal string.
        calls_part.thought_signature = SKIP_SIGNATURE.encode()
        await client.models.generate_content(model="gemini-3", contents=history, config=config)
        literal = [c.model_dump(mode="json", exclude_none=True, by_alias=True) for c in history]
        literal[1]["parts"][0]["thoughtSignature"] = SKIP_SIGNATURE
        status, _, _ = await raw_post(fake, "/v1beta/models/gemini-3:generateContent", {"contents": literal}, KEY)
        calls_part.thought_signature = minted
        await client.models.generate_content(model="gemini-3", contents=history, config=config)

    assert (missing.value.code, missing.value.status) == (400, "INVALID_ARGUMENT")
    assert missing.value.message == (
        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
        "correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
        "function call `default_api:get_weather` , position 2. Please refer to "
        "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
    )
    assert status == 200
    assert len(fake.requests) == 6


@async_test
async def test_signature_rules_cover_the_current_turn_and_can_be_switched_off() -> None:
    unsigned_call = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
    answer = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": "ok"}}}]}
    done = {"role": "model", "parts": [{"text": "Done."}]}
    earlier_turn = [*HI, unsigned_call, answer, done, *HI]  # a later user message starts a new turn
    current_turn = [*HI, unsigned_call, answer]
    path = "/v1beta/models/gemini-3:generateContent"
    async with FakeGemini() as fake:
        older = await raw_post(fake, path, {"contents": earlier_turn}, KEY)
        current = await raw_post(fake, path, {"contents": current_turn}, KEY)
    async with FakeGemini(require_thought_signatures=False) as lenient:
        switched_off = await raw_post(lenient, path, {"contents": current_turn}, KEY)

    assert (older[0], current[0], switched_off[0]) == (200, 400, 200)
    assert b"missing a thought_signature" in current[2]


@async_test
async def test_unsigned_calls_without_ids_as_older_models_send_them() -> None:
    async with served(require_thought_signatures=False) as (fake, client):
        fake.script(
            function_calls(
                call("get_weather", {"city": "Paris"}, id=False), sign_calls=False, model_version="gemini-2.5-flash"
            )
        )
        first, history = await _call_turn(client)
        await client.models.generate_content(model="gemini-2.5-flash", contents=history)

    assert parts(first)[0].thought_signature is None and not fake.signatures
    assert first.function_calls and first.function_calls[0].id is None
    assert first.model_version == "gemini-2.5-flash"
    assert "thoughtSignature" not in fake.requests[1].json["contents"][1]["parts"][0]


@async_test
async def test_streamed_signatures_on_calls_and_on_an_empty_last_part() -> None:
    async with served() as (fake, client):
        fake.script(
            function_calls(call("get_weather", {"city": "Paris"})),
            text("Hel", "lo", text_signature="empty_chunk"),
            text("Hel", "lo", text_signature="part"),
        )
        call_chunks = [c async for c in await client.models.generate_content_stream(model="m", contents="Hi")]
        empty_chunks = [c async for c in await client.models.generate_content_stream(model="m", contents="Hi")]
        whole = await client.models.generate_content(model="m", contents="Hi")

    call_part = parts(call_chunks[0])[0]
    assert call_part.function_call and call_part.thought_signature in fake.signatures
    last = empty_chunks[-1]
    assert [(p.text, p.thought_signature in fake.signatures) for p in parts(last)] == [("", True)]
    assert finish(last) == types.FinishReason.STOP and last.usage_metadata
    assert [c.text for c in empty_chunks[:2]] == ["Hel", "lo"]
    whole_part = parts(whole)[0]
    assert whole_part.text == "Hello" and whole_part.thought_signature in fake.signatures


@async_test
async def test_count_tokens_accepts_both_forms() -> None:
    request = {
        "model": "models/m",
        "contents": [{"role": "user", "parts": [{"text": "abcdefgh"}]}],
        "systemInstruction": {"parts": [{"text": "1234"}]},
        "tools": [{"functionDeclarations": [{"name": "f", "description": "not counted"}]}],
    }
    path = "/v1beta/models/m:countTokens"
    async with served() as (fake, client):
        counted = await client.models.count_tokens(model="m", contents=["abcdefgh", "1234"])
        _, _, wrapped = await raw_post(fake, path, {"generateContentRequest": request}, KEY)
        both = await raw_post(fake, path, {"contents": HI, "generateContentRequest": request}, KEY)
        no_model = await raw_post(fake, path, {"generateContentRequest": {**request, "model": ""}}, KEY)
        with pytest.raises(errors.ClientError, match="Please use a valid role"):
            assistant = types.Content(role="assistant", parts=[types.Part(text="x")])
            await client.models.count_tokens(model="m", contents=[assistant])

    assert counted.total_tokens == (8 + 4) // 4 + 1 == count_tokens(fake.requests[0].json)
    # The SDK sends the plain form, joining the strings into one user content.
    assert fake.requests[0].json == {"contents": [{"parts": [{"text": "abcdefgh"}, {"text": "1234"}], "role": "user"}]}
    assert orjson.loads(wrapped) == {"totalTokens": 4, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}]}
    assert both[0] == 400 and orjson.loads(both[2])["error"]["status"] == "INVALID_ARGUMENT"
    assert no_model[0] == 400 and b"unexpected model name format" in no_model[2]


@async_test
async def test_models_list_is_paged_and_models_can_be_fetched() -> None:
    names = [f"gemini-{n}" for n in range(5)]
    async with served(models=names) as (fake, client):
        pager = await client.models.list(config={"page_size": 2})
        listed = [m async for m in pager]
        one = await client.models.get(model="gemini-3")
        with pytest.raises(errors.ClientError) as missing:
            await client.models.get(model="nope")
        status, first_page = await raw_get(fake, "/v1beta/models?pageSize=2")
        _, last_page = await raw_get(fake, f"/v1beta/models?pageSize=2&pageToken={first_page['nextPageToken']}x")

    assert [m.name for m in listed] == [f"models/{n}" for n in names]
    assert [r.params.get("pageSize") for r in fake.requests[:3]] == ["2", "2", "2"]
    assert [bool(r.params.get("pageToken")) for r in fake.requests[:3]] == [False, True, True]
    assert one.name == "models/gemini-3" and one.display_name == "gemini-3"
    assert one.supported_actions and "generateContent" in one.supported_actions
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
    assert status == 200 and len(first_page["models"]) == 2 and first_page["nextPageToken"]
    assert set(first_page["models"][0]) >= {"name", "displayName", "supportedGenerationMethods", "inputTokenLimit"}
    assert last_page == {
        "error": {"code": 400, "message": "Invalid page token or page size.", "status": "INVALID_ARGUMENT"}
    }


class City(pydantic.BaseModel):
    name: str
    population: int


@async_test
async def test_json_schema_output() -> None:
    answer = '{"name": "Paris", "population": 2100000}'
    async with served() as (fake, client):
        fake.script(text(answer), text(answer))
        json_schema = await client.models.generate_content(
            model="m",
            contents="Biggest French city?",
            config=types.GenerateContentConfig(
                response_mime_type="application/json", response_json_schema=City.model_json_schema()
            ),
        )
        typed = await client.models.generate_content(
            model="m",
            contents="Biggest French city?",
            config=types.GenerateContentConfig(response_mime_type="application/json", response_schema=City),
        )

    assert json_schema.parsed == {"name": "Paris", "population": 2100000}
    assert typed.parsed == City(name="Paris", population=2100000)
    first, second = (r.json["generationConfig"] for r in fake.requests)
    assert first["responseMimeType"] == "application/json" and first["responseJsonSchema"]["type"] == "object"
    assert second["responseSchema"]["type"] == "OBJECT" and second["responseSchema"]["title"] == "City"


def _function_turns(*answer_parts: Any, calls: int = 1) -> list[Any]:
    """User asks, the model calls `f` (signed with the escape hatch) `calls` times, the user answers."""
    call_parts = [
        {"functionCall": {"id": f"c{n}", "name": "f", "args": {}}, "thoughtSignature": SKIP_SIGNATURE}
        for n in range(calls)
    ]
    return [*HI, {"role": "model", "parts": call_parts}, {"role": "user", "parts": list(answer_parts)}]


def _answer(**changes: Any) -> dict[str, Any]:
    response = {"id": "c0", "name": "f", "response": {"output": "ok"}, **changes}
    return {"functionResponse": {k: v for k, v in response.items() if v is not None}}


def _tool(parameters: dict[str, Any], name: str = "f", **declaration: Any) -> list[Any]:
    return [{"functionDeclarations": [{"name": name, "parameters": parameters, **declaration}]}]


OBJECT = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}

INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "no contents": ({}, "* GenerateContentRequest.contents: contents is not specified"),
    "empty contents": ({"contents": []}, "contents is not specified"),
    "content without parts": ({"contents": [{"role": "user", "parts": []}]}, "contents.parts must not be empty"),
    "assistant role": (
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
        "Please use a valid role: user, model.",
    ),
    "system role": ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "Please use a valid role"),
    "content field name": (
        {"contents": [{"role": "user", "content": "x"}]},
        "Unknown name \"content\" at 'contents[0]': Cannot find field.",
    ),
    "part without data": (
        {"contents": [{"role": "user", "parts": [{"thought": True}]}]},
        "contents[0].parts[0].data: required oneof field 'data' must have one initialized field",
    ),
    "part with two data fields": (
        {"contents": [{"role": "user", "parts": [{"text": "x", "inlineData": {"mimeType": "image/png", "data": ""}}]}]},
        "oneof field 'data' is already set. Cannot set 'inlineData'",
    ),
    "anthropic-style part": (
        {"contents": [{"role": "user", "parts": [{"type": "text", "text": "x"}]}]},
        "Unknown name \"type\" at 'contents[0].parts[0]': Cannot find field.",
    ),
    "functionResponse with a field of another API": (
        {"contents": _function_turns(_answer(content=[{"type": "text", "text": "ok"}]))},
        "Unknown name \"content\" at 'contents[2].parts[0].function_response': Cannot find field.",
    ),
    "functionResponse part that is text": (
        {"contents": _function_turns(_answer(parts=[{"text": "ok"}]))},
        "Unknown name \"text\" at 'contents[2].parts[0].function_response.parts[0]': Cannot find field.",
    ),
    "functionResponse part with two data fields": (
        {"contents": _function_turns(_answer(parts=[{"inlineData": {"mimeType": "image/png", "data": ""},
                                                      "fileData": {"fileUri": "gs://b/a.png"}}]))},
        "'contents[2].parts[0].function_response.parts[0]' (oneof)",
    ),
    "functionResponse without name": (
        {"contents": _function_turns(_answer(name=None))},
        "contents[2].parts[0].function_response.name: Name cannot be empty.",
    ),
    "functionResponse with a string response": (
        {"contents": _function_turns(_answer(response="ok"))},
        (
            "Invalid value at 'contents[2].parts[0].function_response.response' "
            '(type.googleapis.com/google.protobuf.Struct), "ok"'
        ),
    ),
    "functionResponse id without a call": (
        {"contents": _function_turns(_answer(id="other"))},
        "function response id `other` matches no function call id",
    ),
    "functionResponse without a call turn": (
        {"contents": [*HI, {"role": "user", "parts": [_answer()]}]},
        "function response turn comes immediately after a function call turn",
    ),
    "fewer responses than calls": (
        {"contents": _function_turns(_answer(), calls=2)},
        "number of function response parts is equal to the number of function call parts",
    ),
    "signature not base64": (
        {"contents": [*HI, {"role": "model", "parts": [{"text": "x", "thoughtSignature": "not base64!"}]}, *HI]},
        "(TYPE_BYTES), Base64 decoding failed",
    ),
    "unknown generationConfig field": (
        {"contents": HI, "generationConfig": {"max_tokens": 10}},
        "Unknown name \"max_tokens\" at 'generation_config': Cannot find field.",
    ),
    "thinking budget and level": (
        {"contents": HI, "generationConfig": {"thinkingConfig": {"thinkingBudget": 128, "thinkingLevel": "LOW"}}},
        "only one of thinking budget and thinking level",
    ),
    "bad function name": ({"contents": HI, "tools": _tool(OBJECT, name="get weather")}, "Invalid function name."),
    "parameters and parametersJsonSchema": (
        {"contents": HI, "tools": _tool(OBJECT, parametersJsonSchema={"type": "object"})},
        "mutually exclusive",
    ),
    "type list": (
        {"contents": HI, "tools": _tool({"type": "object", "properties": {"a": {"type": ["string", "null"]}}})},
        "at 'tools[0].function_declarations[0].parameters.properties[0].value': Proto field is not repeating",
    ),
    "unknown response modality": (
        {"contents": HI, "generationConfig": {"responseModalities": ["TEXT", "PICTURE"]}},
        "Invalid value at 'generation_config.response_modalities[1]' (TYPE_ENUM), \"PICTURE\"",
    ),
    "image from a model that cannot draw": (
        {"contents": HI, "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}},
        "Model does not support the requested response modalities: image",
    ),
    "unsupported aspect ratio": (
        {"contents": HI, "generationConfig": {"imageConfig": {"aspectRatio": "7:4"}}},
        "Unsupported aspect ratio: 7:4",
    ),
    "systemInstruction parts not a list": (
        {"contents": HI, "systemInstruction": {"parts": 1.5}},
        "Invalid value at 'system_instruction.parts' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part), "
        "1.5",
    ),
    "function response id not a string": (
        {"contents": [*HI, {"role": "model", "parts": [{"functionCall": {"name": "f", "id": "c1", "args": {}}}]},
                      {"role": "user", "parts": [
                          {"functionResponse": {"name": "f", "id": {"c": 1}, "response": {}}}]}]},
        "Invalid value at 'contents[2].parts[0].function_response.id' (TYPE_STRING), {\"c\":1}",
    ),
    "tools not a list": ({"contents": HI, "tools": 7}, "Invalid value at 'tools'"),
    "functionDeclarations not a list": (
        {"contents": HI, "tools": [{"functionDeclarations": {"name": "f"}}]},
        "Invalid value at 'tools[0].function_declarations'",
    ),
    "responseSchema additionalProperties": (
        {"contents": HI, "generationConfig": {"responseSchema": {**OBJECT, "additionalProperties": False}}},
        "Unknown name \"additionalProperties\" at 'generation_config.response_schema'",
    ),
}
JSON_SCHEMA_KEYWORDS: dict[str, Any] = {
    "additionalProperties": False,
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$ref": "#/$defs/city",
    "$defs": {"city": {"type": "string"}},
    "const": "Paris",
    "propertyNames": {"pattern": "^[a-z]+$"},
    "exclusiveMinimum": 0,
}
for keyword, value in JSON_SCHEMA_KEYWORDS.items():
    # Nested in a property, where a translation that only cleans the top level leaves them.
    nested = {"type": "object", "properties": {"city": {"type": "string", keyword: value}}}
    INVALID[f"parameters {keyword}"] = (
        {"contents": HI, "tools": _tool(nested)},
        f"Unknown name \"{keyword}\" at 'tools[0].function_declarations[0].parameters.properties[0].value'",
    )


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@async_test
async def test_a_body_nested_past_the_parsers_depth_is_refused_whole() -> None:
    """Protobuf's JSON parser stops at 100 levels of objects and arrays, before any field is read
    (the fake crashed writing such a value into another error's message)."""
    async with FakeGemini() as fake:
        fake.script(text("read"))
        answers = [await raw_post(fake, "/v1beta/models/m:generateContent",
                                  {"contents": HI, "cachedContent": _nested(levels)}, KEY) for levels in (99, 100)]
    (read, _, _), (refused, _, raw) = answers
    assert (read, refused) == (200, 400)  # 100 levels in all are read
    assert orjson.loads(raw)["error"]["message"] == (
        "Invalid JSON payload received. Message too deep. Max recursion depth reached for key 'a'")


@pytest.mark.parametrize(("body", "message"), INVALID.values(), ids=INVALID.keys())
@async_test
async def test_invalid_requests_are_rejected_like_the_real_api(body: dict[str, Any], message: str) -> None:
    async with FakeGemini() as fake:
        fake.script(text("never sent"))
        status, _, raw = await raw_post(fake, "/v1beta/models/m:generateContent", body, KEY)
        # A rejected request consumes no scripted reply.
        _, _, accepted = await raw_post(fake, "/v1beta/models/m:generateContent", {"contents": HI}, KEY)

    assert status == 400
    rejection = orjson.loads(raw)["error"]
    assert (rejection["code"], rejection["status"]) == (400, "INVALID_ARGUMENT")
    assert message in rejection["message"]
    assert b"never sent" in accepted


@async_test
async def test_image_models_draw_an_inline_png_of_what_they_were_given() -> None:
    photo = b"\x89PNG\r\n\x1a\n" + bytes(100)
    config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"],
                                         image_config=types.ImageConfig(aspect_ratio="3:2"))
    contents = [types.Part.from_bytes(data=photo, mime_type="image/png"), "in winter"]
    async with served() as (fake, client):
        whole = await client.models.generate_content(model="gemini-2.5-flash-image", contents=contents, config=config)
        streamed = [chunk async for chunk in await client.models.generate_content_stream(
            model="gemini-2.5-flash-image", contents=contents, config=config)]
        plain = await client.models.generate_content(model="gemini-2.5-flash-image", contents="Hi")

    said, drawn = parts(whole)
    assert said.text == "Here is the image."
    assert drawn.inline_data and drawn.inline_data.mime_type == "image/png"
    assert drawn.inline_data.data == FAKE_PNG_HEAD + b"in winter|[108]"
    assert whole.usage_metadata and whole.usage_metadata.candidates_token_count == 1290
    assert [p.inline_data.data for c in streamed for p in parts(c) if p.inline_data] == [drawn.inline_data.data]
    assert plain.text == "Hello from fake"  # without IMAGE asked for, the model only talks
    assert fake.requests[0].json["generationConfig"]["imageConfig"] == {"aspectRatio": "3:2"}


@async_test
async def test_json_schema_keywords_pass_under_parameters_json_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", **JSON_SCHEMA_KEYWORDS}}}
    declaration = types.FunctionDeclaration(name="f", parameters_json_schema=schema)
    openapi = types.FunctionDeclaration(
        name="g", parameters=types.Schema(type=types.Type.OBJECT, additional_properties=False, properties={})
    )
    async with served() as (_, client):
        accepted = await client.models.generate_content(
            model="m",
            contents="Hi",
            config=types.GenerateContentConfig(
                tools=[types.Tool(function_declarations=[declaration])], response_json_schema=schema
            ),
        )
        # The SDK sends its Schema type's additional_properties as is: the API's `parameters` refuses it.
        with pytest.raises(errors.ClientError, match='Unknown name "additional_properties"') as refused:
            await client.models.generate_content(
                model="m",
                contents="Hi",
                config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[openapi])]),
            )

    assert accepted.text == "Hello from fake"
    assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT")


@async_test
async def test_credentials_header_or_query_and_key_checks() -> None:
    path = "/v1beta/models/m:generateContent"
    async with FakeGemini(api_keys=["good"]) as fake:
        missing = await raw_post(fake, path, {"contents": HI}, {})
        by_query = await raw_post(fake, f"{path}?key=good", {"contents": HI}, {})
        client = sdk(fake, api_key="bad").aio
        with pytest.raises(errors.ClientError) as wrong:
            await client.models.generate_content(model="m", contents="Hi")
        await client.aclose()

    assert missing[0] == 403 and orjson.loads(missing[2])["error"]["status"] == "PERMISSION_DENIED"
    assert by_query[0] == 200 and fake.requests[1].api_key == "good"
    assert (wrong.value.code, wrong.value.status) == (400, "INVALID_ARGUMENT")
    assert wrong.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert [r.api_key for r in fake.requests] == [None, "good", "bad"]


@async_test
async def test_error_replies_raise_the_sdk_exceptions() -> None:
    async with served() as (fake, client):
        fake.script(
            error(429, "Resource has been exhausted (e.g. check quota).", retry_delay="7s"),
            error(503, "The model is overloaded. Please try again later."),
            error(500, "Internal error"),
        )
        with pytest.raises(errors.ClientError) as limited:
            await client.models.generate_content(model="m", contents="Hi")
        stream = await client.models.generate_content_stream(model="m", contents="Hi")
        with pytest.raises(errors.ServerError) as unavailable:
            await anext(stream)  # the SDK sends the request on the first read
        with pytest.raises(errors.ServerError) as internal:
            await client.models.generate_content(model="m", contents="Hi")

    assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert limited.value.details["error"]["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    ]
    assert (unavailable.value.code, unavailable.value.status) == (503, "UNAVAILABLE")
    assert unavailable.value.message == "The model is overloaded. Please try again later."
    assert (internal.value.code, internal.value.status) == (500, "INTERNAL")


@async_test
async def test_mid_stream_error_chunk_and_dropped_connection() -> None:
    async with served() as (fake, client):
        fake.script(
            fail_mid_stream("Hel", status=503, message="Overloaded now"),
            fail_mid_stream("Hel", drop=True),
            fail_mid_stream("Hel"),
            fail_mid_stream("Hel", drop=True),
            fail_mid_stream("Hel", "lo"),
        )
        seen: list[str | None] = []
        with pytest.raises(errors.ServerError) as caught:
            async for chunk in await client.models.generate_content_stream(model="m", contents="Hi"):
                seen.append(chunk.text)
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in await client.models.generate_content_stream(model="m", contents="Hi"):
                seen.append(chunk.text)
        # Not streamed, the same failures are a plain HTTP error and a connection closed before any answer.
        with pytest.raises(errors.ServerError) as whole:
            await client.models.generate_content(model="m", contents="Hi")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.models.generate_content(model="m", contents="Hi")
        _, _, raw = await raw_post(fake, "/v1beta/models/m:streamGenerateContent?alt=sse", {"contents": HI}, KEY)

    assert seen == ["Hel", "Hel"]
    assert (caught.value.code, caught.value.status, caught.value.message) == (503, "UNAVAILABLE", "Overloaded now")
    assert (whole.value.code, whole.value.status) == (500, "INTERNAL")
    # The pieces go out without finishReason or usage, then the error chunk ends the body.
    *pieces, failure = sse_data(raw, b"\r\n\r\n")
    assert [(list(p), list(p["candidates"][0])) for p in pieces] == [
        (["candidates", "modelVersion", "responseId"], ["content", "index"])
    ] * 2
    assert failure == {"error": {"code": 500, "message": INTERNAL_MESSAGE, "status": "INTERNAL"}}
    assert fake.disconnects == 0  # the fake itself ended those streams


@async_test
async def test_gate_holds_chunks_and_early_close_counts_a_disconnect() -> None:
    gate = asyncio.Event()
    async with served() as (fake, client):
        fake.script(text("a", "b", gate=gate))
        stream = await client.models.generate_content_stream(model="m", contents="Hi")
        assert (await anext(stream)).text == "a"
        # The upstream is parked on the gate: the next chunk must not arrive.
        next_chunk = asyncio.ensure_future(anext(stream))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(next_chunk), 0.05)
        gate.set()
        assert (await next_chunk).text == "b"
        assert [c async for c in stream] == []
        assert fake.disconnects == 0  # a complete stream is not a disconnect

        fake.script(text("x", "y", gate=asyncio.Event()))
        # Closing the SDK's stream leaves its connection open until collected; closing the client drops it.
        leaving = sdk(fake).aio
        early = await leaving.models.generate_content_stream(model="m", contents="Hi")
        await anext(early)
        await leaving.aclose()
        await fake.wait_for_disconnects(1)  # noticed while parked on the gate, without setting it
        assert fake.disconnects == 1


@async_test
async def test_head_and_chunk_delays() -> None:
    async with served() as (fake, client):
        fake.script(text("late", head_delay=0.5), text("a", "b", "c", chunk_delay=0.02))
        with pytest.raises(asyncio.TimeoutError):
            await client.models.generate_content(
                model="m", contents="Hi", config=types.GenerateContentConfig(http_options=types.HttpOptions(timeout=50))
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        stream = await client.models.generate_content_stream(model="m", contents="Hi")
        assert [c.text async for c in stream] == ["a", "b", "c"]
        assert loop.time() - started >= 2 * 0.02  # two chunks follow the first, each delayed
