"""Unit tests of the OpenAI Responses codec (adapters/dialects/openai_responses.py), both directions.

Why: Codex and the Agents SDK speak Responses, and the codec is where their items (messages,
function and custom tool calls, encrypted reasoning) meet every other dialect. Field names follow the
openai SDK's types (openai/types/responses); what the codec writes for a client is also validated
with the SDK's own models, so a renamed or missing field fails here rather than in a client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects.openai_responses import CODEC
from interlingua.adapters.dialects.openai_responses_request import (
    decode_responses_request,
    encode_responses_request,
)
from interlingua.adapters.dialects.openai_responses_response import (
    decode_responses_response,
    encode_responses_response,
)
from interlingua.adapters.dialects.openai_responses_stream import (
    ResponsesPassthrough,
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
)
from tests.support import decode_in_pieces, forward_in_pieces, read_all, responses_events, responses_items

# Fixtures ----------------------------------------------------------------------------------------

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAE="
PDF_B64 = "JVBERi0xLjQK"
WEATHER_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
ANSWER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}}
PATCH_FORMAT: dict[str, Any] = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
WEB_SEARCH: dict[str, Any] = {"type": "web_search", "search_context_size": "low"}


def full_request() -> dict[str, Any]:
    """A Codex-like turn with every input item kind and every top-level field the codec maps."""
    return {
        "model": "gpt-5-codex",
        "instructions": "You are a coding agent.",
        "input": [
            {"type": "message", "role": "developer", "content": "Use the tools."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "high"},
                {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}", "detail": "auto"},
                {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF_B64}", "filename": "a.pdf"},
                {"type": "input_file", "file_id": "file-doc"},
                {"type": "input_file", "file_url": "https://example.com/b.pdf"},
            ]},
            {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAAA-opaque",
             "summary": [{"type": "summary_text", "text": "First "}, {"type": "summary_text", "text": "check."}]},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
             "arguments": '{"city":"Paris"}'},
            {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_2", "name": "apply_patch",
             "input": "*** Begin Patch"},
            {"type": "function_call_output", "call_id": "call_1", "output": "12 C"},
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done!"},
            {"type": "item_reference", "id": "msg_0"},
            {"role": "user", "content": "Thanks."},  # an EasyInputMessage: no type
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "description": "Weather for a city",
             "parameters": WEATHER_PARAMS},
            {"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": False},
            {"type": "custom", "name": "apply_patch", "description": "Apply a patch", "format": PATCH_FORMAT},
            WEB_SEARCH,
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "max_output_tokens": 2048,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_logprobs": 2,
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True,
                            "description": "The answer"},
                 "verbosity": "low"},
        "reasoning": {"effort": "high", "summary": "auto"},
        "stream": True,
        "metadata": {"session": "s-1"},
        "safety_identifier": "user-1",
        # State and options the codec has no slot for: the state middleware and same-dialect hops read them.
        "store": False,
        "previous_response_id": "resp_prev",
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "cache-1",
    }


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-5", "input": "Hi", **fields}


EXPECTED_MESSAGES: list[ir.Message] = [
    ir.Message("developer", [ir.Text("You are a coding agent.")]),
    ir.Message("developer", [ir.Text("Use the tools.")]),
    ir.Message("user", [
        ir.Text("What is in these?"),
        ir.Image(url="https://example.com/a.png", detail="high"),
        ir.Image(data=PNG_B64, media_type="image/png", detail="auto"),
        ir.File(data=PDF_B64, media_type="application/pdf", filename="a.pdf"),
        ir.File(file_id="file-doc"),
        ir.File(url="https://example.com/b.pdf"),
    ]),
    # Consecutive output items (reasoning, message, calls) make one assistant turn.
    ir.Message("assistant", [
        ir.Reasoning(text="First check.", signature="gAAAA-opaque", provider="openai", extra={"id": "rs_1"}),
        ir.Text("Checking."),
        ir.ToolCall("call_1", "get_weather", '{"city":"Paris"}', extra={"id": "fc_1"}),
        ir.ToolCall("call_2", "apply_patch", "*** Begin Patch", kind="custom", extra={"id": "ctc_1"}),
    ]),
    # Consecutive outputs make one tool message; a custom tool's output is marked to go back as one.
    ir.Message("tool", [
        ir.ToolResult("call_1", [ir.Text("12 C")]),
        ir.ToolResult("call_2", [ir.Text("Done!")], extra={"custom": True}),
    ]),
    ir.Message("user", [ir.Opaque("responses", {"type": "item_reference", "id": "msg_0"})]),
    ir.Message("user", [ir.Text("Thanks.")]),
]

EXPECTED_TOOLS: list[ir.Tool] = [
    ir.Tool("get_weather", "Weather for a city", WEATHER_PARAMS, strict=True),  # Responses defaults to strict
    ir.Tool("lookup", None, {"type": "object"}, strict=False),
    ir.Tool("apply_patch", "Apply a patch", kind="custom", extra={"format": PATCH_FORMAT}),
    ir.Tool("web_search", kind="server", extra={"responses": WEB_SEARCH}),
]


# Request decoding --------------------------------------------------------------------------------


def test_decode_full_request_top_level_fields() -> None:
    body = full_request()
    req = decode_responses_request(body)
    assert (req.model, req.dialect, req.native) == ("gpt-5-codex", "responses", body)
    assert (req.stream, req.stream_usage) == (True, True)  # usage always comes with the terminal event
    assert (req.max_tokens, req.temperature, req.top_p, req.top_logprobs) == (2048, 0.5, 0.9, 2)
    assert (req.parallel_tool_calls, req.reasoning_effort, req.verbosity) == (False, "high", "low")
    assert (req.user, req.metadata) == ("user-1", {"session": "s-1"})
    assert req.tool_choice == ir.ToolChoice("auto")
    assert req.response_format == ir.ResponseFormat("json_schema", schema=ANSWER_SCHEMA, name="answer",
                                                    description="The answer", strict=True)
    assert req.extra == {"store": False, "previous_response_id": "resp_prev",
                         "include": ["reasoning.encrypted_content"], "prompt_cache_key": "cache-1"}


def test_decode_every_input_item_kind() -> None:
    """Instructions lead as a developer message; each item kind lands in its IR part, in order."""
    assert decode_responses_request(full_request()).messages == EXPECTED_MESSAGES


def test_decode_tools_function_custom_and_hosted() -> None:
    assert decode_responses_request(full_request()).tools == EXPECTED_TOOLS


def test_decode_does_not_mutate_body() -> None:
    body = full_request()
    decode_responses_request(body)
    assert body == full_request()


def test_decode_string_input_is_one_user_message() -> None:
    req = decode_responses_request(request(input="Hello"))
    assert req.messages == [ir.Message("user", [ir.Text("Hello")])]
    assert (req.stream, req.tools, req.tool_choice, req.response_format, req.reasoning_effort) == (
        False, None, None, None, None)


def test_decode_input_image_by_file_id_is_an_image_file() -> None:
    part = {"type": "input_image", "file_id": "file-img", "detail": "low"}
    req = decode_responses_request(request(input=[{"role": "user", "content": [part]}]))
    assert req.messages[0].parts == [ir.File(file_id="file-img", media_type="image/*", extra={"detail": "low"})]


def test_decode_output_items_start_an_assistant_turn_and_opaque_items_join_it() -> None:
    """A hosted tool's call, echoed back as an item, stays with the assistant turn it belongs to."""
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed",
              "action": {"type": "search", "query": "weather"}}
    items = [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}, search,
             {"type": "function_call_output", "call_id": "c1", "output": None}]
    assert decode_responses_request(request(input=items)).messages == [
        ir.Message("assistant", [ir.ToolCall("c1", "f", "{}"), ir.Opaque("responses", search)]),
        ir.Message("tool", [ir.ToolResult("c1", [ir.Text("")])]),
    ]


def test_decode_refusal_and_tool_output_as_content_parts() -> None:
    items = [{"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
             {"type": "function_call_output", "call_id": "c1",
              "output": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]}]
    assert decode_responses_request(request(input=items)).messages == [
        ir.Message("assistant", [ir.Refusal("I can't.")]),
        ir.Message("tool", [ir.ToolResult("c1", [ir.Text("a"), ir.Text("b")])]),
    ]


def test_decode_instructions_only_when_not_empty() -> None:
    assert decode_responses_request(request(instructions="")).messages == [ir.Message("user", [ir.Text("Hi")])]


@pytest.mark.parametrize(("wire", "neutral"), [
    ("auto", ir.ToolChoice("auto")),
    ("none", ir.ToolChoice("none")),
    ("required", ir.ToolChoice("required")),
    ({"type": "function", "name": "get_weather"}, ir.ToolChoice("required", ["get_weather"])),
    ({"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "a"},
                                                         {"type": "function", "name": "b"}]},
     ir.ToolChoice("auto", ["a", "b"])),
    ({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "a"}]},
     ir.ToolChoice("required", ["a"])),
], ids=["auto", "none", "required", "function", "allowed-auto", "allowed-required"])
def test_tool_choice_every_form_both_ways(wire: Any, neutral: ir.ToolChoice) -> None:
    req = decode_responses_request(request(tool_choice=wire))
    assert req.tool_choice == neutral
    expected = wire
    if isinstance(wire, dict) and wire["type"] == "allowed_tools" and len(wire["tools"]) == 1:
        expected = {"type": "function", "name": "a"}  # one required tool is written as forcing it
    assert encode_responses_request(req, "m")["tool_choice"] == expected


@pytest.mark.parametrize(("fmt", "neutral"), [
    ({"type": "json_object"}, ir.ResponseFormat("json_object")),
    ({"type": "text"}, ir.ResponseFormat("text")),
    ({"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA},
     ir.ResponseFormat("json_schema", schema=ANSWER_SCHEMA, name="answer")),
], ids=["json_object", "text", "json_schema"])
def test_text_format_both_ways(fmt: dict[str, Any], neutral: ir.ResponseFormat) -> None:
    req = decode_responses_request(request(text={"format": fmt}))
    assert req.response_format == neutral
    assert encode_responses_request(req, "m")["text"] == {"format": fmt}


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_reasoning_effort_both_ways(effort: str) -> None:
    req = decode_responses_request(request(reasoning={"effort": effort}))
    assert req.reasoning_effort == effort
    # A summary is asked for whenever there is reasoning: it is what other dialects' clients see.
    expected = {"effort": "none"} if effort == "none" else {"effort": effort, "summary": "auto"}
    assert encode_responses_request(req, "m")["reasoning"] == expected


def test_user_falls_back_to_the_deprecated_user_field() -> None:
    assert decode_responses_request(request(user="legacy")).user == "legacy"
    assert decode_responses_request(request(user="legacy", safety_identifier="new")).user == "new"


def _user(*parts: Any) -> list[Any]:
    return [{"role": "user", "content": list(parts)}]


INVALID: list[tuple[str, Callable[[], Any], str]] = [
    ("not an object", lambda: [], "body"),
    ("no model", lambda: {"input": "Hi"}, "model"),
    ("empty model", lambda: request(model=""), "model"),
    ("no input", lambda: {"model": "m"}, "input"),
    ("input a number", lambda: request(input=5), "input"),
    ("item not an object", lambda: request(input=["Hi"]), "input[0]"),
    ("item without type or role", lambda: request(input=[{"content": "Hi"}]), "input[0].type"),
    ("message without role", lambda: request(input=[{"type": "message", "content": "Hi"}]), "input[0].role"),
    ("unknown role", lambda: request(input=[{"role": "tool", "content": "Hi"}]), "input[0].role"),
    ("message without content", lambda: request(input=[{"role": "user"}]), "input[0].content"),
    ("content a number", lambda: request(input=[{"role": "user", "content": 5}]), "input[0].content"),
    ("part without type", lambda: request(input=_user({"text": "Hi"})), "input[0].content[0].type"),
    ("unknown part", lambda: request(input=_user({"type": "input_video"})), "input[0].content[0].type"),
    ("image without source", lambda: request(input=_user({"type": "input_image", "detail": "auto"})),
     "input[0].content[0].image_url"),
    ("image bad data URL", lambda: request(input=_user({"type": "input_image", "image_url": "data:image/png,x"})),
     "input[0].content[0].image_url"),
    ("file bad data URL", lambda: request(input=_user({"type": "input_file", "file_data": "data:x"})),
     "input[0].content[0].file_data"),
    ("call without call_id", lambda: request(input=[{"type": "function_call", "name": "f", "arguments": "{}"}]),
     "input[0].call_id"),
    ("call without name", lambda: request(input=[{"type": "function_call", "call_id": "c", "arguments": "{}"}]),
     "input[0].name"),
    ("custom input a number",
     lambda: request(input=[{"type": "custom_tool_call", "call_id": "c", "name": "n", "input": 5}]),
     "input[0].input"),
    ("output without call_id", lambda: request(input=[{"type": "function_call_output", "output": "x"}]),
     "input[0].call_id"),
    ("tools not an array", lambda: request(tools={"type": "function"}), "tools"),
    ("function tool without name", lambda: request(tools=[WEB_SEARCH, {"type": "function"}]), "tools[1].name"),
    ("custom tool without name", lambda: request(tools=[{"type": "custom"}]), "tools[0].name"),
    ("tool_choice unknown", lambda: request(tool_choice="sometimes"), "tool_choice"),
    ("tool_choice without name", lambda: request(tool_choice={"type": "function"}), "tool_choice.name"),
    ("tool_choice of a type that is no string", lambda: request(tool_choice={"type": ["file_search"]}),
     "tool_choice.name"),
    ("allowed_tools without tools", lambda: request(tool_choice={"type": "allowed_tools", "mode": "auto"}),
     "tool_choice.tools"),
    ("format type unknown", lambda: request(text={"format": {"type": "xml"}}), "text.format.type"),
    ("json_schema without name", lambda: request(text={"format": {"type": "json_schema", "schema": {}}}),
     "text.format.name"),
    ("verbosity unknown", lambda: request(text={"verbosity": "loud"}), "text.verbosity"),
    ("effort unknown", lambda: request(reasoning={"effort": "extreme"}), "reasoning.effort"),
    ("max_output_tokens zero", lambda: request(max_output_tokens=0), "max_output_tokens"),
    ("temperature a string", lambda: request(temperature="hot"), "temperature"),
    ("stream a string", lambda: request(stream="yes"), "stream"),
    ("metadata an array", lambda: request(metadata=["k"]), "metadata"),
]


@pytest.mark.parametrize(("body", "param"), [(b, p) for _, b, p in INVALID], ids=[c for c, _, _ in INVALID])
def test_validation_names_the_field(body: Callable[[], Any], param: str) -> None:
    """Malformed input is a 400 invalid_request whose `param` is the exact field path."""
    with pytest.raises(ir.GatewayError) as info:
        read_all(decode_responses_request(body()))
    error = info.value
    assert (error.status, error.kind, error.param, error.retryable) == (400, "invalid_request", param, False)
    assert error.message.startswith(param + ": ")


def test_validation_error_renders_as_openai_400_body() -> None:
    with pytest.raises(ir.GatewayError) as info:
        CODEC.decode_request(ops.CHAT, request(max_output_tokens=0), {}, {})
    assert CODEC.status_of(info.value) == 400
    assert orjson.loads(CODEC.encode_error(info.value)) == {"error": {
        "message": "max_output_tokens: must be at least 1", "type": "invalid_request_error",
        "param": "max_output_tokens", "code": None}}


# Routes and small results ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "route"), [
    ("POST", "/v1/responses", ("chat", {})),
    ("POST", "/v1/responses/input_tokens", ("count_tokens", {})),
    ("GET", "/v1/responses/resp_1", ("responses.get", {"id": "resp_1"})),
    ("DELETE", "/v1/responses/resp_1", ("responses.delete", {"id": "resp_1"})),
    ("GET", "/v1/responses/resp_1/input_items", ("responses.input_items", {"id": "resp_1"})),
    ("GET", "/v1/responses", None),
    ("POST", "/v1/responses/resp_1", None),
    ("GET", "/v1/responses/resp_1/other", None),
    ("POST", "/v1/chat/completions", None),
])
def test_match(method: str, path: str, route: tuple[str, dict[str, str]] | None) -> None:
    found = CODEC.match(method, path, {}, b"")
    assert (None if found is None else (found.operation.name, found.params)) == route


def test_count_tokens_needs_no_input_and_answers_in_responses_form() -> None:
    req = CODEC.decode_request(ops.COUNT_TOKENS, {"model": "gpt-5", "instructions": "Be brief."}, {}, {})
    assert req.messages == [ir.Message("developer", [ir.Text("Be brief.")])]
    assert orjson.loads(CODEC.encode_result(ir.TokenCount(12), req)) == {
        "object": "response.input_tokens", "input_tokens": 12}


# Request encoding (IR -> a Responses upstream) ---------------------------------------------------


EXPECTED_UPSTREAM: dict[str, Any] = {
    "model": "gpt-5-upstream",
    "input": [
        {"type": "message", "role": "developer", "content": [
            {"type": "input_text", "text": "You are a coding agent."}]},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Use the tools."}]},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is in these?"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "high"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}", "detail": "auto"},
            {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF_B64}", "filename": "a.pdf"},
            {"type": "input_file", "file_id": "file-doc"},
            {"type": "input_file", "file_url": "https://example.com/b.pdf"},
        ]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "First check."}],
         "encrypted_content": "gAAAA-opaque"},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Checking.", "annotations": []}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "function_call_output", "call_id": "call_1", "output": "12 C"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done!"},
        {"type": "item_reference", "id": "msg_0"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks."}]},
    ],
    # The gateway keeps no state upstream: reasoning comes back encrypted, for the next turn to send;
    # the pages of the web search tool's searches, for a client of another dialect to be shown.
    "store": False,
    "include": ["reasoning.encrypted_content", "web_search_call.action.sources"],
    "stream": True,
    "max_output_tokens": 2048,
    "temperature": 0.5,
    "top_p": 0.9,
    "top_logprobs": 2,
    "parallel_tool_calls": False,
    "metadata": {"session": "s-1"},
    "safety_identifier": "user-1",
    "tools": [
        {"type": "function", "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_PARAMS,
         "strict": True},
        {"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": False},
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch", "format": PATCH_FORMAT},
        WEB_SEARCH,
    ],
    "tool_choice": "auto",
    "text": {"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True,
                        "description": "The answer"},
             "verbosity": "low"},
    "reasoning": {"effort": "high", "summary": "auto"},
}


def test_encode_full_request_for_a_responses_upstream() -> None:
    """Client state fields (store, previous_response_id, include) are not sent: the gateway's own are."""
    body = encode_responses_request(decode_responses_request(full_request()), "gpt-5-upstream")
    assert body == EXPECTED_UPSTREAM
    assert CODEC.encode_request(decode_responses_request(full_request()), "gpt-5-upstream") == body


def test_encode_minimal_request_still_asks_for_encrypted_reasoning_and_no_storage() -> None:
    req = ir.ChatRequest("m", [ir.Message("user", [ir.Text("Hi")])], "openai")
    assert encode_responses_request(req, "gpt-5") == {
        "model": "gpt-5", "input": [{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Hi"}]}],
        "store": False, "include": ["reasoning.encrypted_content"]}


def test_encode_keeps_only_state_this_upstream_can_read() -> None:
    """Encrypted reasoning goes back only to OpenAI, and only with its blob; other dialects' opaque
    items and other providers' reasoning stay out; a tool result is its text, or with an image the
    list of input parts a tool's output may be."""
    req = ir.ChatRequest("m", [
        ir.Message("user", [ir.Text("Hi"), ir.Opaque("anthropic", {"type": "server_tool_use"})]),
        ir.Message("assistant", [
            ir.Reasoning("Anthropic thinking", signature="sig-a", provider="anthropic"),
            ir.Reasoning("Summary without blob", provider="openai"),
            ir.Reasoning("", signature="enc-1", provider="openai"),
            ir.ToolCall("call_1", "f", "{}"),
        ]),
        ir.Message("tool", [ir.ToolResult("call_1", [ir.Text("a"), ir.Image(url="https://x/y.png"), ir.Text("b")])]),
    ], "anthropic")
    assert encode_responses_request(req, "m")["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"type": "reasoning", "summary": [], "encrypted_content": "enc-1"},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": [
            {"type": "input_text", "text": "a"},
            {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
            {"type": "input_text", "text": "b"}]},
    ]
    for is_error, said in ((False, "ab"), (True, "Error: ab")):  # the API has no error flag: the words say it
        text_only = ir.Message("tool", [ir.ToolResult("call_1", [ir.Text("a"), ir.Text("b")], is_error=is_error)])
        assert encode_responses_request(replace(req, messages=[*req.messages[:2], text_only]), "m")["input"][-1] == {
            "type": "function_call_output", "call_id": "call_1", "output": said}


def test_encode_refusal_and_inline_image_without_detail() -> None:
    req = ir.ChatRequest("m", [
        ir.Message("user", [ir.Image(data=PNG_B64)]),
        ir.Message("assistant", [ir.Text("Sure."), ir.Refusal("Not that.")]),
    ], "anthropic")
    assert encode_responses_request(req, "m")["input"] == [
        {"type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}", "detail": "auto"}]},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Sure.", "annotations": []},
            {"type": "refusal", "refusal": "Not that."}]},
    ]


def test_encode_image_by_file_id_stays_an_input_image() -> None:
    part = {"type": "input_image", "file_id": "file-img", "detail": "low"}
    req = decode_responses_request(request(input=[{"role": "user", "content": [part]}]))
    assert encode_responses_request(req, "m")["input"][0]["content"] == [part]


def test_encode_thinking_budget_as_effort_and_schema_defaults() -> None:
    req = ir.ChatRequest("m", [ir.Message("user", [ir.Text("Hi")])], "anthropic", reasoning_budget=3000,
                         response_format=ir.ResponseFormat("json_schema"), user="u-7")
    body = encode_responses_request(req, "m")
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["text"] == {"format": {"type": "json_schema", "name": "response", "schema": {}}}
    assert body["safety_identifier"] == "u-7"
    no_thinking = ir.ChatRequest("m", [], "anthropic", reasoning_budget=0)
    assert encode_responses_request(no_thinking, "m")["reasoning"] == {"effort": "none"}


def test_encode_server_tool_of_another_provider_names_the_field() -> None:
    tool = ir.Tool("web_search_20250305", kind="server", extra={"anthropic": {"type": "web_search_20250305"}})
    req = ir.ChatRequest("m", [ir.Message("user", [ir.Text("Hi")])], "anthropic", tools=[tool])
    with pytest.raises(ir.GatewayError) as info:
        encode_responses_request(req, "m")
    assert (info.value.status, info.value.param) == (400, "tools")
    assert "web_search_20250305" in info.value.message


# Response decoding (a Responses upstream -> IR) --------------------------------------------------


def upstream_response(**fields: Any) -> dict[str, Any]:
    """A Response object as the API returns it (store false, reasoning included encrypted)."""
    return {
        "id": "resp_up", "object": "response", "created_at": 1_700_000_000, "status": "completed",
        "model": "gpt-5-2025-08-07",
        "output": [
            {"type": "reasoning", "id": "rs_up", "summary": [{"type": "summary_text", "text": "Thinking."}],
             "encrypted_content": "enc-up"},
            {"type": "message", "id": "msg_up", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Let me check.", "annotations": [], "logprobs": []}]},
            {"type": "function_call", "id": "fc_up", "call_id": "call_up", "name": "get_weather",
             "arguments": '{"city":"Paris"}', "status": "completed"},
        ],
        "usage": {"input_tokens": 40, "input_tokens_details": {"cached_tokens": 8},
                  "output_tokens": 25, "output_tokens_details": {"reasoning_tokens": 10}, "total_tokens": 65},
        **fields,
    }


UPSTREAM_USAGE = ir.Usage(input_tokens=40, output_tokens=25, cache_read_tokens=8, reasoning_tokens=10)


def test_decode_upstream_response() -> None:
    assert decode_responses_response(upstream_response()) == ir.ChatResponse(
        "resp_up", "gpt-5-2025-08-07", 1_700_000_000,
        [ir.Choice(0, ir.Message("assistant", [
            ir.Reasoning("Thinking.", signature="enc-up", provider="openai", extra={"id": "rs_up"}),
            ir.Text("Let me check."),
            ir.ToolCall("call_up", "get_weather", '{"city":"Paris"}', extra={"id": "fc_up"}),
        ]), "tool_calls")],
        UPSTREAM_USAGE,
    )
    assert CODEC.decode_response(upstream_response()) == decode_responses_response(upstream_response())
    assert CODEC.usage_of(upstream_response()) == UPSTREAM_USAGE


@pytest.mark.parametrize(("status", "details", "reason"), [
    ("completed", None, "stop"),
    ("incomplete", {"reason": "max_output_tokens"}, "length"),
    ("incomplete", {"reason": "content_filter"}, "content_filter"),
])
def test_decode_upstream_finish(status: str, details: Any, reason: ir.FinishReason) -> None:
    text_only = upstream_response(status=status, incomplete_details=details, output=upstream_response()["output"][1:2])
    assert decode_responses_response(text_only).choices[0].finish_reason == reason


def test_decode_upstream_response_without_usage() -> None:
    resp = decode_responses_response(upstream_response(usage=None))
    assert resp.usage is None
    assert CODEC.usage_of([]) is None


def test_decode_upstream_error_body() -> None:
    body = orjson.dumps({"error": {"message": "Rate limit reached", "type": "requests", "param": None,
                                   "code": "rate_limit_exceeded"}})
    error = CODEC.decode_error(429, body)
    assert (error.status, error.kind, error.retryable, error.message, error.code) == (
        429, "rate_limit", True, "Rate limit reached", "rate_limit_exceeded")


# Stream decoding (a Responses upstream -> IR) ----------------------------------------------------


def upstream_sse(events: list[dict[str, Any]]) -> bytes:
    """Frame events as the API does, numbering them."""
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps({**e, "sequence_number": n})
                    + b"\n\n" for n, e in enumerate(events))


def _item_event(kind: str, index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": f"response.output_item.{kind}", "output_index": index, "item": item}


def _delta(kind: str, item_id: str, index: int, delta: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "item_id": item_id, "output_index": index, "delta": delta, **fields}


UPSTREAM_CREATED = {"type": "response.created", "response": {
    "id": "resp_up", "object": "response", "created_at": 1_700_000_000, "status": "in_progress",
    "model": "gpt-5-2025-08-07", "output": [], "usage": None}}
CALL_ADDED = {"type": "function_call", "id": "fc_up", "call_id": "call_up", "name": "get_weather", "arguments": "",
              "status": "in_progress"}
PATCH_ADDED = {"type": "custom_tool_call", "id": "ctc_up", "call_id": "call_p", "name": "apply_patch", "input": "",
               "status": "in_progress"}
UPSTREAM_STREAM: list[dict[str, Any]] = [
    UPSTREAM_CREATED,
    {"type": "response.in_progress", "response": UPSTREAM_CREATED["response"]},
    _item_event("added", 0, {"type": "reasoning", "id": "rs_up", "summary": []}),
    _delta("response.reasoning_summary_text.delta", "rs_up", 0, "Think", summary_index=0),
    _delta("response.reasoning_summary_text.delta", "rs_up", 0, "ing.", summary_index=0),
    _item_event("done", 0, {"type": "reasoning", "id": "rs_up", "encrypted_content": "enc-up",
                            "summary": [{"type": "summary_text", "text": "Thinking."}]}),
    _item_event("added", 1, {"type": "message", "id": "msg_up", "role": "assistant", "status": "in_progress",
                             "content": []}),
    _delta("response.output_text.delta", "msg_up", 1, "Let me ", content_index=0, logprobs=[]),
    _delta("response.output_text.delta", "msg_up", 1, "check.", content_index=0, logprobs=[]),
    {"type": "response.output_text.done", "item_id": "msg_up", "output_index": 1, "content_index": 0,
     "text": "Let me check.", "logprobs": []},
    _item_event("added", 2, CALL_ADDED),
    _delta("response.function_call_arguments.delta", "fc_up", 2, '{"city":'),
    _delta("response.function_call_arguments.delta", "fc_up", 2, '"Paris"}'),
    {"type": "response.function_call_arguments.done", "item_id": "fc_up", "output_index": 2,
     "name": "get_weather", "arguments": '{"city":"Paris"}'},
    _item_event("added", 3, PATCH_ADDED),
    _delta("response.custom_tool_call_input.delta", "ctc_up", 3, "*** Begin"),
    {"type": "response.completed", "response": {**UPSTREAM_CREATED["response"], "status": "completed",
                                                "usage": upstream_response()["usage"]}},
]
EXPECTED_STREAM: list[ir.StreamEvent] = [
    ir.StreamStart("resp_up", "gpt-5-2025-08-07", 1_700_000_000),
    ir.ReasoningDelta("Think"),
    ir.ReasoningDelta("ing."),
    ir.ReasoningDelta(signature="enc-up"),
    ir.TextDelta("Let me "),
    ir.TextDelta("check."),
    ir.ToolCallDelta(0, "", id="call_up", name="get_weather"),
    ir.ToolCallDelta(0, '{"city":'),
    ir.ToolCallDelta(0, '"Paris"}'),
    ir.ToolCallDelta(1, "", id="call_p", name="apply_patch", kind="custom"),
    ir.ToolCallDelta(1, "*** Begin"),
    ir.Finish("tool_calls"),
    ir.UsageReport(UPSTREAM_USAGE),
]


@pytest.mark.parametrize("sizes", [None, [1], [2, 7, 3], [64], [5, 300, 1]], ids=str)
def test_stream_decoder_any_split(sizes: list[int] | None) -> None:
    """Whole, byte by byte, or ragged: the same events come out."""
    assert decode_in_pieces(CODEC.stream_decoder(), upstream_sse(UPSTREAM_STREAM), sizes) == EXPECTED_STREAM


def test_stream_decoder_crlf_separators() -> None:
    data = upstream_sse(UPSTREAM_STREAM).replace(b"\n", b"\r\n")
    assert decode_in_pieces(ResponsesStreamDecoder(), data, [3, 11]) == EXPECTED_STREAM


def test_stream_decoder_refusal_and_reasoning_text() -> None:
    events = [UPSTREAM_CREATED, _delta("response.refusal.delta", "msg_1", 0, "No.", content_index=0),
              _delta("response.reasoning_text.delta", "rs_1", 1, "raw thought", content_index=0)]
    decoder = ResponsesStreamDecoder()
    assert decoder.feed(upstream_sse(events))[1:] == [ir.RefusalDelta("No."), ir.ReasoningDelta("raw thought")]


@pytest.mark.parametrize(("details", "reason"), [
    ({"reason": "max_output_tokens"}, "length"), ({"reason": "content_filter"}, "content_filter")])
def test_stream_decoder_incomplete(details: dict[str, str], reason: ir.FinishReason) -> None:
    incomplete = {"type": "response.incomplete", "response": {**UPSTREAM_CREATED["response"], "status": "incomplete",
                                                              "incomplete_details": details}}
    assert decode_in_pieces(ResponsesStreamDecoder(), upstream_sse([UPSTREAM_CREATED, incomplete]))[1:] == [
        ir.Finish(reason)]


def test_stream_decoder_failed_response_raises_after_what_came_before() -> None:
    failed = {"type": "response.failed", "response": {**UPSTREAM_CREATED["response"], "status": "failed",
                                                      "error": {"code": "server_error", "message": "boom"}}}
    decoder = ResponsesStreamDecoder()
    text = _delta("response.output_text.delta", "msg_1", 0, "partial", content_index=0, logprobs=[])
    assert decoder.feed(upstream_sse([UPSTREAM_CREATED, text, failed]))[1:] == [ir.TextDelta("partial")]
    with pytest.raises(ir.GatewayError) as info:
        decoder.feed(b"")
    assert (info.value.status, info.value.kind, info.value.retryable, info.value.message, info.value.code) == (
        502, "upstream", True, "boom", "server_error")


def test_stream_decoder_rate_limit_error_event_is_a_429() -> None:
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down", "param": None}
    with pytest.raises(ir.GatewayError) as info:
        ResponsesStreamDecoder().feed(upstream_sse([error]))
    assert (info.value.status, info.value.kind, info.value.retryable, info.value.message) == (
        429, "rate_limit", True, "Slow down")


# Passthrough -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [None, [1], [9, 4], [100, 3, 1000]], ids=str)
def test_passthrough_bytes_unchanged_usage_from_the_terminal_event(sizes: list[int] | None) -> None:
    data = upstream_sse(UPSTREAM_STREAM)
    passthrough = CODEC.passthrough(None)
    assert isinstance(passthrough, ResponsesPassthrough)
    assert forward_in_pieces(passthrough, data, sizes) == data
    assert passthrough.events == len(UPSTREAM_STREAM)
    assert passthrough.usage == UPSTREAM_USAGE


def test_passthrough_usage_of_an_incomplete_response_and_none_before_it() -> None:
    passthrough = ResponsesPassthrough()
    passthrough.feed(upstream_sse(UPSTREAM_STREAM[:3]))
    assert passthrough.usage is None
    incomplete = {"type": "response.incomplete", "response": {
        **UPSTREAM_CREATED["response"], "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
        "usage": {"input_tokens": 5, "output_tokens": 16, "total_tokens": 21}}}
    passthrough.feed(upstream_sse([incomplete]))
    passthrough.close()
    assert passthrough.usage == ir.Usage(input_tokens=5, output_tokens=16)


# Encoding for a Responses client: whole responses ------------------------------------------------

EVENT = pydantic.TypeAdapter(ResponseStreamEvent)


def chat_response(*parts: ir.Part, finish: ir.FinishReason = "stop", upstream_id: str = "chatcmpl-1",
                  usage: ir.Usage | None = None) -> ir.ChatResponse:
    """What another dialect's upstream answered, as the IR holds it."""
    return ir.ChatResponse(upstream_id, "gpt-x", 1_700_000_000,
                           [ir.Choice(0, ir.Message("assistant", list(parts)), finish)], usage)


def test_encode_response_output_items() -> None:
    """Each part becomes the item a client echoes back next turn, with ids it can keep; reasoning
    carries its blob only when OpenAI minted it; other dialects' opaque parts are left out."""
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed",
              "action": {"type": "search", "query": "weather"}}
    resp = chat_response(
        ir.Reasoning("Mine.", signature="enc-1", provider="openai", extra={"id": "rs_9"}),
        ir.Reasoning("Claude's.", signature="sig-a", provider="anthropic"),
        ir.Reasoning("", signature="sig-b", provider="anthropic"),
        ir.Text("Hi"), ir.Refusal("Not that."),
        ir.ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
        ir.ToolCall("call_2", "apply_patch", "*** Begin Patch", kind="custom"),
        ir.Opaque("responses", search), ir.Opaque("anthropic", {"type": "server_tool_use"}),
        finish="tool_calls", usage=ir.Usage(input_tokens=3, output_tokens=4, cache_read_tokens=1, reasoning_tokens=2))
    body = encode_responses_response(resp, None)
    output = body["output"]
    assert [item["id"][:item["id"].index("_") + 1] for item in output] == ["rs_", "rs_", "msg_", "fc_", "ctc_", "ws_"]
    assert output[0] == {"type": "reasoning", "id": "rs_9", "summary": [{"type": "summary_text", "text": "Mine."}],
                         "encrypted_content": "enc-1"}
    assert {k: v for k, v in output[1].items() if k != "id"} == {
        "type": "reasoning", "summary": [{"type": "summary_text", "text": "Claude's."}]}
    assert {k: v for k, v in output[2].items() if k != "id"} == {
        "type": "message", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []},
                    {"type": "refusal", "refusal": "Not that."}]}
    assert {k: v for k, v in output[3].items() if k != "id"} == {
        "type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}',
        "status": "completed"}
    assert {k: v for k, v in output[4].items() if k != "id"} == {
        "type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch",
        "status": "completed"}
    assert output[5] == search
    assert body["usage"] == {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 0},
                             "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 2},
                             "total_tokens": 7}
    sdk = Response.model_validate(body)
    assert (sdk.output_text, sdk.status) == ("Hi", "completed")


def test_encode_response_object_echoes_the_request() -> None:
    req = decode_responses_request(full_request())
    body = orjson.loads(CODEC.encode_result(chat_response(ir.Text("Hi")), req))
    assert body["id"].startswith("resp_") and body["id"] != "chatcmpl-1"  # a Responses id, not the upstream's
    assert (body["object"], body["status"], body["created_at"], body["model"]) == (
        "response", "completed", 1_700_000_000, "gpt-x")
    assert isinstance(body["completed_at"], float) and body["error"] is None and body["incomplete_details"] is None
    assert (body["instructions"], body["max_output_tokens"], body["temperature"], body["top_p"]) == (
        "You are a coding agent.", 2048, 0.5, 0.9)
    assert (body["parallel_tool_calls"], body["store"], body["previous_response_id"]) == (False, False, "resp_prev")
    assert (body["tools"], body["tool_choice"], body["metadata"]) == (
        full_request()["tools"], "auto", {"session": "s-1"})
    assert (body["text"], body["reasoning"], body["truncation"]) == (
        full_request()["text"], {"effort": "high", "summary": "auto"}, "disabled")
    assert body["usage"] is None
    Response.model_validate(body)


def test_encode_response_defaults_without_a_request() -> None:
    body = encode_responses_response(chat_response(ir.Text("Hi"), upstream_id="resp_kept"), None)
    assert body["id"] == "resp_kept"  # a Responses upstream's id is the client's too
    assert (body["text"], body["tools"], body["tool_choice"], body["store"], body["parallel_tool_calls"]) == (
        {"format": {"type": "text"}}, [], "auto", True, True)
    assert (body["reasoning"], body["metadata"], body["instructions"]) == ({"effort": None, "summary": None}, {}, None)


@pytest.mark.parametrize(("finish", "why"), [
    ("length", "max_output_tokens"), ("context_overflow", "max_output_tokens"), ("content_filter", "content_filter")])
def test_encode_response_incomplete(finish: ir.FinishReason, why: str) -> None:
    body = encode_responses_response(chat_response(ir.Text("Hi"), finish=finish), None)
    assert (body["status"], body["incomplete_details"], body["completed_at"]) == ("incomplete", {"reason": why}, None)
    Response.model_validate(body)


def test_encode_response_round_trips_through_the_upstream_decoder() -> None:
    """What the gateway answers a client decodes back to the same IR (ids minted on the way kept)."""
    resp = chat_response(ir.Reasoning("Mine.", signature="enc-1", provider="openai", extra={"id": "rs_9"}),
                         ir.Text("Hi"), ir.ToolCall("call_1", "f", "{}"), finish="tool_calls",
                         usage=ir.Usage(input_tokens=3, output_tokens=4))
    body = encode_responses_response(resp, None)
    back = decode_responses_response(body)
    call_id = body["output"][2]["id"]
    assert back == ir.ChatResponse(body["id"], "gpt-x", 1_700_000_000, [ir.Choice(0, ir.Message("assistant", [
        ir.Reasoning("Mine.", signature="enc-1", provider="openai", extra={"id": "rs_9"}), ir.Text("Hi"),
        ir.ToolCall("call_1", "f", "{}", extra={"id": call_id})]), "tool_calls")], ir.Usage(3, 4))


# Encoding for a Responses client: streams --------------------------------------------------------

# IR events as the OpenAI Chat decoder produces them, to be sent to a Responses client.
CHAT_STYLE: list[ir.StreamEvent] = [
    ir.StreamStart("chatcmpl-1", "gpt-x", 1_700_000_000),
    ir.ReasoningDelta("Think"),
    ir.ReasoningDelta(" more."),
    ir.ReasoningDelta(signature="sig-a"),  # another provider's state: the reasoning store keeps it
    ir.TextDelta("Hel"),
    ir.TextDelta("lo"),
    ir.ToolCallDelta(0, "", id="call_a", name="get_weather"),
    ir.ToolCallDelta(0, '{"city":'),
    ir.ToolCallDelta(0, '"Paris"}'),
    ir.ToolCallDelta(1, "{}", id="call_b", name="get_time"),
    ir.Finish("tool_calls"),
    ir.UsageReport(ir.Usage(input_tokens=10, output_tokens=5, cache_read_tokens=2, reasoning_tokens=1)),
]
CHAT_STYLE_TYPES = [
    "response.created", "response.in_progress",
    "response.output_item.added", "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
    "response.output_item.added", "response.content_part.added",
    "response.output_text.delta", "response.output_text.delta",
    "response.output_text.done", "response.content_part.done", "response.output_item.done",
    "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.done",
    "response.output_item.added", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.done",
    "response.completed",
]


def encode_stream(events: list[ir.StreamEvent], client_request: ir.ChatRequest | None = None,
                  error: ir.GatewayError | None = None) -> list[Any]:
    """The events a Responses client gets, checked against the SDK's event types and the invariants
    every Responses stream keeps (see `responses_events`)."""
    encoder = CODEC.stream_encoder(client_request)
    data = b"".join(encoder.encode(e) for e in events) + (encoder.error(error) if error else encoder.end())
    payloads = responses_events(data)
    for payload in payloads:
        EVENT.validate_python(payload)
    return payloads


def test_stream_encoder_event_sequence() -> None:
    events = encode_stream(CHAT_STYLE)
    assert [e["type"] for e in events] == CHAT_STYLE_TYPES
    assert [e["sequence_number"] for e in events] == list(range(len(CHAT_STYLE_TYPES)))


def test_stream_encoder_writes_labelled_state_as_encrypted_content() -> None:
    """State sealed for a Responses client ends its reasoning item as `encrypted_content`; one
    without text gets an item of its own; unlabelled state never shows."""
    events = encode_stream([ir.ReasoningDelta("Think"), ir.ReasoningDelta(signature="sealed-1", provider="openai"),
                            ir.ReasoningDelta(signature="foreign"),
                            ir.ReasoningDelta(signature="sealed-2", provider="openai"),
                            ir.TextDelta("Hi"), ir.Finish("stop")])
    first, second, message = responses_items(events)
    assert first == {"type": "reasoning", "id": first["id"], "encrypted_content": "sealed-1",
                     "summary": [{"type": "summary_text", "text": "Think"}]}
    assert second == {"type": "reasoning", "id": second["id"], "summary": [], "encrypted_content": "sealed-2"}
    assert message["type"] == "message" and "foreign" not in orjson.dumps(events).decode()


def test_stream_encoder_items_open_fill_and_close() -> None:
    events = encode_stream(CHAT_STYLE)
    done = responses_items(events)
    by_type: dict[str, list[Any]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    reasoning, message, weather, clock = done
    # Reasoning: a summary part opens empty, deltas fill it, the done forms carry the whole text.
    assert by_type["response.output_item.added"][0]["item"] == {"type": "reasoning", "id": reasoning["id"],
                                                                "summary": []}
    assert reasoning == {"type": "reasoning", "id": reasoning["id"],
                         "summary": [{"type": "summary_text", "text": "Think more."}]}
    assert [e["delta"] for e in by_type["response.reasoning_summary_text.delta"]] == ["Think", " more."]
    assert by_type["response.reasoning_summary_text.done"][0]["text"] == "Think more."
    assert by_type["response.reasoning_summary_part.done"][0]["part"] == reasoning["summary"][0]
    # Message: in progress with an empty text part, then completed with the whole text.
    assert by_type["response.output_item.added"][1]["item"] == {
        "type": "message", "id": message["id"], "role": "assistant", "status": "in_progress", "content": []}
    assert by_type["response.content_part.added"][0]["part"] == {"type": "output_text", "text": "", "annotations": []}
    assert [e["delta"] for e in by_type["response.output_text.delta"]] == ["Hel", "lo"]
    assert by_type["response.output_text.done"][0]["text"] == "Hello"
    assert message == {"type": "message", "id": message["id"], "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]}
    assert by_type["response.content_part.done"][0]["part"] == message["content"][0]
    # Function calls: the client's call ids, fc_ item ids, fragments, then the whole arguments and name.
    assert [(c["id"][:3], c["call_id"], c["name"], c["arguments"], c["status"]) for c in (weather, clock)] == [
        ("fc_", "call_a", "get_weather", '{"city":"Paris"}', "completed"),
        ("fc_", "call_b", "get_time", "{}", "completed")]
    assert by_type["response.output_item.added"][2]["item"]["arguments"] == ""
    assert [e["delta"] for e in by_type["response.function_call_arguments.delta"]] == ['{"city":', '"Paris"}', "{}"]
    assert [(e["name"], e["arguments"]) for e in by_type["response.function_call_arguments.done"]] == [
        ("get_weather", '{"city":"Paris"}'), ("get_time", "{}")]


def test_stream_encoder_text_deltas_with_and_without_logprobs_share_their_part() -> None:
    """Plain deltas take a shorter way than those with log probabilities (the event a stream sends
    per token); mixed in one part, they keep one item, one count of events and the whole text."""
    token = ir.TokenLogprob("lo", -0.5, [ir.TokenLogprob("la", -1.5)])
    events = encode_stream([ir.TextDelta("Hel"), ir.TextDelta("lo", logprobs=[token]), ir.TextDelta("!"),
                            ir.RefusalDelta("No."), ir.TextDelta("Yes"), ir.Finish("stop")])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert [(e["delta"], e["output_index"], e["content_index"], len(e["logprobs"])) for e in deltas] == [
        ("Hel", 0, 0, 0), ("lo", 0, 0, 1), ("!", 0, 0, 0), ("Yes", 2, 0, 0)]
    assert len({e["item_id"] for e in deltas[:3]}) == 1 and deltas[3]["item_id"] != deltas[0]["item_id"]
    text, refusal, again = responses_items(events)
    assert text["content"][0]["text"] == "Hello!" and [t["token"] for t in text["content"][0]["logprobs"]] == ["lo"]
    assert refusal["content"] == [{"type": "refusal", "refusal": "No."}]
    assert again["content"][0]["text"] == "Yes"


def test_stream_encoder_completed_response_is_the_done_forms() -> None:
    events = encode_stream(CHAT_STYLE, decode_responses_request(request(max_output_tokens=50, instructions="x")))
    done = responses_items(events)
    created, in_progress, completed = (e["response"] for e in events if "response" in e)
    assert completed["output"] == done
    assert completed["id"].startswith("resp_") and created["id"] == in_progress["id"] == completed["id"]
    assert [r["status"] for r in (created, in_progress, completed)] == ["in_progress", "in_progress", "completed"]
    assert (created["output"], created["usage"], created["model"]) == ([], None, "gpt-x")
    assert completed["usage"] == {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 2,
                                                                               "cache_write_tokens": 0},
                                  "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 1},
                                  "total_tokens": 15}
    assert (completed["instructions"], completed["max_output_tokens"]) == ("x", 50)
    assert Response.model_validate(completed).output_text == "Hello"


@pytest.mark.parametrize(("finish", "why"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_stream_encoder_incomplete(finish: ir.FinishReason, why: str) -> None:
    events = encode_stream([ir.TextDelta("Hi"), ir.Finish(finish)])
    final = events[-1]
    assert final["type"] == "response.incomplete"
    assert (final["response"]["status"], final["response"]["incomplete_details"]) == ("incomplete", {"reason": why})
    assert final["response"]["output"] == responses_items(events)


def test_stream_encoder_failure_ends_with_response_failed_then_error() -> None:
    events = encode_stream([ir.TextDelta("partial")], error=ir.GatewayError("upstream", "boom", code="server_error"))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.failed", "error"]
    failed, error = events[-2:]
    assert (failed["response"]["status"], failed["response"]["error"]) == (
        "failed", {"code": "server_error", "message": "boom"})
    assert error == {"type": "error", "sequence_number": 6, "code": "server_error", "message": "boom", "param": None}


def test_stream_encoder_failure_before_any_event_and_without_a_code() -> None:
    events = encode_stream([], error=ir.GatewayError("upstream", "down"))
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed", "error"]
    assert events[-1]["code"] == "server_error"


def test_stream_encoder_empty_stream_still_completes() -> None:
    events = encode_stream([])
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.completed"]
    assert events[-1]["response"]["output"] == []


def test_stream_encoder_answers_only_the_first_choice() -> None:
    events = encode_stream([ir.TextDelta("a", choice=1), ir.TextDelta("b"), ir.Finish("stop", choice=1)])
    assert [e["delta"] for e in events if "delta" in e] == ["b"]
    assert events[-1]["type"] == "response.completed"


def test_stream_encoder_custom_tool_call_is_a_custom_tool_call_item() -> None:
    events = encode_stream([ir.ToolCallDelta(0, "*** Begin", id="call_p", name="apply_patch", kind="custom"),
                            ir.Finish("tool_calls")])
    assert [item["type"] for item in responses_items(events)] == ["custom_tool_call"]


def test_stream_encoder_refusal_is_a_refusal_part() -> None:
    events = encode_stream([ir.RefusalDelta("Not that."), ir.Finish("stop")])
    assert responses_items(events)[0]["content"] == [{"type": "refusal", "refusal": "Not that."}]


def test_stream_encoder_output_decodes_back_to_the_same_events() -> None:
    """IR -> Responses SSE -> IR keeps the text, calls, finish and usage (reasoning state from
    another provider and the upstream's id are not the client's business)."""
    encoder = ResponsesStreamEncoder(None)
    data = b"".join(encoder.encode(e) for e in CHAT_STYLE) + encoder.end()
    back = decode_in_pieces(ResponsesStreamDecoder(), data, [7])
    start = back[0]
    assert isinstance(start, ir.StreamStart) and start.id.startswith("resp_") and start.model == "gpt-x"
    assert back[1:] == [
        ir.ReasoningDelta("Think"), ir.ReasoningDelta(" more."), ir.TextDelta("Hel"), ir.TextDelta("lo"),
        ir.ToolCallDelta(0, "", id="call_a", name="get_weather"), ir.ToolCallDelta(0, '{"city":'),
        ir.ToolCallDelta(0, '"Paris"}'), ir.ToolCallDelta(1, "", id="call_b", name="get_time"),
        ir.ToolCallDelta(1, "{}"), ir.Finish("tool_calls"), CHAT_STYLE[-1]]


def test_stream_encoder_ping_is_an_sse_comment() -> None:
    assert CODEC.stream_encoder(None).ping() == b": ping\n\n"


def test_a_hosted_tool_choice_is_read_and_written_by_its_type() -> None:
    """`tool_choice: {"type": "web_search_preview"}` names a hosted tool by its type, as the API's
    ToolChoiceTypes do; written again for a Responses upstream, it is that type, not a function."""
    body = {"model": "m", "input": "hi", "tools": [{"type": "web_search_preview"}, {
        "type": "function", "name": "lookup", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "web_search_preview"}}
    request = decode_responses_request(body)
    assert request.tool_choice == ir.ToolChoice("required", ["web_search_preview"])
    assert encode_responses_request(request, "m")["tool_choice"] == {"type": "web_search_preview"}
    allowed = ir.ToolChoice("auto", ["web_search_preview", "lookup"])
    sent = encode_responses_request(replace(request, tool_choice=allowed), "m")
    assert sent["tool_choice"] == {"type": "allowed_tools", "mode": "auto", "tools": [
        {"type": "web_search_preview"}, {"type": "function", "name": "lookup"}]}


@pytest.mark.parametrize(("choice", "read"), [
    ({"type": "mcp", "server_label": "calc", "name": "add"}, ir.ToolChoice("required", ["add"])),
    ({"type": "mcp", "server_label": "calc"}, ir.ToolChoice("required")),  # any of its tools: one must be called
])
def test_a_tool_choice_naming_a_remote_mcp_server_is_read(choice: dict[str, Any], read: ir.ToolChoice) -> None:
    body = {"model": "m", "input": "hi", "tool_choice": choice,
            "tools": [{"type": "mcp", "server_label": "calc", "server_url": "https://mcp.example/"}]}
    assert decode_responses_request(body).tool_choice == read
    with pytest.raises(ir.GatewayError) as refused:
        decode_responses_request({**body, "tool_choice": {"type": "mcp"}})
    assert refused.value.param == "tool_choice.server_label"
