"""Unit tests of the Gemini generateContent codec (Google's Gemini API generateContent reference, and the
README's translation tables); no network, no I/O."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects.anthropic_request import decode_messages_request
from interlingua.adapters.dialects.base import ModelCard, ModelList, Route
from interlingua.adapters.dialects.gemini import (
    CODEC,
    GeneratePassthrough,
    GenerateStreamDecoder,
    GenerateStreamEncoder,
    decode_generate_response,
    decode_usage,
    encode_error_body,
    encode_generate_response,
    encode_usage,
)
from interlingua.adapters.dialects.gemini_request import (
    SKIP_SIGNATURE,
    CallIds,
    decode_generate_request,
    decode_part,
    encode_generate_request,
)
from interlingua.adapters.dialects.openai_chat_request import decode_chat_request, encode_chat_request
from tests.support import decode_in_pieces, forward_in_pieces, no_clock, read_all, sse_data

# Fixtures ----------------------------------------------------------------------------------------

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAE="
WAV_B64 = "UklGRiQAAABXQVZF"
PDF_B64 = "JVBERi0xLjQK"
SIG = base64.b64encode(b"gemini-signature-1").decode()
SIG2 = base64.b64encode(b"gemini-signature-2").decode()
ANTHROPIC_SIG = "EqQBCkgIARABGAIiQNYz"
MODEL = "gemini-2.5-flash"
NO_HEADERS: dict[bytes, bytes] = {}

WEATHER_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER_GEMINI_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {"city": {"type": "STRING"}},
    "required": ["city"],
    "propertyOrdering": ["city"],
}


def body(*contents: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A generateContent body with `contents` (a single user "hi" when none) and `fields` on top."""
    return {"contents": list(contents) or [user({"text": "hi"})], **fields}


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def decode(raw: Any, **params: str) -> ir.ChatRequest:
    return decode_generate_request(raw, {"model": MODEL, "method": "generateContent", **params})


def config(**fields: Any) -> ir.ChatRequest:
    """Decode a body whose generationConfig is `fields`."""
    return decode(body(generationConfig=fields))


def calls_of(message: ir.Message) -> list[ir.ToolCall]:
    return [p for p in message.parts if isinstance(p, ir.ToolCall)]


# Routing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, query, route", [
    ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", b"",
     Route(ops.CHAT, {"model": "gemini-2.5-flash", "method": "generateContent", "alt": ""})),
    ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", b"alt=sse",
     Route(ops.CHAT, {"model": "gemini-2.5-flash", "method": "streamGenerateContent", "alt": "sse"})),
    ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", b"",
     Route(ops.CHAT, {"model": "gemini-2.5-flash", "method": "streamGenerateContent", "alt": ""})),
    ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", b"key=k&alt=sse",
     Route(ops.CHAT, {"model": "gemini-2.5-flash", "method": "streamGenerateContent", "alt": "sse"})),
    ("POST", "/v1beta/models/gemini-2.5-flash:countTokens", b"",
     Route(ops.COUNT_TOKENS, {"model": "gemini-2.5-flash", "method": "countTokens", "alt": ""})),
    ("POST", "/v1beta/models/models/gemini-2.5-flash:generateContent", b"",
     Route(ops.CHAT, {"model": "gemini-2.5-flash", "method": "generateContent", "alt": ""})),
    ("POST", "/v1beta/models/provider/some-model:generateContent", b"",
     Route(ops.CHAT, {"model": "provider/some-model", "method": "generateContent", "alt": ""})),
    ("POST", "/v1/models/gemini-2.5-pro:generateContent", b"",
     Route(ops.CHAT, {"model": "gemini-2.5-pro", "method": "generateContent", "alt": ""})),
    ("GET", "/v1beta/models", b"pageSize=2&pageToken=4", Route(ops.MODELS_LIST, {"pageSize": "2", "pageToken": "4"})),
    ("GET", "/v1beta/models/", b"", Route(ops.MODELS_LIST, {})),
    ("GET", "/v1beta/models/gemini-2.5-flash", b"", Route(ops.MODELS_GET, {"model": "gemini-2.5-flash"})),
    ("GET", "/v1/models/gemini-2.5-flash", b"", Route(ops.MODELS_GET, {"model": "gemini-2.5-flash"})),
], ids=lambda v: v if isinstance(v, str) else None)
def test_match(method: str, path: str, query: bytes, route: Route) -> None:
    assert CODEC.match(method, path, NO_HEADERS, query) == route


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1beta/models/gemini-2.5-flash"),
    ("POST", "/v1beta/models"),
    ("PUT", "/v1beta/models/gemini-2.5-flash:generateContent"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/messages"),
    ("GET", "/v1beta/tunedModels"),
    ("GET", "/v1beta/modelsfoo"),
    ("POST", "/v1beta/modelsx/gemini:generateContent"),
    ("GET", "/v2/models"),
])
def test_match_rejects_other_paths(method: str, path: str) -> None:
    assert CODEC.match(method, path, NO_HEADERS, b"") is None


# Request decoding: turns and parts ---------------------------------------------------------------


def test_decode_basic_fields() -> None:
    raw = body(safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
               cachedContent="cachedContents/abc")
    req = decode_generate_request(raw, {"model": "gemini-x", "method": "streamGenerateContent", "alt": "sse"})
    assert req.model == "gemini-x"
    assert req.dialect == CODEC.name == "gemini"
    assert req.native is raw
    assert req.stream is True and req.stream_usage is True
    assert req.params == {"model": "gemini-x", "method": "streamGenerateContent", "alt": "sse"}
    assert req.extra == {"safetySettings": raw["safetySettings"], "cachedContent": "cachedContents/abc"}
    assert req.messages == [ir.Message("user", [ir.Text("hi")])]
    assert decode(body()).stream is False


@pytest.mark.parametrize("system", [
    {"systemInstruction": "Be terse."},
    {"systemInstruction": {"parts": [{"text": "Be terse."}]}},
    {"systemInstruction": {"role": "user", "parts": [{"text": "Be terse."}]}},  # Gemini CLI sends a role
    {"system_instruction": {"parts": [{"text": "Be terse."}]}},
])
def test_decode_system_instruction_forms(system: dict[str, Any]) -> None:
    req = decode(body(**system))
    assert req.messages[0] == ir.Message("system", [ir.Text("Be terse.")])
    assert req.messages[1].role == "user"
    assert req.extra == {}


def test_decode_system_instruction_with_several_parts() -> None:
    req = decode(body(systemInstruction={"parts": [{"text": "A"}, {"text": "B"}]}))
    assert req.messages[0].parts == [ir.Text("A"), ir.Text("B")]


def test_decode_roles_and_consecutive_turns() -> None:
    """user/model become user/assistant; a missing role is user; same-role turns stay separate turns."""
    req = decode(body({"parts": [{"text": "a"}]}, user({"text": "b"}), model({"text": "c"}),
                      model({"text": "d"}), {"role": "function", "parts": [{"text": "e"}]}))
    assert [(m.role, m.parts) for m in req.messages] == [
        ("user", [ir.Text("a")]), ("user", [ir.Text("b")]), ("assistant", [ir.Text("c")]),
        ("assistant", [ir.Text("d")]), ("user", [ir.Text("e")]),
    ]


@pytest.mark.parametrize("part, expected", [
    ({"text": "hello"}, ir.Text("hello")),
    ({"inlineData": {"mimeType": "image/png", "data": PNG_B64}}, ir.Image(data=PNG_B64, media_type="image/png")),
    ({"inline_data": {"mime_type": "image/jpeg", "data": PNG_B64}}, ir.Image(data=PNG_B64, media_type="image/jpeg")),
    ({"inlineData": {"mimeType": "audio/wav", "data": WAV_B64}}, ir.Audio(data=WAV_B64, format="wav")),
    ({"inlineData": {"mimeType": "audio/mp3", "data": WAV_B64}}, ir.Audio(data=WAV_B64, format="mp3")),
    ({"inlineData": {"mimeType": "application/pdf", "data": PDF_B64}},
     ir.File(data=PDF_B64, media_type="application/pdf")),
    ({"fileData": {"mimeType": "image/png", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/a"}},
     ir.Image(url="https://generativelanguage.googleapis.com/v1beta/files/a", media_type="image/png")),
    ({"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/doc.pdf"}},
     ir.File(url="gs://bucket/doc.pdf", media_type="application/pdf")),
    ({"file_data": {"mime_type": "video/mp4", "file_uri": "gs://bucket/v.mp4"}},
     ir.File(url="gs://bucket/v.mp4", media_type="video/mp4")),
], ids=lambda v: next(iter(v)) if isinstance(v, dict) else None)
def test_decode_data_parts(part: dict[str, Any], expected: ir.Part) -> None:
    assert decode(body(user(part))).messages == [ir.Message("user", [expected])]


def test_decode_executable_code_is_kept_opaque() -> None:
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
    result = {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}}
    req = decode(body(user({"text": "run"}), model(code, result)))
    assert req.messages[1].parts == [ir.Opaque("gemini", code), ir.Opaque("gemini", result)]


def test_decode_thought_parts_are_gemini_reasoning() -> None:
    req = decode(body(user({"text": "q"}), model({"text": "Planning...", "thought": True}, {"text": "A."})))
    assert req.messages[1].parts == [ir.Reasoning(text="Planning...", provider="gemini"), ir.Text("A.")]


def test_decode_signature_becomes_reasoning_before_its_part() -> None:
    call = {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIG}
    req = decode(body(user({"text": "q"}), model({"text": "Sure.", "thoughtSignature": SIG2}, call)))
    parts = req.messages[1].parts
    assert parts[0] == ir.Reasoning(signature=SIG2, provider="gemini")
    assert parts[1] == ir.Text("Sure.")
    assert parts[2] == ir.Reasoning(signature=SIG, provider="gemini")
    assert isinstance(parts[3], ir.ToolCall) and parts[3].name == "f"


def test_decode_signature_on_an_empty_text_part_is_kept_alone() -> None:
    req = decode(body(user({"text": "q"}), model({"text": "Done."}, {"text": "", "thoughtSignature": SIG})))
    assert req.messages[1].parts == [ir.Text("Done."), ir.Reasoning(signature=SIG, provider="gemini")]


def test_decode_signature_on_a_thought_part() -> None:
    req = decode(body(user({"text": "q"}), model({"text": "t", "thought": True, "thought_signature": SIG})))
    assert req.messages[1].parts == [ir.Reasoning(signature=SIG, provider="gemini"),
                                     ir.Reasoning(text="t", provider="gemini")]


def test_decode_function_call_ids_given_and_synthesised() -> None:
    """Gemini's ids are kept and marked; missing ones are minted and left unmarked."""
    req = decode(body(user({"text": "q"}), model(
        {"functionCall": {"id": "fc_1", "name": "get", "args": {"city": "Paris"}}, "thoughtSignature": SIG},
        {"function_call": {"name": "put", "args": {"a": [1, 2]}}},
        {"functionCall": {"name": "noargs"}},
    )))
    first, second, third = calls_of(req.messages[1])
    assert first == ir.ToolCall("fc_1", "get", '{"city":"Paris"}', extra={"gemini_id": True})
    assert second.id.startswith("call_") and len(second.id) > 10
    assert (second.name, orjson.loads(second.arguments), second.extra) == ("put", {"a": [1, 2]}, None)
    assert third.id.startswith("call_") and third.id != second.id
    assert third.arguments == "{}"


def test_decode_function_responses_pair_by_id() -> None:
    req = decode(body(
        user({"text": "q"}),
        model({"functionCall": {"id": "fc_1", "name": "f", "args": {}}},
              {"functionCall": {"id": "fc_2", "name": "f", "args": {}}}),
        user({"functionResponse": {"id": "fc_2", "name": "f", "response": {"output": "two"}}},
             {"functionResponse": {"id": "fc_1", "name": "f", "response": {"output": "one"}}}),
    ))
    results = req.messages[2].parts
    assert req.messages[2].role == "tool"
    assert results == [ir.ToolResult("fc_2", [ir.Text("two")], name="f", extra={"gemini_id": True}),
                       ir.ToolResult("fc_1", [ir.Text("one")], name="f", extra={"gemini_id": True})]


def test_decode_function_responses_pair_by_name_and_order() -> None:
    """Gemini 2.x sends no ids: each response takes the oldest unanswered call of its name."""
    req = decode(body(
        user({"text": "q"}),
        model({"functionCall": {"name": "f", "args": {"n": 1}}}, {"functionCall": {"name": "g", "args": {}}},
              {"functionCall": {"name": "f", "args": {"n": 2}}}),
        user({"functionResponse": {"name": "g", "response": {"result": "G"}}},
             {"functionResponse": {"name": "f", "response": {"result": "F1"}}},
             {"functionResponse": {"name": "f", "response": {"result": "F2"}}}),
    ))
    f1, g1, f2 = calls_of(req.messages[1])
    results = [p for p in req.messages[2].parts if isinstance(p, ir.ToolResult)]
    assert [(r.call_id, r.name, r.content) for r in results] == [
        (g1.id, "g", [ir.Text("G")]), (f1.id, "f", [ir.Text("F1")]), (f2.id, "f", [ir.Text("F2")])]
    assert all(r.extra is None for r in results)


def test_many_responses_pair_in_linear_time_a_given_id_answering_its_call_alone() -> None:
    """80,000 calls answered in reverse order by id took 111 s (a list searched and shifted each
    time, on the event loop). A response by id answers that call, so a later one without an id
    takes the oldest call still unanswered, duplicates counted."""
    n = 60_000
    calls = [{"functionCall": {"id": f"fc_{i}", "name": "f", "args": {}}} for i in range(n)]
    answers = [{"functionResponse": {"id": f"fc_{i}", "name": "f", "response": {"output": i}}}
               for i in reversed(range(n))]
    req = decode(body(user({"text": "q"}), model(*calls), user(*answers)))
    results = [p for p in req.messages[2].parts if isinstance(p, ir.ToolResult)]
    assert [r.call_id for r in results] == [f"fc_{i}" for i in reversed(range(n))]

    ids = CallIds()
    first, again, minted = ids.call("f", "a"), ids.call("f", "a"), ids.call("f", None)
    assert (first, again) == ("a", "a") and minted.startswith("call_")
    assert [ids.response("f", "a"), ids.response("f", None), ids.response("f", None)] == ["a", "a", minted]
    assert ids.response("f", None) not in ("a", minted)


def test_decode_function_response_without_a_call_gets_an_id() -> None:
    req = decode(body(user({"functionResponse": {"name": "orphan", "response": {"result": 1}}})))
    (result,) = req.messages[0].parts
    assert isinstance(result, ir.ToolResult) and result.call_id.startswith("call_") and result.name == "orphan"


@pytest.mark.parametrize("response, content, is_error", [
    ({"result": "sunny"}, "sunny", False),
    ({"output": "ok"}, "ok", False),
    ({"content": "c"}, "c", False),
    ({"result": {"t": 18}}, '{"t":18}', False),
    ({"t": 18, "unit": "C"}, '{"t":18,"unit":"C"}', False),
    ({"error": "station offline"}, "station offline", True),
    ({"error": {"code": 7}}, '{"code":7}', True),
    ({"error": "x", "code": 3}, '{"error":"x","code":3}', False),
    ("bare string", '"bare string"', False),
    ([1, 2], "[1,2]", False),
])
def test_decode_function_response_bodies(response: Any, content: str, is_error: bool) -> None:
    req = decode(body(user({"text": "q"}), model({"functionCall": {"name": "f", "args": {}}}),
                      user({"functionResponse": {"name": "f", "response": response}})))
    (result,) = req.messages[2].parts
    assert isinstance(result, ir.ToolResult)
    assert result.content == [ir.Text(content)]
    assert result.is_error is is_error


def test_a_gemini_clients_error_reads_as_its_words_elsewhere_and_goes_back_as_it_came() -> None:
    """Gemini CLI answers a failed tool with {"error": "..."}: a Chat model reads "Error: <words>",
    not the object; a Gemini model gets the object back."""
    failed = {"functionResponse": {"name": "read_file", "response": {"error": "File not found: a.png"}}}
    req = decode(body(user({"text": "q"}), model({"functionCall": {"name": "read_file", "args": {}}}), user(failed)))
    chat_body = encode_chat_request(read_all(req), "gpt-x")
    assert chat_body["messages"][-1]["content"] == "Error: File not found: a.png"
    assert encode(req)["contents"][2]["parts"][0]["functionResponse"]["response"] == {"error": "File not found: a.png"}


def test_decode_parallel_calls_and_results_then_user_text() -> None:
    """All responses of a turn become one tool message, in order; the turn's text follows as a user turn."""
    req = decode(body(
        user({"text": "Paris and Rome?"}),
        model({"functionCall": {"name": "w", "args": {"c": "Paris"}}, "thoughtSignature": SIG},
              {"functionCall": {"name": "w", "args": {"c": "Rome"}}}),
        user({"functionResponse": {"name": "w", "response": {"result": "18C"}}}, {"text": "also this"},
             {"functionResponse": {"name": "w", "response": {"result": "25C"}}}),
    ))
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "user"]
    paris, rome = calls_of(req.messages[1])
    assert [(r.call_id, r.content) for r in req.messages[2].parts] == [  # type: ignore[union-attr]
        (paris.id, [ir.Text("18C")]), (rome.id, [ir.Text("25C")])]
    assert req.messages[3].parts == [ir.Text("also this")]


# Request decoding: configuration -----------------------------------------------------------------


def test_decode_generation_config_fields() -> None:
    req = config(temperature=0.5, topP=0.9, topK=40, maxOutputTokens=512, stopSequences=["END"], candidateCount=2,
                 seed=7, responseLogprobs=True, logprobs=3, presencePenalty=0.1, frequencyPenalty=0.2)
    assert (req.temperature, req.top_p, req.top_k, req.max_tokens) == (0.5, 0.9, 40, 512)
    assert (req.stop, req.n, req.seed, req.logprobs, req.top_logprobs) == (["END"], 2, 7, True, 3)
    assert req.reasoning_effort is None and req.reasoning_budget is None and req.response_format is None


def test_decode_generation_config_snake_case() -> None:
    raw = body(generation_config={"max_output_tokens": 64, "top_p": 0.5, "top_k": 3, "stop_sequences": ["x"],
                                  "candidate_count": 1, "response_logprobs": False,
                                  "thinking_config": {"thinking_budget": 2048, "include_thoughts": True}})
    req = decode(raw)
    assert (req.max_tokens, req.top_p, req.top_k, req.stop, req.n, req.logprobs) == (64, 0.5, 3, ["x"], 1, False)
    assert req.reasoning_budget == 2048


def test_decode_generation_config_fields_the_api_documents_are_accepted() -> None:
    """Fields of Gemini's GenerationConfig with no IR slot are not errors (they ride in `native`)."""
    req = config(responseModalities=["TEXT"], mediaResolution="MEDIA_RESOLUTION_LOW",
                 speechConfig={"voiceConfig": {}}, enable_enhanced_civic_answers=True)
    assert req.native is not None and req.native["generationConfig"]["responseModalities"] == ["TEXT"]


@pytest.mark.parametrize("key", ["maxTokens", "max_tokens", "thinking", "topLogprobs"])
def test_decode_unknown_generation_config_field_is_a_400_naming_it(key: str) -> None:
    with pytest.raises(ir.GatewayError) as caught:
        config(**{key: 1})
    assert caught.value.status == 400 and caught.value.kind == "invalid_request"
    assert caught.value.param == f"generationConfig.{key}"
    assert key in caught.value.message


@pytest.mark.parametrize("thinking, effort, budget", [
    ({"thinkingBudget": 0}, "none", None),
    ({"thinkingBudget": 0, "includeThoughts": False}, "none", None),
    ({"thinkingBudget": -1, "includeThoughts": True}, "medium", None),
    ({"thinkingBudget": 8192, "includeThoughts": True}, None, 8192),
    ({"thinking_budget": 512}, None, 512),
    ({"thinkingLevel": "LOW"}, "low", None),
    ({"thinkingLevel": "high", "includeThoughts": True}, "high", None),
    ({"thinking_level": "MINIMAL"}, "minimal", None),
    ({"thinkingLevel": "MEDIUM"}, "medium", None),
    ({"includeThoughts": True}, None, None),
])
def test_decode_thinking_config(thinking: dict[str, Any], effort: str | None, budget: int | None) -> None:
    req = config(thinkingConfig=thinking)
    assert (req.reasoning_effort, req.reasoning_budget) == (effort, budget)


def test_decode_response_schema_upper_case_is_converted() -> None:
    req = config(responseMimeType="application/json", responseSchema=WEATHER_GEMINI_SCHEMA)
    assert req.response_format == ir.ResponseFormat("json_schema", schema=WEATHER_JSON_SCHEMA, name="response")


def test_decode_response_json_schema() -> None:
    req = config(response_mime_type="application/json", response_json_schema=WEATHER_JSON_SCHEMA)
    assert req.response_format == ir.ResponseFormat("json_schema", schema=WEATHER_JSON_SCHEMA, name="response")


def test_decode_response_json_schema_with_upper_case_types_is_normalised() -> None:
    """Gemini CLI's router sends JSON Schema with Gemini's type names (observed against a recording upstream)."""
    schema = {"type": "OBJECT", "properties": {"reasoning": {"type": "STRING"}, "score": {"type": "INTEGER"}},
              "required": ["reasoning", "score"]}
    req = config(responseMimeType="application/json", responseJsonSchema=schema)
    assert req.response_format is not None and req.response_format.schema == {
        "type": "object", "properties": {"reasoning": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["reasoning", "score"]}


def test_decode_json_without_schema_is_json_object_and_other_types_nothing() -> None:
    assert config(responseMimeType="application/json").response_format == ir.ResponseFormat("json_object")
    assert config(responseMimeType="text/plain").response_format is None
    assert config(responseMimeType="text/x.enum", responseSchema={"type": "STRING"}).response_format is None


def test_decode_tools_every_form() -> None:
    raw = body(tools=[
        {"functionDeclarations": [
            {"name": "gemini_schema", "description": "d", "parameters": WEATHER_GEMINI_SCHEMA},
            {"name": "json_schema", "parametersJsonSchema": WEATHER_JSON_SCHEMA},
            {"name": "snake", "parameters_json_schema": WEATHER_JSON_SCHEMA},
            {"name": "bare"},
        ]},
        {"function_declarations": [{"name": "snake_tool", "parameters": {"type": "OBJECT"}}]},
        {"googleSearch": {}},
        {"codeExecution": {}},
    ])
    tools = decode(raw).tools
    assert tools == [
        ir.Tool("gemini_schema", "d", WEATHER_JSON_SCHEMA),
        ir.Tool("json_schema", None, WEATHER_JSON_SCHEMA),
        ir.Tool("snake", None, WEATHER_JSON_SCHEMA),
        ir.Tool("bare", None, None),
        ir.Tool("snake_tool", None, {"type": "object"}),
        ir.Tool("googleSearch", kind="server", extra={"gemini": {"googleSearch": {}}}),
        ir.Tool("codeExecution", kind="server", extra={"gemini": {"codeExecution": {}}}),
    ]


@pytest.mark.parametrize("tool_config, choice, validated", [
    ({"functionCallingConfig": {"mode": "AUTO"}}, ir.ToolChoice("auto"), False),
    ({"functionCallingConfig": {"mode": "ANY"}}, ir.ToolChoice("required"), False),
    ({"functionCallingConfig": {"mode": "NONE"}}, ir.ToolChoice("none"), False),
    ({"functionCallingConfig": {"mode": "any", "allowedFunctionNames": ["f"]}}, ir.ToolChoice("required", ["f"]),
     False),
    ({"function_calling_config": {"mode": "VALIDATED", "allowed_function_names": ["f", "g"]}},
     ir.ToolChoice("auto", ["f", "g"]), True),
    ({"functionCallingConfig": {}}, ir.ToolChoice("auto"), False),
    ({}, None, False),
])
def test_decode_tool_config_modes(tool_config: dict[str, Any], choice: ir.ToolChoice | None,
                                  validated: bool) -> None:
    req = decode(body(toolConfig=tool_config, tools=[{"functionDeclarations": [{"name": "f"}, {"name": "g"}]}]))
    assert req.tool_choice == choice
    assert (req.extra.get("gemini_mode") == "VALIDATED") is validated


def test_decode_tool_config_snake_case_key() -> None:
    req = decode(body(tool_config={"functionCallingConfig": {"mode": "NONE"}}))
    assert req.tool_choice == ir.ToolChoice("none")


def test_count_tokens_both_forms() -> None:
    plain = {"contents": [user({"text": "count me"})]}
    wrapped = {"generateContentRequest": {
        "model": "models/gemini-2.5-flash", "contents": [user({"text": "count me"})],
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
        "generationConfig": {"maxOutputTokens": 10}}}
    params = {"model": MODEL, "method": "countTokens"}
    a = CODEC.decode_request(ops.COUNT_TOKENS, plain, NO_HEADERS, params)
    b = CODEC.decode_request(ops.COUNT_TOKENS, wrapped, NO_HEADERS, params)
    assert a.messages == [ir.Message("user", [ir.Text("count me")])]
    assert b.messages == [ir.Message("system", [ir.Text("sys")]), ir.Message("user", [ir.Text("count me")])]
    assert b.tools == [ir.Tool("f")] and b.max_tokens == 10 and b.model == MODEL
    assert a.stream is False and b.stream is False


@pytest.mark.parametrize("raw, param", [
    (lambda: [], "body"),
    (lambda: {}, "contents"),
    (lambda: {"contents": None}, "contents"),
    (lambda: {"contents": "hi"}, "contents"),
    (lambda: {"contents": ["hi"]}, "contents[0]"),
    (lambda: {"contents": [{"role": "user"}]}, "contents[0].parts"),
    (lambda: {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    (lambda: {"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    (lambda: body(user({"text": "a", "inlineData": {"mimeType": "image/png", "data": PNG_B64}})),
     "contents[0].parts[0]"),
    (lambda: body(user({"text": "ok"}, {"thought": True})), "contents[0].parts[1]"),
    (lambda: body(user({})), "contents[0].parts[0]"),
    (lambda: body(user("text")), "contents[0].parts[0]"),
    (lambda: body(user({"text": 3})), "contents[0].parts[0].text"),
    (lambda: body(model({"functionCall": {"args": {}}})), "contents[0].parts[0].functionCall.name"),
    (lambda: body(model({"functionCall": "f"})), "contents[0].parts[0].functionCall"),
    (lambda: body(user({"functionResponse": {"response": {}}})), "contents[0].parts[0].functionResponse.name"),
    (lambda: body(user({"inlineData": {"mimeType": "image/png"}})), "contents[0].parts[0].inlineData.data"),
    (lambda: body(user({"fileData": {"mimeType": "image/png"}})), "contents[0].parts[0].fileData.fileUri"),
    (lambda: body(systemInstruction=[{"text": "x"}]), "systemInstruction"),
    (lambda: body(generationConfig="hot"), "generationConfig"),
    (lambda: body(toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
     "toolConfig.functionCallingConfig.mode"),
    (lambda: body(tools=[{"functionDeclarations": [{"description": "nameless"}]}]),
     "tools[0].functionDeclarations[0].name"),
    (lambda: body(tools=["f"]), "tools[0]"),
    # wrong types where a decoder once crashed, each named by its path
    (lambda: body(user({"text": ["a"]})), "contents[0].parts[0].text"),
    (lambda: body(user({"text": {"a": 1}})), "contents[0].parts[0].text"),
    (lambda: body(user({"text": "x", "thoughtSignature": ["s"]})), "contents[0].parts[0].thoughtSignature"),
    (lambda: body(user({"inline_data": {"mime_type": ["image/png"], "data": PNG_B64}})),
     "contents[0].parts[0].inline_data.mime_type"),
    (lambda: body(model({"functionCall": {"name": "f", "id": 7}})), "contents[0].parts[0].functionCall.id"),
    (lambda: body(systemInstruction={"parts": 1.5}), "systemInstruction.parts"),
    (lambda: body(system_instruction={"parts": [{"text": 2}]}), "system_instruction.parts[0].text"),
    (lambda: body(generationConfig={"stopSequences": True}), "generationConfig.stopSequences"),
    (lambda: body(generationConfig={"max_output_tokens": "many"}), "generationConfig.max_output_tokens"),
    (lambda: body(generationConfig={"temperature": "hot"}), "generationConfig.temperature"),
    (lambda: body(generationConfig={"thinkingConfig": {"thinkingBudget": "all"}}),
     "generationConfig.thinkingConfig.thinkingBudget"),
    (lambda: body(generationConfig={"responseMimeType": "application/json", "responseSchema": [1]}),
     "generationConfig.responseSchema"),
    (lambda: body(toolConfig={"functionCallingConfig": {"mode": 3}}), "toolConfig.functionCallingConfig.mode"),
    (lambda: body(toolConfig={"functionCallingConfig": {"allowedFunctionNames": [{}]}}),
     "toolConfig.functionCallingConfig.allowedFunctionNames"),
    (lambda: body(toolConfig=["AUTO"]), "toolConfig"),
    (lambda: body(tools=[{"functionDeclarations": 5}]), "tools[0].functionDeclarations"),
])
def test_validation_names_the_field(raw: Callable[[], Any], param: str) -> None:
    with pytest.raises(ir.GatewayError) as caught:
        read_all(decode(raw()))
    assert caught.value.status == 400 and caught.value.kind == "invalid_request"
    assert caught.value.param == param
    assert caught.value.message.startswith(param + ":")


def test_two_data_fields_error_names_both() -> None:
    with pytest.raises(ir.GatewayError) as caught:
        read_all(decode(body(user({"text": "a", "functionCall": {"name": "f"}}))))
    assert "text" in caught.value.message and "functionCall" in caught.value.message


@pytest.mark.parametrize(("status", "code", "expected"), [
    (429, 429, 429), (400, -1, 400), (400, 200, 400), (500, "503", 502), (200, 503, 503), (200, -1, 502)])
def test_an_upstream_error_takes_its_status_from_the_body_only_where_it_is_one(status: int, code: Any,
                                                                              expected: int) -> None:
    """An in-stream error (HTTP 200) has its status in the body's `code`; an odd `code` is no status:
    the HTTP one stands, or for an in-stream error, the upstream's failure."""
    body = orjson.dumps({"error": {"code": code, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}})
    assert CODEC.decode_error(status, body).status == expected


def test_validation_error_renders_as_a_google_400_body() -> None:
    with pytest.raises(ir.GatewayError) as caught:
        decode({})
    assert orjson.loads(CODEC.encode_error(caught.value)) == {
        "error": {"code": 400, "message": "contents: is required", "status": "INVALID_ARGUMENT"}}


def test_decode_does_not_mutate_the_body() -> None:
    raw = body(user({"text": "q"}), model({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIG}),
               user({"functionResponse": {"name": "f", "response": {"result": 1}}}),
               systemInstruction="s", generationConfig={"responseMimeType": "application/json",
                                                        "responseSchema": WEATHER_GEMINI_SCHEMA},
               tools=[{"functionDeclarations": [{"name": "f", "parameters": WEATHER_GEMINI_SCHEMA}]}])
    before = copy.deepcopy(raw)
    decode(raw)
    assert raw == before


# Request encoding --------------------------------------------------------------------------------


def chat(*messages: dict[str, Any], **fields: Any) -> ir.ChatRequest:
    """IR as the OpenAI Chat codec builds it."""
    return decode_chat_request({"model": "gpt-x", "messages": list(messages), **fields})


def messages_ir(*messages: dict[str, Any], **fields: Any) -> ir.ChatRequest:
    """IR as the Anthropic Messages codec builds it."""
    return decode_messages_request({"model": "claude-x", "max_tokens": 1024, "messages": list(messages),
                                    **fields}, NO_HEADERS)


def encode(req: ir.ChatRequest, target: str = MODEL) -> dict[str, Any]:
    out = encode_generate_request(req, target)
    assert orjson.loads(orjson.dumps(out)) == out  # plain JSON
    return out


def test_encode_minimal() -> None:
    assert encode(chat({"role": "user", "content": "hi"})) == {"contents": [user({"text": "hi"})]}


def test_encode_system_messages_are_hoisted_and_joined() -> None:
    out = encode(chat({"role": "system", "content": "A"}, {"role": "user", "content": "hi"},
                      {"role": "developer", "content": [{"type": "text", "text": "B"}]},
                      {"role": "user", "content": "more"}))
    assert out["systemInstruction"] == {"parts": [{"text": "A"}, {"text": "B"}]}
    assert out["contents"] == [user({"text": "hi"}, {"text": "more"})]  # merged once the system turn is out


def test_encode_anthropic_system_and_merged_turns() -> None:
    out = encode(messages_ir({"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                             {"role": "assistant", "content": "c"}, system="sys"))
    assert out["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert out["contents"] == [user({"text": "a"}, {"text": "b"}), model({"text": "c"})]


def test_encode_media_parts() -> None:
    out = encode(chat({"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.jpg"}},
        {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF_B64}", "filename": "a.pdf"}},
    ]}))
    assert out["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.jpg"}},
        {"inlineData": {"mimeType": "audio/wav", "data": WAV_B64}},
        {"inlineData": {"mimeType": "application/pdf", "data": PDF_B64}},
    ]


def openai_tool_loop() -> ir.ChatRequest:
    return chat(
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 18, "sky": "sunny"}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
        {"role": "user", "content": "Thanks"},
    )


def test_encode_openai_tool_loop() -> None:
    """Names of responses come from the calls; JSON results stay objects, text is wrapped; no ids sent."""
    out = encode(openai_tool_loop())
    assert out["contents"] == [
        user({"text": "Weather in Paris and Rome?"}),
        model({"text": "Checking."},
              {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_SIGNATURE},
              {"functionCall": {"name": "get_time", "args": {}}}),
        user({"functionResponse": {"name": "get_weather", "response": {"temp": 18, "sky": "sunny"}}},
             {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
             {"text": "Thanks"}),
    ]
    assert base64.b64decode(SKIP_SIGNATURE) == b"skip_thought_signature_validator"


@pytest.mark.parametrize("content, response", [
    ('{"a": 1}', {"a": 1}),
    ("[1, 2]", {"result": [1, 2]}),
    ("42", {"result": 42}),
    ('"quoted"', {"result": "quoted"}),
    ("plain text", {"result": "plain text"}),
    ("", {"result": ""}),
])
def test_encode_function_response_wrapping(content: str, response: dict[str, Any]) -> None:
    out = encode(chat({"role": "user", "content": "q"},
                      {"role": "assistant", "content": None, "tool_calls": [
                          {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                      {"role": "tool", "tool_call_id": "c", "content": content}))
    assert out["contents"][2]["parts"] == [{"functionResponse": {"name": "f", "response": response}}]


@pytest.mark.parametrize("model, inside", [("gemini-2.5-pro", False), ("gemini-3-pro-preview", True),
                                            ("models/gemini-3-flash", True), ("upstream-model", False)])
def test_encode_a_tool_results_media_beside_or_inside_its_function_response(model: str, inside: bool) -> None:
    """As Gemini CLI sends a tool's images: inline inside the functionResponse (`parts`) for a Gemini 3
    model, beside it in the same turn for an earlier one; a file by URI beside it always."""
    req = messages_ir(
        {"role": "user", "content": "What is in it?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "Read",
                                           "input": {"file_path": "/w/pixel.png"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": [
            {"type": "text", "text": "read"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}]}]})
    parts = encode(req, model)["contents"][2]["parts"]
    inline = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}
    by_uri = {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.jpg"}}
    response = {"name": "Read", "response": {"result": "read"}}
    if inside:
        assert parts == [{"functionResponse": {**response, "parts": [inline]}}, by_uri]
    else:
        assert parts == [{"functionResponse": response}, inline, by_uri]


def test_decode_a_function_responses_own_media() -> None:
    """Gemini 3's multimodal function responses: the media in `parts` belong to the tool's result."""
    req = decode(body(user({"text": "q"}), model({"functionCall": {"name": "shot", "args": {}, "id": "c1"}}),
                      user({"functionResponse": {"name": "shot", "id": "c1", "response": {"output": "taken"},
                                                 "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                                                           {"file_data": {"mime_type": "application/pdf",
                                                                          "file_uri": "gs://b/r.pdf"}}]}})))
    (result,) = req.messages[2].parts
    assert isinstance(result, ir.ToolResult)
    assert result.content == [ir.Text("taken"), ir.Image(data="AAAA", media_type="image/png"),
                              ir.File(url="gs://b/r.pdf", media_type="application/pdf")]
    with pytest.raises(ir.GatewayError) as bad:
        read_all(decode(body(user({"text": "q"}), model({"functionCall": {"name": "shot", "args": {}}}),
                             user({"functionResponse": {"name": "shot", "response": {},
                                                        "parts": [{"text": "no"}]}}))))
    assert bad.value.param == "contents[2].parts[0].functionResponse.parts[0]"


def test_encode_anthropic_tool_loop_error_result_and_foreign_signature() -> None:
    """is_error becomes {"error": ...}; an Anthropic signature is never sent, the placeholder is."""
    req = messages_ir(
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": ANTHROPIC_SIG},
            {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"q": "x"}},
            {"type": "tool_use", "id": "toolu_02", "name": "fetch", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "not found", "is_error": True},
            {"type": "tool_result", "tool_use_id": "toolu_02", "content": [{"type": "text", "text": '{"ok": true}'}]},
        ]},
    )
    out = encode(req)
    assert ANTHROPIC_SIG not in orjson.dumps(out).decode()
    assert out["contents"][1] == model(
        {"functionCall": {"name": "lookup", "args": {"q": "x"}}, "thoughtSignature": SKIP_SIGNATURE},
        {"functionCall": {"name": "fetch", "args": {}}})
    assert out["contents"][2] == user(
        {"functionResponse": {"name": "lookup", "response": {"error": "not found"}}},
        {"functionResponse": {"name": "fetch", "response": {"ok": True}}})


def test_encode_error_result_with_json_body() -> None:
    req = messages_ir(
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                                      "content": '{"code": 500}'}]},
    )
    assert encode(req)["contents"][2]["parts"][0]["functionResponse"]["response"] == {"error": {"code": 500}}


def test_gemini_history_round_trips_with_its_ids_and_signatures() -> None:
    """A Gemini conversation decoded then encoded sends back Gemini's ids and signatures, and only those."""
    raw = body(
        user({"text": "q"}),
        model({"text": "thinking", "thought": True},
              {"functionCall": {"id": "fc_1", "name": "f", "args": {"a": 1}}, "thoughtSignature": SIG},
              {"functionCall": {"name": "g", "args": {}}}),
        user({"functionResponse": {"id": "fc_1", "name": "f", "response": {"v": 1}}},
             {"functionResponse": {"name": "g", "response": {"result": "G"}}}),
        model({"text": "Done."}, {"text": "", "thoughtSignature": SIG2}),
        user({"text": "next"}),
    )
    out = encode(decode(raw))
    assert out["contents"] == [
        user({"text": "q"}),
        model({"functionCall": {"id": "fc_1", "name": "f", "args": {"a": 1}}, "thoughtSignature": SIG},
              {"functionCall": {"name": "g", "args": {}}}),
        user({"functionResponse": {"id": "fc_1", "name": "f", "response": {"v": 1}}},
             {"functionResponse": {"name": "g", "response": {"result": "G"}}}),
        model({"text": "Done.", "thoughtSignature": SIG2}),
        user({"text": "next"}),
    ]


def test_encode_first_call_carries_the_gemini_signature_even_when_it_came_later() -> None:
    """Only the first functionCall of a model turn is signed, with the turn's first Gemini signature."""
    req = chat({"role": "user", "content": "q"})
    req.messages.append(ir.Message("assistant", [
        ir.Text("x"),
        ir.ToolCall("a", "f", "{}"),
        ir.Reasoning(signature=ANTHROPIC_SIG, provider="anthropic"),
        ir.Reasoning(signature=SIG, provider="gemini"),
        ir.ToolCall("b", "g", "{}"),
    ]))
    parts = encode(req)["contents"][1]["parts"]
    assert parts == [{"text": "x"}, {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIG},
                     {"functionCall": {"name": "g", "args": {}}}]


def test_encode_reasoning_text_and_foreign_reasoning_are_not_sent() -> None:
    req = chat({"role": "user", "content": "q"})
    req.messages.append(ir.Message("assistant", [ir.Reasoning(text="mine", provider="gemini"),
                                                 ir.Reasoning(text="theirs", signature=ANTHROPIC_SIG,
                                                              provider="anthropic"),
                                                 ir.Text("answer")]))
    req.messages.append(ir.Message("assistant", [ir.Reasoning(text="only reasoning", provider="anthropic")]))
    assert encode(req)["contents"] == [user({"text": "q"}), model({"text": "answer"})]


def test_encode_non_object_arguments() -> None:
    req = chat({"role": "user", "content": "q"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}},
                   {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{broken"}}]})
    parts = encode(req)["contents"][1]["parts"]
    assert parts[0]["functionCall"]["args"] == {"value": [1]}
    assert parts[1]["functionCall"]["args"] == {"_raw": "{broken"}


@pytest.mark.parametrize("effort, target, thinking", [
    ("high", "gemini-2.5-flash", {"thinkingBudget": 4096, "includeThoughts": True}),
    ("medium", "gemini-2.5-pro", {"thinkingBudget": 2048, "includeThoughts": True}),
    ("low", "gemini-2.5-flash", {"thinkingBudget": 1024, "includeThoughts": True}),
    ("none", "gemini-2.5-flash", {"thinkingBudget": 0, "includeThoughts": False}),
    ("high", "gemini-3-pro-preview", {"thinkingLevel": "high", "includeThoughts": True}),
    ("medium", "gemini-3-flash", {"thinkingLevel": "high", "includeThoughts": True}),
    ("minimal", "gemini-3-flash", {"thinkingLevel": "low", "includeThoughts": True}),
    ("low", "gemini-3-pro-preview", {"thinkingLevel": "low", "includeThoughts": True}),
    ("none", "gemini-3-pro-preview", {"thinkingLevel": "low", "includeThoughts": False}),
])
def test_encode_reasoning_effort(effort: str, target: str, thinking: dict[str, Any]) -> None:
    out = encode(chat({"role": "user", "content": "q"}, reasoning_effort=effort), target)
    assert out["generationConfig"]["thinkingConfig"] == thinking


def test_encode_anthropic_budget() -> None:
    req = messages_ir({"role": "user", "content": "q"}, thinking={"type": "enabled", "budget_tokens": 31999})
    assert encode(req)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 31999, "includeThoughts": True}
    assert encode(req, "gemini-3-pro")["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "high", "includeThoughts": True}
    unset = encode(chat({"role": "user", "content": "q"}))
    assert "generationConfig" not in unset


def test_encode_sampling_fields() -> None:
    out = encode(chat({"role": "user", "content": "q"}, temperature=0.3, top_p=0.8, max_completion_tokens=99,
                      stop=["a", "b"], n=2, seed=5, logprobs=True, top_logprobs=4))
    assert out["generationConfig"] == {"temperature": 0.3, "topP": 0.8, "maxOutputTokens": 99,
                                       "stopSequences": ["a", "b"], "candidateCount": 2, "seed": 5,
                                       "responseLogprobs": True, "logprobs": 4}
    top_k = encode(messages_ir({"role": "user", "content": "q"}, top_k=20))
    assert top_k["generationConfig"] == {"maxOutputTokens": 1024, "topK": 20}


@pytest.mark.parametrize("fmt, expected", [
    ({"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER_JSON_SCHEMA}},
     {"responseMimeType": "application/json", "responseJsonSchema": WEATHER_JSON_SCHEMA}),
    ({"type": "json_object"}, {"responseMimeType": "application/json"}),
    ({"type": "text"}, None),
])
def test_encode_response_format(fmt: dict[str, Any], expected: dict[str, Any] | None) -> None:
    out = encode(chat({"role": "user", "content": "q"}, response_format=fmt))
    assert out.get("generationConfig") == expected


def test_encode_tools_go_through_the_schema_converter() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "additionalProperties": False,
              "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}, "k": {"const": "x"}}}
    out = encode(chat({"role": "user", "content": "q"}, tools=[
        {"type": "function", "function": {"name": "f", "description": "F", "parameters": schema}},
        {"type": "function", "function": {"name": "g"}},
    ]))
    assert out["tools"] == [{"functionDeclarations": [
        {"name": "f", "description": "F", "parameters": {
            "type": "OBJECT", "properties": {"n": {"type": "INTEGER", "minimum": 0},
                                             "k": {"type": "STRING", "enum": ["x"]}}}},
        {"name": "g", "parameters": {"type": "OBJECT", "properties": {}}},
    ]}]


def test_encode_gemini_server_tools_kept_and_foreign_ones_dropped() -> None:
    req = decode(body(tools=[{"functionDeclarations": [{"name": "f"}]}, {"googleSearch": {}}]))
    assert encode(req)["tools"] == [{"functionDeclarations": [{"name": "f", "parameters": {
        "type": "OBJECT", "properties": {}}}]}, {"googleSearch": {}}]
    anthropic = messages_ir({"role": "user", "content": "q"},
                            tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert "tools" not in encode(anthropic)


@pytest.mark.parametrize("choice, calling", [
    ("auto", {"mode": "AUTO"}),
    ("required", {"mode": "ANY"}),
    ("none", {"mode": "NONE"}),
    ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "name": "f"}]}},
     {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "name": "g"}]}},
     {"mode": "VALIDATED", "allowedFunctionNames": ["g"]}),
])
def test_encode_tool_choice(choice: Any, calling: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("f", "g")]
    out = encode(chat({"role": "user", "content": "q"}, tools=tools, tool_choice=choice))
    assert out["toolConfig"] == {"functionCallingConfig": calling}


def test_encode_tool_choice_needs_function_tools() -> None:
    assert "toolConfig" not in encode(chat({"role": "user", "content": "q"}, tool_choice="required"))
    assert "toolConfig" not in encode(chat({"role": "user", "content": "q"},
                                           tools=[{"type": "function", "function": {"name": "f"}}]))


def test_encode_validated_mode_survives_only_for_gemini_clients() -> None:
    raw = body(tools=[{"functionDeclarations": [{"name": "f"}]}],
               toolConfig={"functionCallingConfig": {"mode": "VALIDATED"}})
    assert encode(decode(raw))["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    foreign = decode(raw)
    foreign.dialect = "openai_chat"
    assert encode(foreign)["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_encode_drops_empty_turns() -> None:
    req = chat({"role": "user", "content": "q"})
    req.messages.append(ir.Message("assistant", [ir.Reasoning(signature=ANTHROPIC_SIG, provider="anthropic")]))
    req.messages.append(ir.Message("user", [ir.Text("again")]))
    assert encode(req)["contents"] == [user({"text": "q"}, {"text": "again"})]


def test_codec_encode_request_entry_point() -> None:
    req = openai_tool_loop()
    assert CODEC.encode_request(req, MODEL) == encode_generate_request(req, MODEL)


# Responses ---------------------------------------------------------------------------------------


def full_response() -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [
                {"text": "**Planning**", "thought": True},
                {"text": "Let me check."},
                {"functionCall": {"id": "fc_1", "name": "get_weather", "args": {"city": "Paris"}},
                 "thoughtSignature": SIG},
                {"functionCall": {"name": "get_time", "args": {}}},
            ]}, "finishReason": "STOP", "safetyRatings": []},
            {"content": {"role": "model", "parts": [{"text": "Alt answer."}]}, "finishReason": "MAX_TOKENS",
             "index": 1},
        ],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 50,
                          "totalTokenCount": 170, "cachedContentTokenCount": 40},
        "modelVersion": MODEL,
        "responseId": "resp-1",
    }


def test_decode_response_into_ir() -> None:
    resp = decode_generate_response(full_response())
    assert (resp.id, resp.model) == ("resp-1", MODEL) and resp.created > 1_600_000_000
    first, second = resp.choices
    assert first.index == 0 and first.finish_reason == "tool_calls"  # inferred from functionCall parts
    parts = first.message.parts
    assert first.message.role == "assistant"
    assert parts[:4] == [ir.Reasoning(text="**Planning**", provider="gemini"), ir.Text("Let me check."),
                         ir.Reasoning(signature=SIG, provider="gemini"),
                         ir.ToolCall("fc_1", "get_weather", '{"city":"Paris"}', extra={"gemini_id": True})]
    assert isinstance(parts[4], ir.ToolCall) and parts[4].id.startswith("call_") and parts[4].name == "get_time"
    assert second.index == 1 and second.finish_reason == "length"
    assert second.message.parts == [ir.Text("Alt answer.")]
    assert resp.usage == ir.Usage(input_tokens=100, output_tokens=70, cache_read_tokens=40, reasoning_tokens=50)


@pytest.mark.parametrize("reason, neutral", [
    ("STOP", "stop"), ("MAX_TOKENS", "length"),
    ("SAFETY", "content_filter"), ("RECITATION", "content_filter"), ("LANGUAGE", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"), ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
    ("IMAGE_RECITATION", "content_filter"), ("IMAGE_OTHER", "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "stop"), ("UNEXPECTED_TOOL_CALL", "stop"), ("TOO_MANY_TOOL_CALLS", "stop"),
    ("FINISH_REASON_UNSPECIFIED", "stop"), ("OTHER", "stop"), ("SOMETHING_NEW", "stop"),
])
def test_finish_reasons_in(reason: str, neutral: ir.FinishReason) -> None:
    raw = {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert decode_generate_response(raw).choices[0].finish_reason == neutral


def test_missing_finish_reason_is_stop_and_missing_content_is_empty() -> None:
    resp = decode_generate_response({"candidates": [{"finishReason": "SAFETY"}, {"index": 1}]})
    assert [(c.index, c.message.parts, c.finish_reason) for c in resp.choices] == [
        (0, [], "content_filter"), (1, [], "stop")]
    assert resp.usage is None and resp.id == "" and resp.model == ""


def test_blocked_prompt_is_content_filter() -> None:
    raw = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
           "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}
    resp = decode_generate_response(raw)
    assert [(c.index, c.message.parts, c.finish_reason) for c in resp.choices] == [(0, [], "content_filter")]
    assert resp.usage == ir.Usage(input_tokens=8)


def test_decode_usage_details() -> None:
    assert decode_usage(None) is None
    assert decode_usage({}) == ir.Usage()
    assert decode_usage({"promptTokenCount": 10, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 3}) == \
        ir.Usage(input_tokens=15, output_tokens=3)
    assert decode_usage({"prompt_token_count": 2, "candidates_token_count": 1, "thoughts_token_count": 4}) == \
        ir.Usage(input_tokens=2, output_tokens=5, reasoning_tokens=4)


def test_encode_usage_candidates_exclude_thoughts() -> None:
    usage = ir.Usage(input_tokens=100, output_tokens=70, cache_read_tokens=40, reasoning_tokens=50)
    assert encode_usage(usage) == {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 170,
                                   "thoughtsTokenCount": 50, "cachedContentTokenCount": 40}
    assert encode_usage(ir.Usage(3, 4)) == {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}
    assert decode_usage(encode_usage(usage)) == usage


def test_encode_response_from_foreign_ir() -> None:
    resp = ir.ChatResponse("chatcmpl-1", "gpt-x", 0, [
        ir.Choice(0, ir.Message("assistant", [
            ir.Reasoning(text="thinking", signature=ANTHROPIC_SIG, provider="anthropic"),
            ir.Reasoning(signature=SIG, provider="gemini"),
            ir.Text("Calling."),
            ir.ToolCall("call_9", "f", '{"a": 1}'),
            ir.Image(data=PNG_B64, media_type="image/png"),
        ]), "tool_calls"),
        ir.Choice(1, ir.Message("assistant", [ir.Refusal("I can't.")]), "content_filter"),
        ir.Choice(2, ir.Message("assistant", []), "length"),
    ], ir.Usage(10, 5, reasoning_tokens=2))
    out = encode_generate_response(resp)
    assert out == {
        "candidates": [
            {"content": {"role": "model", "parts": [
                {"text": "thinking", "thought": True}, {"text": "Calling.", "thoughtSignature": SIG},
                {"functionCall": {"id": "call_9", "name": "f", "args": {"a": 1}}}]},
             "finishReason": "STOP", "index": 0},
            {"content": {"role": "model", "parts": [{"text": "I can't."}]}, "finishReason": "SAFETY", "index": 1},
            {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "MAX_TOKENS", "index": 2},
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3, "totalTokenCount": 15,
                          "thoughtsTokenCount": 2},
        "modelVersion": "gpt-x",
        "responseId": "chatcmpl-1",
    }
    # Only state labelled as Gemini's (sealed by the gateway, see providers/slots.py) reaches the client.
    assert ANTHROPIC_SIG not in orjson.dumps(out).decode()


@pytest.mark.parametrize("neutral, wire", [
    ("stop", "STOP"), ("stop_sequence", "STOP"), ("tool_calls", "STOP"), ("pause", "STOP"),
    ("length", "MAX_TOKENS"), ("context_overflow", "MAX_TOKENS"), ("content_filter", "SAFETY"), (None, "STOP"),
])
def test_finish_reasons_out(neutral: ir.FinishReason | None, wire: str) -> None:
    resp = ir.ChatResponse("r", "m", 0, [ir.Choice(0, ir.Message("assistant", [ir.Text("x")]), neutral)])
    assert encode_generate_response(resp)["candidates"][0]["finishReason"] == wire


def test_response_round_trip_keeps_text_calls_and_usage() -> None:
    again = decode_generate_response(encode_generate_response(decode_generate_response(full_response())))
    first = again.choices[0]
    assert first.finish_reason == "tool_calls"
    assert [p for p in first.message.parts if isinstance(p, ir.Text)] == [ir.Text("Let me check.")]
    assert [(c.name, orjson.loads(c.arguments)) for c in calls_of(first.message)] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert again.choices[1].finish_reason == "length"
    assert again.usage == decode_generate_response(full_response()).usage


def test_codec_result_entry_points() -> None:
    resp = decode_generate_response(full_response())
    assert CODEC.decode_response(full_response()).choices[1] == resp.choices[1]
    assert orjson.loads(CODEC.encode_result(resp, None)) == encode_generate_response(resp)
    assert orjson.loads(CODEC.encode_result(ir.TokenCount(42), None)) == {"totalTokens": 42}
    assert CODEC.usage_of(full_response()) == resp.usage
    assert CODEC.usage_of([]) is None and CODEC.usage_of({}) is None
    with pytest.raises(TypeError):
        CODEC.encode_result(object(), None)


def test_models_list_paging_and_get() -> None:
    cards = [ModelCard(f"m{i}", "me") for i in range(5)]
    first = orjson.loads(CODEC.encode_result(ModelList(cards, {"pageSize": "2"}), None))
    assert [m["name"] for m in first["models"]] == ["models/m0", "models/m1"]
    assert first["nextPageToken"] == "2"
    last = orjson.loads(CODEC.encode_result(ModelList(cards, {"pageSize": "2", "pageToken": "4"}), None))
    assert [m["baseModelId"] for m in last["models"]] == ["m4"] and "nextPageToken" not in last
    everything = orjson.loads(CODEC.encode_result(ModelList(cards, {}), None))
    assert len(everything["models"]) == 5 and "nextPageToken" not in everything
    one = orjson.loads(CODEC.encode_result(ModelCard("gemini-x", "google"), None))
    assert one["name"] == "models/gemini-x" and one["displayName"] == "gemini-x"
    assert {"generateContent", "streamGenerateContent", "countTokens"} <= set(one["supportedGenerationMethods"])


# Stream decoding ---------------------------------------------------------------------------------


def chunk(*parts: dict[str, Any], index: int | None = None, finish: str | None = None,
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """One streamed GenerateContentResponse with a single candidate."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if index is not None:
        candidate["index"] = index
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": MODEL, "responseId": "resp-7"}
    if usage:
        out["usageMetadata"] = usage
    return out


def gemini_sse(chunks: list[dict[str, Any]], sep: bytes = b"\r\n") -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + sep + sep for c in chunks)


FINAL_USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 9, "thoughtsTokenCount": 4, "totalTokenCount": 25}
STREAM_CHUNKS: list[dict[str, Any]] = [
    chunk({"text": "Let me think.", "thought": True}, usage={"promptTokenCount": 12, "totalTokenCount": 12}),
    chunk({"text": "Hel"}),
    chunk({"text": "lo."}),
    chunk({"functionCall": {"id": "fc_1", "name": "get_weather", "args": {"city": "Paris"}},
           "thoughtSignature": SIG},
          {"functionCall": {"name": "get_time", "args": {}}}),
    chunk({"text": "", "thoughtSignature": SIG2}, finish="STOP", usage=FINAL_USAGE),
]


def expected_stream(minted_id: str) -> list[ir.StreamEvent]:
    """The events of STREAM_CHUNKS; `minted_id` is the id the decoder made up for the id-less call."""
    return [
        ir.StreamStart("resp-7", MODEL, 0),
        ir.ReasoningDelta("Let me think."),
        ir.UsageReport(ir.Usage(input_tokens=12)),
        ir.TextDelta("Hel"),
        ir.TextDelta("lo."),
        ir.ReasoningDelta(signature=SIG),
        ir.ToolCallDelta(0, '{"city":"Paris"}', id="fc_1", name="get_weather"),
        ir.ToolCallDelta(1, "{}", id=minted_id, name="get_time"),
        ir.ReasoningDelta(signature=SIG2),
        ir.Finish("tool_calls"),
        ir.UsageReport(ir.Usage(input_tokens=12, output_tokens=13, reasoning_tokens=4)),
    ]


def decode_stream(data: bytes, sizes: list[int] | None = None) -> list[ir.StreamEvent]:
    """The events of `data` fed in pieces to the decoder the codec hands out."""
    decoder = CODEC.stream_decoder()
    assert isinstance(decoder, GenerateStreamDecoder)
    return no_clock(decode_in_pieces(decoder, data, sizes))


def synthesised_id(events: list[ir.StreamEvent]) -> str:
    ids = [e.id for e in events if isinstance(e, ir.ToolCallDelta) and e.name == "get_time"]
    assert len(ids) == 1 and ids[0] is not None and ids[0].startswith("call_")
    return ids[0]


@pytest.mark.parametrize("sep", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("sizes", [None, [1], [2, 7, 3], [64]], ids=str)
def test_stream_decoder_any_split_and_separator(sizes: list[int] | None, sep: bytes) -> None:
    """Whole, byte by byte, or ragged, with CRLF or LF framing: the same events come out."""
    events = decode_stream(gemini_sse(STREAM_CHUNKS, sep), sizes)
    assert events == expected_stream(synthesised_id(events))


def test_stream_decoder_stream_without_a_trailing_blank_line() -> None:
    """The body just ends (no [DONE]); a last event cut short of its blank line still counts on close."""
    data = gemini_sse(STREAM_CHUNKS, b"\n")[:-2]
    events = decode_stream(data)
    assert events == expected_stream(synthesised_id(events))


def test_stream_decoder_events_arrive_as_soon_as_complete() -> None:
    decoder = GenerateStreamDecoder()
    first = b"data: " + orjson.dumps(chunk({"text": "a"})) + b"\r\n\r\n"
    assert decoder.feed(first[:-1]) == []
    events = decoder.feed(first[-1:])
    assert [type(e) for e in events] == [ir.StreamStart, ir.TextDelta]
    assert decoder.feed(b"data: " + orjson.dumps(chunk({"text": "b"})) + b"\n\n") == [ir.TextDelta("b")]


def test_stream_decoder_tool_indexes_are_stable_per_candidate() -> None:
    chunks = [
        {"candidates": [
            {"content": {"parts": [{"functionCall": {"name": "a", "args": {}}}]}},
            {"content": {"parts": [{"functionCall": {"name": "b", "args": {}}}]}, "index": 1},
        ]},
        {"candidates": [
            {"content": {"parts": [{"functionCall": {"name": "c", "args": {"x": 1}}}]}, "index": 1},
            {"content": {"parts": [{"functionCall": {"name": "d", "args": {}}}]}, "index": 0},
        ]},
        {"candidates": [{"content": {"parts": [{"text": "t"}]}, "index": 0, "finishReason": "STOP"},
                        {"content": {"parts": []}, "index": 1, "finishReason": "MAX_TOKENS"}]},
    ]
    events = decode_stream(gemini_sse(chunks))
    calls = [(e.choice, e.index, e.name) for e in events if isinstance(e, ir.ToolCallDelta)]
    assert calls == [(0, 0, "a"), (1, 0, "b"), (1, 1, "c"), (0, 1, "d")]
    assert [e for e in events if isinstance(e, ir.Finish)] == [ir.Finish("tool_calls", 0), ir.Finish("tool_calls", 1)]
    assert ir.TextDelta("t", 0) in events


@pytest.mark.parametrize("reason, neutral", [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                             ("IMAGE_SAFETY", "content_filter"), ("RECITATION", "content_filter")])
def test_stream_decoder_finish_reasons(reason: str, neutral: ir.FinishReason) -> None:
    events = decode_stream(gemini_sse([chunk({"text": "x"}), chunk({"text": ""}, finish=reason, usage=FINAL_USAGE)]))
    assert events[-2:] == [ir.Finish(neutral), ir.UsageReport(decode_usage(FINAL_USAGE))]  # type: ignore[arg-type]


def test_stream_decoder_blocked_prompt() -> None:
    data = gemini_sse([{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}, "responseId": "r"}])
    assert decode_stream(data) == [ir.StreamStart("r", "", 0), ir.Finish("content_filter"),
                                   ir.UsageReport(ir.Usage(input_tokens=5))]


ERROR_CHUNK = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}


def test_stream_decoder_error_chunk_raises() -> None:
    decoder = GenerateStreamDecoder()
    with pytest.raises(ir.GatewayError) as caught:
        decoder.feed(gemini_sse([ERROR_CHUNK]))
    assert caught.value.status == 429 and caught.value.kind == "rate_limit" and caught.value.retryable
    assert "exhausted" in caught.value.message


def test_stream_decoder_error_after_events_in_the_same_read() -> None:
    """What came before the error is delivered first; the error is raised on the next call."""
    decoder = GenerateStreamDecoder()
    data = gemini_sse([chunk({"text": "partial"}), {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}])
    events = decoder.feed(data)
    assert [type(e) for e in events] == [ir.StreamStart, ir.TextDelta]
    with pytest.raises(ir.GatewayError) as caught:
        decoder.feed(b"")
    assert caught.value.status == 502 and caught.value.kind == "upstream" and "boom" in caught.value.message
    with pytest.raises(ir.GatewayError):
        decoder.close()


# Stream encoding ---------------------------------------------------------------------------------

FOREIGN_STREAM: list[ir.StreamEvent] = [
    ir.StreamStart("chatcmpl-1", "gpt-x", 0),
    ir.ReasoningDelta("Thinking"),
    ir.ReasoningDelta(signature=ANTHROPIC_SIG),
    ir.TextDelta("Hi"),
    ir.TextDelta(" there."),
    ir.ToolCallDelta(0, "", id="call_1", name="get_weather"),
    ir.ToolCallDelta(0, '{"city": "Pa'),
    ir.ToolCallDelta(0, 'ris"}'),
    ir.ToolCallDelta(1, '{"tz":"CET"}', id="call_2", name="get_time"),
    ir.Finish("tool_calls"),
    ir.UsageReport(ir.Usage(input_tokens=20, output_tokens=15, cache_read_tokens=5, reasoning_tokens=6)),
]


def encode_stream(events: list[ir.StreamEvent], array: bool) -> tuple[bytes, list[bytes]]:
    """The whole output, and the output of each call (encode for each event, then end)."""
    encoder = GenerateStreamEncoder(array=array)
    pieces = [encoder.encode(e) for e in events] + [encoder.end()]
    return b"".join(pieces), pieces


def sse_chunks(data: bytes) -> list[dict[str, Any]]:
    """The chunks of Gemini SSE; every event must be `data: ...` closed by CRLF CRLF."""
    return sse_data(data, b"\r\n\r\n")


def parts_of(chunks: list[dict[str, Any]], choice: int = 0) -> list[dict[str, Any]]:
    return [p for c in chunks for cand in c.get("candidates", ()) if cand["index"] == choice
            for p in cand["content"]["parts"]]


@pytest.mark.parametrize("array", [False, True], ids=["sse", "array"])
def test_stream_encoder_output(array: bool) -> None:
    data, _ = encode_stream(FOREIGN_STREAM, array)
    chunks = orjson.loads(data) if array else sse_chunks(data)
    assert isinstance(chunks, list) and len(chunks) == 6
    assert all(c["responseId"] == "chatcmpl-1" and c["modelVersion"] == "gpt-x" for c in chunks)
    assert parts_of(chunks) == [
        {"text": "Thinking", "thought": True}, {"text": "Hi"}, {"text": " there."},
        {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"id": "call_2", "name": "get_time", "args": {"tz": "CET"}}},
        {"text": ""},
    ]
    assert all("finishReason" not in c["candidates"][0] and "usageMetadata" not in c for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == {"promptTokenCount": 20, "candidatesTokenCount": 9,
                                           "totalTokenCount": 35, "thoughtsTokenCount": 6,
                                           "cachedContentTokenCount": 5}
    assert ANTHROPIC_SIG not in data.decode()


def test_stream_encoder_array_framing() -> None:
    data, _ = encode_stream(FOREIGN_STREAM, array=True)
    assert data.startswith(b"[{") and data.endswith(b"}]")
    assert data.count(b",\r\n{") == 5
    assert GenerateStreamEncoder(array=True).media_type == "application/json"
    assert GenerateStreamEncoder(array=False).media_type == "text/event-stream"


def test_stream_encoder_buffers_tool_calls_until_complete() -> None:
    _, pieces = encode_stream(FOREIGN_STREAM, array=False)  # pieces[i] answers FOREIGN_STREAM[i]
    assert pieces[5] == pieces[6] == pieces[7] == b""  # call_1's fragments are held
    assert parts_of(sse_chunks(pieces[8])) == [  # ...and sent whole when call_2 starts
        {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}]
    assert parts_of(sse_chunks(pieces[9])) == [  # the finish flushes the last one
        {"functionCall": {"id": "call_2", "name": "get_time", "args": {"tz": "CET"}}}]
    assert pieces[10] == b""  # usage waits for the last chunk
    assert "usageMetadata" in sse_chunks(pieces[11])[-1]


def test_stream_encoder_text_after_a_call_flushes_it_first() -> None:
    data, _ = encode_stream([ir.ToolCallDelta(0, '{"a":1}', id="c", name="f"), ir.TextDelta("after")], False)
    assert parts_of(sse_chunks(data)) == [{"functionCall": {"id": "c", "name": "f", "args": {"a": 1}}},
                                          {"text": "after"}, {"text": ""}]


def test_stream_encoder_unfinished_call_and_missing_id_on_end() -> None:
    data, _ = encode_stream([ir.ToolCallDelta(0, '{"a":', name="f"), ir.ToolCallDelta(0, "2}")], False)
    chunks = sse_chunks(data)
    call = chunks[0]["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call["name"] == "f" and call["args"] == {"a": 2} and call["id"].startswith("call_")
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_stream_encoder_several_candidates() -> None:
    events: list[ir.StreamEvent] = [
        ir.StreamStart("r", "m", 0),
        ir.TextDelta("zero", 0),
        ir.TextDelta("one", 1),
        ir.ToolCallDelta(0, "{}", id="c1", name="f", choice=1),
        ir.Finish("stop", 0),
        ir.Finish("length", 1),
        ir.UsageReport(ir.Usage(1, 2)),
    ]
    data, _ = encode_stream(events, array=True)
    chunks = orjson.loads(data)
    assert parts_of(chunks, 0) == [{"text": "zero"}, {"text": ""}]
    assert parts_of(chunks, 1) == [{"text": "one"}, {"functionCall": {"id": "c1", "name": "f", "args": {}}},
                                   {"text": ""}]
    finals = [(c["candidates"][0]["index"], c["candidates"][0].get("finishReason"), "usageMetadata" in c)
              for c in chunks[-2:]]
    assert finals == [(0, "STOP", False), (1, "MAX_TOKENS", True)]


@pytest.mark.parametrize("reason, wire", [("stop", "STOP"), ("length", "MAX_TOKENS"), ("content_filter", "SAFETY"),
                                          ("tool_calls", "STOP"), ("stop_sequence", "STOP")])
def test_stream_encoder_finish_reasons(reason: ir.FinishReason, wire: str) -> None:
    data, _ = encode_stream([ir.TextDelta("x"), ir.Finish(reason)], False)
    assert sse_chunks(data)[-1]["candidates"][0]["finishReason"] == wire


def test_stream_encoder_empty_stream_is_well_formed() -> None:
    for array in (False, True):
        data, _ = encode_stream([], array)
        chunks = orjson.loads(data) if array else sse_chunks(data)
        assert len(chunks) == 1 and chunks[0]["candidates"][0]["finishReason"] == "STOP"


def test_stream_encoder_refusal_is_text_and_signature_only_reasoning_is_silent() -> None:
    encoder = GenerateStreamEncoder(array=False)
    assert encoder.encode(ir.ReasoningDelta(signature=SIG)) == b""
    assert sse_chunks(encoder.encode(ir.RefusalDelta("no")))[0]["candidates"][0]["content"]["parts"] == [{"text": "no"}]


def test_stream_encoder_puts_a_labelled_signature_on_the_next_part() -> None:
    """A signature for the Gemini slot rides on the part after it (the function call); a second one
    before any part takes an empty text part; one left at the end rides on the last chunk."""
    encoder = GenerateStreamEncoder(array=False)
    out = encoder.encode(ir.ReasoningDelta("think"))
    out += encoder.encode(ir.ReasoningDelta(signature="one", provider="gemini"))
    out += encoder.encode(ir.ReasoningDelta(signature="two", provider="gemini"))
    out += encoder.encode(ir.ToolCallDelta(0, '{"a": 1}', id="call_1", name="f"))
    out += encoder.encode(ir.Finish("tool_calls"))
    out += encoder.encode(ir.ReasoningDelta(signature="three", provider="gemini")) + encoder.end()
    parts = [c["candidates"][0]["content"]["parts"] for c in sse_chunks(out)]
    assert parts == [[{"text": "think", "thought": True}], [{"text": "", "thoughtSignature": "one"}],
                     [{"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}}, "thoughtSignature": "two"}],
                     [{"text": "", "thoughtSignature": "three"}]]


def test_stream_encoder_error_in_both_modes() -> None:
    error = ir.GatewayError("overloaded", "try later")
    expected = {"error": {"code": 503, "message": "try later", "status": "UNAVAILABLE"}}

    sse_encoder = GenerateStreamEncoder(array=False)
    head = sse_encoder.encode(ir.TextDelta("partial"))
    assert sse_chunks(head + sse_encoder.error(error))[-1] == expected

    array_encoder = GenerateStreamEncoder(array=True)
    data = array_encoder.encode(ir.TextDelta("partial")) + array_encoder.error(error)
    assert orjson.loads(data)[-1] == expected
    assert orjson.loads(GenerateStreamEncoder(array=True).error(error)) == [expected]


def test_stream_encoder_ping() -> None:
    assert GenerateStreamEncoder(array=True).ping() == b""
    ping = GenerateStreamEncoder(array=False).ping()
    assert ping.startswith(b":") and ping.endswith(b"\r\n\r\n")
    assert GenerateStreamDecoder().feed(ping) == []


@pytest.mark.parametrize("array", [False, True], ids=["sse", "array"])
def test_codec_stream_encoder_follows_alt(array: bool) -> None:
    req = decode_generate_request(body(), {"model": MODEL, "method": "streamGenerateContent",
                                           "alt": "" if array else "sse"})
    encoder = CODEC.stream_encoder(req)
    assert isinstance(encoder, GenerateStreamEncoder) and encoder.media_type == (
        "application/json" if array else "text/event-stream")
    passthrough = CODEC.passthrough(req)
    assert isinstance(passthrough, GeneratePassthrough) and passthrough.media_type == encoder.media_type


def test_stream_encoder_output_decodes_to_the_same_content() -> None:
    data, _ = encode_stream(FOREIGN_STREAM, array=False)
    events = decode_stream(data)
    assert [e for e in events if isinstance(e, ir.TextDelta)] == [ir.TextDelta("Hi"), ir.TextDelta(" there.")]
    assert [(e.index, e.id, e.name, orjson.loads(e.arguments)) for e in events if isinstance(e, ir.ToolCallDelta)] == [
        (0, "call_1", "get_weather", {"city": "Paris"}), (1, "call_2", "get_time", {"tz": "CET"})]
    assert ir.Finish("tool_calls") in events
    assert events[-1] == ir.UsageReport(FOREIGN_STREAM[-1].usage)  # type: ignore[union-attr]


# Pass-through ------------------------------------------------------------------------------------


def passthrough_all(data: bytes, array: bool, sizes: list[int] | None = None) -> tuple[bytes, GeneratePassthrough]:
    passthrough = GeneratePassthrough(array=array)
    return forward_in_pieces(passthrough, data, sizes), passthrough


@pytest.mark.parametrize("sep", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("sizes", [None, [1], [9, 4]], ids=str)
def test_passthrough_sse_unchanged(sizes: list[int] | None, sep: bytes) -> None:
    data = gemini_sse(STREAM_CHUNKS, sep)
    out, passthrough = passthrough_all(data, False, sizes)
    assert out == data
    assert passthrough.events == len(STREAM_CHUNKS)
    assert passthrough.usage == decode_usage(FINAL_USAGE)


@pytest.mark.parametrize("sizes", [None, [1], [9, 4], [200]], ids=str)
def test_passthrough_array_reframing(sizes: list[int] | None) -> None:
    data = gemini_sse(STREAM_CHUNKS)
    out, passthrough = passthrough_all(data, True, sizes)
    assert orjson.loads(out) == STREAM_CHUNKS
    assert out.startswith(b"[") and out.endswith(b"]")
    assert passthrough.usage == decode_usage(FINAL_USAGE)


@pytest.mark.parametrize("array", [False, True], ids=["sse", "array"])
def test_passthrough_comment_only_reads(array: bool) -> None:
    """A read holding only comments (a proxy's keep-alive) adds no stray `[` to the array."""
    passthrough = GeneratePassthrough(array=array)
    reads = [b": keep-alive\n\n", gemini_sse(STREAM_CHUNKS[:1]), b": keep-alive\r\n\r\n",
             gemini_sse(STREAM_CHUNKS[1:]), b": bye\n\n"]
    out = b"".join(passthrough.feed(r) for r in reads) + passthrough.close()
    if array:
        assert orjson.loads(out) == STREAM_CHUNKS
    else:
        assert out == b"".join(reads)
    assert passthrough.events == len(STREAM_CHUNKS)


def test_passthrough_empty_streams() -> None:
    """An empty stream has no finishReason: `check` fails it, and in the array the error is the
    one element, since `close` leaves the array for the error to close."""
    failure = ir.GatewayError("upstream", "upstream stream ended before its terminator", retryable=True)
    for array in (True, False):
        out, passthrough = passthrough_all(b"", array)
        assert out == b""
        with pytest.raises(ir.GatewayError, match="before its terminator"):
            passthrough.check()
        error = passthrough.error(failure)
        if array:
            assert error is not None and orjson.loads(error)[0]["error"]["code"] == 502
        else:
            assert error is None  # the codec's stream encoder writes it


def test_passthrough_cut_array_ends_with_the_error_element() -> None:
    out, passthrough = passthrough_all(gemini_sse(STREAM_CHUNKS[:2]), True)
    with pytest.raises(ir.GatewayError) as info:
        passthrough.check()
    error = passthrough.error(info.value)
    assert error is not None
    assert orjson.loads(out + error) == [*STREAM_CHUNKS[:2], {"error": {
        "code": 502, "message": "upstream stream ended before its terminator", "status": "UNAVAILABLE"}}]


def test_passthrough_usage_from_the_last_chunk_that_has_it() -> None:
    early = {"promptTokenCount": 12, "totalTokenCount": 12}
    chunks = [chunk({"text": "a"}, usage=early), chunk({"text": "b"}, usage=FINAL_USAGE), chunk({"text": "c"})]
    passthrough = GeneratePassthrough(array=False)
    passthrough.feed(gemini_sse(chunks[:1]))
    assert passthrough.usage == ir.Usage(input_tokens=12)
    passthrough.feed(gemini_sse(chunks[1:]))
    passthrough.close()
    assert passthrough.usage == decode_usage(FINAL_USAGE)
    assert passthrough.events == 3


def test_passthrough_final_event_without_blank_line() -> None:
    data = gemini_sse(STREAM_CHUNKS, b"\n")[:-2]
    out, passthrough = passthrough_all(data, True, [5])
    assert orjson.loads(out) == STREAM_CHUNKS
    assert passthrough.usage == decode_usage(FINAL_USAGE)


# Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error, code, status", [
    (ir.invalid("contents", "is required"), 400, "INVALID_ARGUMENT"),
    (ir.GatewayError("authentication", "bad key"), 401, "UNAUTHENTICATED"),
    (ir.GatewayError("permission", "no"), 403, "PERMISSION_DENIED"),
    (ir.GatewayError("not_found", "no model"), 404, "NOT_FOUND"),
    (ir.GatewayError("too_large", "big"), 413, "INVALID_ARGUMENT"),
    (ir.GatewayError("rate_limit", "slow down"), 429, "RESOURCE_EXHAUSTED"),
    (ir.GatewayError("internal", "oops"), 500, "INTERNAL"),
    (ir.GatewayError("upstream", "bad gateway"), 502, "UNAVAILABLE"),
    (ir.GatewayError("unavailable", "down"), 503, "UNAVAILABLE"),
    (ir.GatewayError("timeout", "slow"), 504, "DEADLINE_EXCEEDED"),
    (ir.GatewayError("overloaded", "busy"), 503, "UNAVAILABLE"),
    (ir.GatewayError("invalid_request", "conflict", status=409), 409, "INVALID_ARGUMENT"),
    (ir.GatewayError("upstream", "odd", status=501), 501, "INTERNAL"),
])
def test_error_bodies(error: ir.GatewayError, code: int, status: str) -> None:
    assert CODEC.status_of(error) == code
    assert orjson.loads(encode_error_body(error)) == {"error": {"code": code, "message": error.message,
                                                                "status": status}}
    assert CODEC.encode_error(error) == encode_error_body(error)


@pytest.mark.parametrize("status, code, kind, gateway_status, retryable", [
    (400, "INVALID_ARGUMENT", "invalid_request", 400, False),
    (401, "UNAUTHENTICATED", "authentication", 401, False),
    (403, "PERMISSION_DENIED", "permission", 403, False),
    (404, "NOT_FOUND", "not_found", 404, False),
    (429, "RESOURCE_EXHAUSTED", "rate_limit", 429, True),
    (500, "INTERNAL", "upstream", 502, True),
    (503, "UNAVAILABLE", "unavailable", 503, True),
    (504, "DEADLINE_EXCEEDED", "timeout", 504, True),
])
def test_decode_error_google_bodies(status: int, code: str, kind: str, gateway_status: int, retryable: bool) -> None:
    raw = orjson.dumps({"error": {"code": status, "message": f"{code} happened", "status": code, "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}})
    error = CODEC.decode_error(status, raw)
    assert (error.kind, error.status, error.retryable) == (kind, gateway_status, retryable)
    assert error.message == f"{code} happened"


def test_decode_error_odd_bodies() -> None:
    plain = CODEC.decode_error(502, b"<html>Bad Gateway</html>")
    assert plain.status == 502 and plain.retryable and "Bad Gateway" in plain.message
    empty = CODEC.decode_error(503, b"")
    assert empty.kind == "unavailable" and empty.message == "upstream answered 503"
    no_error = CODEC.decode_error(400, b'{"detail": "x"}')
    assert no_error.status == 400 and no_error.message == "upstream answered 400"
    status_only = CODEC.decode_error(429, b'{"error": {"status": "RESOURCE_EXHAUSTED"}}')
    assert status_only.kind == "rate_limit" and status_only.message == "RESOURCE_EXHAUSTED"
    array = CODEC.decode_error(400, b'[{"error": {"code": 400, "message": "m"}}]')
    assert array.status == 400


def test_gemini_error_round_trip() -> None:
    """Our own error body, decoded as an upstream's, keeps its status and message."""
    for error in (ir.GatewayError("rate_limit", "slow down"), ir.invalid("contents", "is required")):
        again = CODEC.decode_error(CODEC.status_of(error), encode_error_body(error))
        assert (again.status, again.message) == (error.status, error.message)


@pytest.mark.parametrize(("raw", "parts"), [
    ({"text": "hi"}, [ir.Text("hi")]),
    ({"text": ""}, [ir.Text("")]),
    ({"thoughtSignature": "c2ln"}, [ir.Reasoning(signature="c2ln", provider="gemini")]),
    ({"inline_data": {"mime_type": "image/png", "data": "iVBO"}}, [ir.Image(data="iVBO", media_type="image/png")]),
    ({"functionCall": {"name": "ls", "args": {"path": "."}, "id": "c1"}},
     [ir.ToolCall("c1", "ls", '{"path":"."}', extra={"gemini_id": True})]),
    ({"text": "thinking", "thought": True}, [ir.Reasoning(text="thinking", provider="gemini")]),
])
def test_parts_of_one_field_read_as_any_part(raw: dict[str, Any], parts: list[ir.Part]) -> None:
    assert decode_part(raw, "contents[0].parts[0]", CallIds()) == parts


@pytest.mark.parametrize(("raw", "message"), [
    ({"text": None}, "contents[0].parts[0]: a part needs a data field"),
    ({"text": 5}, "contents[0].parts[0].text: must be a string"),
    ({"functionCall": {"args": {}}}, "contents[0].parts[0].functionCall.name: is required"),
    ({"function_call": "ls"}, "contents[0].parts[0].function_call: must be an object"),
])
def test_parts_of_one_field_are_refused_naming_it(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ir.GatewayError, match=re.escape(message)):
        decode_part(raw, "contents[0].parts[0]", CallIds())
