"""Unit tests of the Anthropic Messages codec (Anthropic's Messages API reference, and the README's
translation tables); no network, no I/O."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import openai_chat
from interlingua.adapters.dialects.anthropic import (
    CODEC,
    PING,
    MessagesPassthrough,
    MessagesStreamDecoder,
    MessagesStreamEncoder,
    decode_messages_response,
    decode_usage,
    encode_error_body,
    encode_messages_response,
    encode_usage,
)
from interlingua.adapters.dialects.anthropic_request import (
    BLOCK,
    DEFAULT_MAX_TOKENS,
    JSON_OBJECT_INSTRUCTION,
    _block,
    _plain,
    decode_messages_request,
    encode_messages_request,
)
from interlingua.adapters.dialects.base import ModelCard, ModelList, Route
from interlingua.adapters.dialects.ids import original_id, safe_id
from interlingua.adapters.dialects.openai_chat_request import decode_chat_request
from tests.support import decode_in_pieces, forward_in_pieces, no_clock, read_all, sse_events

# Fixtures ----------------------------------------------------------------------------------------

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAE="
PDF_B64 = "JVBERi0xLjQK"
SIG = "EqQBCkgIARABGAIiQNYz"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4a"
FOREIGN_ID = "call:1/x"  # an id another upstream minted, invalid for Anthropic
MODEL = "claude-sonnet-4-5"

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
WEB_SEARCH: dict[str, Any] = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 3,
    "allowed_domains": ["example.com"],
}
# Top-level fields of section 3.1 the IR has no neutral slot for, plus one nobody has heard of.
EXTRA_FIELDS: dict[str, Any] = {
    "service_tier": "auto",
    "cache_control": {"type": "ephemeral"},
    "container": "container_1",
    "inference_geo": "us",
    "x_vendor_knob": {"nested": [1, 2, 3]},
}
NO_HEADERS: dict[bytes, bytes] = {}


def full_request() -> dict[str, Any]:
    """A Messages body with system blocks, a thinking tool loop, media, tools and every knob."""
    return {
        "model": MODEL,
        "max_tokens": 8192,
        "system": [
            {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "Use tools."},
        ],
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two cities, two calls.", "signature": SIG},
                {"type": "redacted_thinking", "data": REDACTED},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": safe_id(FOREIGN_ID), "name": "get_weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C and sunny"},
                {"type": "tool_result", "tool_use_id": safe_id(FOREIGN_ID), "is_error": True, "content": [
                    {"type": "text", "text": "station offline"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                ]},
                {"type": "text", "text": "And what is in this picture?", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ]},
        ],
        "tools": [
            {"name": "get_weather", "description": "Current weather", "input_schema": WEATHER_SCHEMA,
             "strict": True, "cache_control": {"type": "ephemeral"}},
            copy.deepcopy(WEB_SEARCH),
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
        "stop_sequences": ["END", "STOP"],
        "temperature": 1,
        "top_p": 0.95,
        "stream": True,
        "metadata": {"user_id": "user-hash-1"},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919",
                                          "keep": {"type": "tool_uses", "value": 3}}]},
        **copy.deepcopy(EXTRA_FIELDS),
    }


def minimal(**fields: Any) -> dict[str, Any]:
    """The smallest valid Messages body, with `fields` set on top."""
    return {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}], **fields}


def decode(body: dict[str, Any], headers: dict[bytes, bytes] | None = None, count: bool = False) -> ir.ChatRequest:
    return decode_messages_request(body, headers or NO_HEADERS, count=count)


# Request decoding --------------------------------------------------------------------------------


def test_decode_full_request_top_level_fields() -> None:
    """Each scalar of section 3.1 lands in its IR slot; the body is kept as `native`."""
    body = full_request()
    req = decode(body)
    assert req.model == MODEL
    assert req.dialect == CODEC.name == "anthropic"
    assert req.native is body
    assert req.stream is True and req.stream_usage is True
    assert req.max_tokens == 8192
    assert req.temperature == 1 and req.top_p == 0.95 and req.top_k is None
    assert req.stop == ["END", "STOP"]
    assert req.parallel_tool_calls is False
    assert req.reasoning_budget == 2048 and req.reasoning_effort == "high"
    assert req.user == "user-hash-1"
    assert req.headers is None
    assert req.context == ir.ContextManagement(edits=[ir.ClearToolUses(keep=3)])


def test_decode_unknown_top_level_fields_land_in_extra() -> None:
    assert decode(full_request()).extra == EXTRA_FIELDS
    assert decode(minimal()).extra == {}


def test_decode_does_not_mutate_body() -> None:
    body = full_request()
    decode(body)
    assert body == full_request()


def test_decode_system_as_string() -> None:
    msgs = decode(minimal(system="Be terse.")).messages
    assert msgs[0] == ir.Message("system", [ir.Text("Be terse.")])
    assert msgs[1] == ir.Message("user", [ir.Text("hi")])


def test_decode_system_blocks_keep_cache_control() -> None:
    msgs = decode(full_request()).messages
    assert msgs[0] == ir.Message("system", [
        ir.Text("You are terse.", {"cache_control": {"type": "ephemeral", "ttl": "1h"}}),
        ir.Text("Use tools."),
    ])


def test_decode_multi_turn_roles() -> None:
    """A user turn's tool results become IR tool messages, one per result, before its other content."""
    msgs = decode(full_request()).messages
    assert [m.role for m in msgs] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert msgs[1].parts == [ir.Text("Weather in Paris and Rome?")]


def test_decode_assistant_turn() -> None:
    """Thinking keeps its signature bound to Anthropic; tool_use ids are restored with original_id."""
    assistant = decode(full_request()).messages[2]
    assert assistant.parts == [
        ir.Reasoning(text="Two cities, two calls.", signature=SIG, provider="anthropic"),
        ir.Reasoning(redacted=REDACTED, provider="anthropic"),
        ir.Text("Checking."),
        ir.ToolCall("toolu_01A", "get_weather", '{"city":"Paris"}'),
        ir.ToolCall(FOREIGN_ID, "get_weather", '{"city":"Rome"}'),
    ]


def test_decode_tool_results_then_user_content() -> None:
    msgs = decode(full_request()).messages
    assert msgs[3] == ir.Message("tool", [ir.ToolResult("toolu_01A", [ir.Text("18C and sunny")])])
    assert msgs[4] == ir.Message("tool", [ir.ToolResult(
        FOREIGN_ID,
        [ir.Text("station offline"), ir.Image(data=PNG_B64, media_type="image/png")],
        is_error=True,
    )])
    assert msgs[5] == ir.Message("user", [
        ir.Text("And what is in this picture?", {"cache_control": {"type": "ephemeral"}}),
        ir.Image(url="https://example.com/cat.jpg"),
    ])


USUAL = [
    {"type": "text", "text": "Let me look."},
    {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"file_path": "/a.py", "limit": 20}},
    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "1 import os"},
    {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "1 import os"}]},
    {"type": "tool_result", "tool_use_id": "toolu_01", "content": ""},
]
UNUSUAL = [
    {"type": "text", "text": "cached", "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": ""},
    {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {}, "caller": {"type": "direct"}},
    {"type": "tool_use", "id": "", "name": "Read", "input": {}},
    {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": "{}"},
    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "failed", "is_error": True},
    {"type": "tool_result", "tool_use_id": "toolu_01", "content": None},
    {"type": "tool_result", "tool_use_id": 7, "content": "x"},
    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    ["not", "a", "block"],
]


@pytest.mark.parametrize("raw", USUAL)
def test_the_usual_blocks_are_read_in_one_step_as_field_by_field(raw: dict[str, Any]) -> None:
    assert _plain(raw, "messages[0].content", 0) == _block(raw, "messages[0].content[0]")


@pytest.mark.parametrize("raw", UNUSUAL)
def test_other_blocks_are_left_to_the_field_by_field_reader(raw: Any) -> None:
    assert _plain(raw, "messages[0].content", 0) is None


def test_errors_inside_the_usual_blocks_still_name_their_path() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "ok"},
                                                                           {"type": "text", "text": 5}]}
    body = minimal(messages=[{"role": "user", "content": "go"}, {"role": "user", "content": [result]}])
    with pytest.raises(ir.GatewayError, match=r"messages\[1\]\.content\[0\]\.content\[1\]\.text: must be a string"):
        assert decode(body).messages  # decoded when first read


def test_decode_tool_result_without_content_and_all_results_turn() -> None:
    """A user turn of only tool results makes no empty user message; missing content is no parts."""
    body = minimal(messages=[
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ping", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
    ])
    msgs = decode(body).messages
    assert [m.role for m in msgs] == ["user", "assistant", "tool"]
    assert msgs[1].parts == [ir.ToolCall("toolu_1", "ping", "{}")]
    assert msgs[2].parts == [ir.ToolResult("toolu_1", [])]


def _user_blocks(*blocks: dict[str, Any]) -> dict[str, Any]:
    return minimal(messages=[{"role": "user", "content": list(blocks)}])


@pytest.mark.parametrize(("block", "part"), [
    ({"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": PNG_B64}},
     ir.Image(data=PNG_B64, media_type="image/webp")),
    ({"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
     ir.Image(url="https://example.com/a.png")),
    ({"type": "image", "source": {"type": "file", "file_id": "file_011"}},
     ir.File(file_id="file_011", extra={"block": "image"})),
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
      "cache_control": {"type": "ephemeral"}},
     ir.Image(data=PNG_B64, media_type="image/png", extra={"cache_control": {"type": "ephemeral"}})),
    ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
      "title": "Report", "context": "Q3", "citations": {"enabled": True}},
     ir.File(data=PDF_B64, media_type="application/pdf",
             extra={"title": "Report", "context": "Q3", "citations": {"enabled": True}})),
    ({"type": "document", "source": {"type": "url", "url": "https://example.com/r.pdf"}},
     ir.File(url="https://example.com/r.pdf")),
    ({"type": "document", "source": {"type": "file", "file_id": "file_022"}},
     ir.File(file_id="file_022", extra={"block": "document"})),
    ({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
     ir.Text("plain words", {BLOCK: {"type": "document", "source": {
         "type": "text", "media_type": "text/plain", "data": "plain words"}}})),
    ({"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "chunk"}]}},
     ir.Text("chunk", {BLOCK: {"type": "document", "source": {"type": "content", "content": [
         {"type": "text", "text": "chunk"}]}}})),
], ids=lambda v: str(v)[:60])
def test_decode_media_blocks(block: dict[str, Any], part: ir.Part) -> None:
    """Images and documents by base64, url and file source (plus text/content documents kept whole)."""
    assert decode(_user_blocks(block)).messages[0].parts == [part]


def test_decode_tools_custom_and_server() -> None:
    """A custom tool maps to a function tool; a server tool is kept whole as kind "server"."""
    tools = decode(full_request()).tools
    assert tools == [
        ir.Tool("get_weather", "Current weather", WEATHER_SCHEMA, strict=True,
                extra={"cache_control": {"type": "ephemeral"}}),
        ir.Tool("web_search", kind="server", extra=WEB_SEARCH),
    ]


def test_decode_tool_with_explicit_custom_type() -> None:
    tools = decode(minimal(tools=[{"type": "custom", "name": "f", "input_schema": {"type": "object"}}])).tools
    assert tools == [ir.Tool("f", parameters={"type": "object"})]


TOOL_CHOICES: list[tuple[dict[str, Any], ir.ToolChoice, bool | None]] = [
    ({"type": "auto"}, ir.ToolChoice("auto"), None),
    ({"type": "auto", "disable_parallel_tool_use": True}, ir.ToolChoice("auto"), False),
    ({"type": "auto", "disable_parallel_tool_use": False}, ir.ToolChoice("auto"), True),
    ({"type": "any"}, ir.ToolChoice("required"), None),
    ({"type": "any", "disable_parallel_tool_use": True}, ir.ToolChoice("required"), False),
    ({"type": "tool", "name": "get_weather"}, ir.ToolChoice("required", ["get_weather"]), None),
    ({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
     ir.ToolChoice("required", ["get_weather"]), False),
    ({"type": "none"}, ir.ToolChoice("none"), None),
]


@pytest.mark.parametrize(("wire", "choice", "parallel"), TOOL_CHOICES, ids=lambda v: str(v)[:50])
def test_decode_tool_choice_every_form(wire: dict[str, Any], choice: ir.ToolChoice, parallel: bool | None) -> None:
    """disable_parallel_tool_use is the negation of parallel_tool_calls, absent when not given."""
    req = decode(minimal(tool_choice=wire))
    assert req.tool_choice == choice
    assert req.parallel_tool_calls is parallel


def test_decode_without_tool_choice() -> None:
    req = decode(minimal())
    assert req.tool_choice is None and req.parallel_tool_calls is None and req.tools is None


@pytest.mark.parametrize(("thinking", "output", "budget", "effort"), [
    ({"type": "enabled", "budget_tokens": 1024}, None, 1024, None),
    ({"type": "enabled", "budget_tokens": 6000}, {"effort": "low"}, 6000, "low"),
    ({"type": "adaptive"}, None, None, "medium"),
    ({"type": "adaptive", "display": "summarized"}, {"effort": "max"}, None, "max"),
    ({"type": "disabled"}, None, None, "none"),
    (None, {"effort": "xhigh"}, None, "xhigh"),
    (None, None, None, None),
], ids=[
    "enabled_budget_is_reasoning_budget",
    "enabled_budget_and_effort_both_kept",
    "adaptive_without_effort_is_medium",
    "adaptive_uses_output_config_effort",
    "disabled_is_effort_none",
    "effort_alone_is_reasoning_effort",
    "neither_leaves_both_unset",
])
def test_decode_thinking_and_effort_mapping(thinking: dict[str, Any] | None, output: dict[str, Any] | None,
                                            budget: int | None, effort: str | None) -> None:
    body = minimal(max_tokens=16000)
    if thinking is not None:
        body["thinking"] = thinking
    if output is not None:
        body["output_config"] = output
    req = decode(body)
    assert (req.reasoning_budget, req.reasoning_effort) == (budget, effort)


def test_decode_output_config_format() -> None:
    req = decode(minimal(output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}}))
    assert req.response_format == ir.ResponseFormat("json_schema", schema=ANSWER_SCHEMA, name="response")


def test_decode_deprecated_output_format_is_an_alias() -> None:
    req = decode(minimal(output_format={"type": "json_schema", "schema": ANSWER_SCHEMA}))
    assert req.response_format == ir.ResponseFormat("json_schema", schema=ANSWER_SCHEMA, name="response")


def test_decode_output_config_format_wins_over_output_format() -> None:
    req = decode(minimal(output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
                         output_format={"type": "json_schema", "schema": {"type": "object"}}))
    assert req.response_format is not None and req.response_format.schema == ANSWER_SCHEMA


def test_decode_metadata_stop_sequences_top_k() -> None:
    req = decode(minimal(metadata={"user_id": "u-1"}, stop_sequences=["\n\nHuman:"], top_k=40, temperature=0.2))
    assert req.user == "u-1"
    assert req.stop == ["\n\nHuman:"]
    assert req.top_k == 40 and req.temperature == 0.2
    assert req.metadata is None  # metadata has no field besides user_id


def test_decode_beta_header_goes_to_request_headers() -> None:
    beta = b"interleaved-thinking-2025-05-14,context-1m-2025-08-07"
    req = decode(minimal(), {b"anthropic-beta": beta, b"anthropic-version": b"2023-06-01"})
    assert req.headers == {"anthropic-beta": "interleaved-thinking-2025-05-14,context-1m-2025-08-07"}


def test_decode_count_tokens_request_without_max_tokens() -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "count me"}], "system": "s",
            "tools": [{"name": "f", "input_schema": {"type": "object"}}]}
    req = decode(body, count=True)
    assert req.max_tokens is None
    assert [m.role for m in req.messages] == ["system", "user"]
    assert CODEC.decode_request(ops.COUNT_TOKENS, body, NO_HEADERS, {}).max_tokens is None


# Validation ----------------------------------------------------------------------------------------


def _messages(*messages: Any) -> dict[str, Any]:
    return minimal(messages=list(messages))


INVALID: list[tuple[str, Callable[[], Any], str]] = [
    ("body_not_object", lambda: ["x"], "body"),
    ("missing_model", lambda: {"max_tokens": 10, "messages": []}, "model"),
    ("missing_max_tokens", lambda: {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ("max_tokens_zero", lambda: minimal(max_tokens=0), "max_tokens"),
    ("max_tokens_bool", lambda: minimal(max_tokens=True), "max_tokens"),
    ("missing_messages", lambda: {"model": MODEL, "max_tokens": 10}, "messages"),
    ("messages_not_array", lambda: minimal(messages={"role": "user"}), "messages"),
    ("message_not_object", lambda: _messages("hi"), "messages[0]"),
    ("bad_role", lambda: _messages({"role": "system", "content": "x"}), "messages[0].role"),
    ("missing_role", lambda: _messages({"content": "x"}), "messages[0].role"),
    ("missing_content", lambda: _messages({"role": "user"}), "messages[0].content"),
    ("content_not_list", lambda: _messages({"role": "user", "content": 7}), "messages[0].content"),
    ("empty_text_block", lambda: _messages({"role": "user", "content": [{"type": "text", "text": ""}]}),
     "messages[0].content[0].text"),
    ("block_without_type", lambda: _messages({"role": "user", "content": [{"text": "x"}]}),
     "messages[0].content[0].type"),
    ("tool_result_without_tool_use_id", lambda: _messages(
        {"role": "user", "content": [{"type": "tool_result", "content": "x"}]}),
     "messages[0].content[0].tool_use_id"),
    ("tool_result_bad_content", lambda: _messages(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": 3}]}),
     "messages[0].content[0].content"),
    ("tool_result_nested_empty_text", lambda: _messages(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                      "content": [{"type": "text", "text": ""}]}]}),
     "messages[0].content[0].content[0].text"),
    ("tool_use_input_not_object", lambda: _messages(
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]}),
     "messages[1].content[0].input"),
    ("image_without_source", lambda: _messages({"role": "user", "content": [{"type": "image"}]}),
     "messages[0].content[0].source"),
    ("image_bad_source_type", lambda: _messages(
        {"role": "user", "content": [{"type": "image", "source": {"type": "ftp", "url": "x"}}]}),
     "messages[0].content[0].source.type"),
    ("image_base64_without_data", lambda: _messages(
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]}),
     "messages[0].content[0].source.data"),
    ("system_not_text", lambda: minimal(system=5), "system"),
    ("tool_without_name", lambda: minimal(tools=[{"input_schema": {"type": "object"}}]), "tools[0].name"),
    ("tool_choice_bad_type", lambda: minimal(tool_choice={"type": "required"}), "tool_choice.type"),
    ("tool_choice_tool_without_name", lambda: minimal(tool_choice={"type": "tool"}), "tool_choice.name"),
    ("tool_choice_not_object", lambda: minimal(tool_choice="auto"), "tool_choice"),
    ("thinking_enabled_without_budget", lambda: minimal(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    ("thinking_budget_below_1024", lambda: minimal(thinking={"type": "enabled", "budget_tokens": 1023}),
     "thinking.budget_tokens"),
    ("thinking_bad_type", lambda: minimal(thinking={"type": "on"}), "thinking.type"),
    ("bad_effort", lambda: minimal(output_config={"effort": "extreme"}), "output_config.effort"),
    ("bad_output_config_format", lambda: minimal(output_config={"format": {"type": "json_object"}}),
     "output_config.format.type"),
    ("bad_output_format", lambda: minimal(output_format={"type": "json_object"}), "output_format.type"),
    ("stop_sequences_not_strings", lambda: minimal(stop_sequences=["a", 1]), "stop_sequences"),
    ("metadata_user_id_not_string", lambda: minimal(metadata={"user_id": 5}), "metadata.user_id"),
    ("temperature_not_number", lambda: minimal(temperature="hot"), "temperature"),
    ("document_media_type_not_string", lambda: _messages({"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": ["text/plain"], "data": "x"}}]}),
     "messages[0].content[0].source.media_type"),
    ("disable_parallel_not_boolean", lambda: minimal(tool_choice={"type": "auto", "disable_parallel_tool_use": "yes"}),
     "tool_choice.disable_parallel_tool_use"),
]


@pytest.mark.parametrize(("body", "param"), [(b, p) for _, b, p in INVALID], ids=[c for c, _, _ in INVALID])
def test_validation_names_the_field(body: Callable[[], Any], param: str) -> None:
    with pytest.raises(ir.GatewayError) as info:
        read_all(decode(body()))
    error = info.value
    assert (error.status, error.kind, error.param) == (400, "invalid_request", param)
    assert error.message.startswith(param + ": ")


@pytest.mark.parametrize("beta", [b"caf\xe9", b"a\nb", b"\x00"])
def test_an_anthropic_beta_that_cannot_go_upstream_is_refused(beta: bytes) -> None:
    with pytest.raises(ir.GatewayError) as info:
        decode(minimal(), {b"anthropic-beta": beta})
    assert (info.value.status, info.value.param) == (400, "anthropic-beta")


def test_validation_error_renders_as_anthropic_400_body() -> None:
    with pytest.raises(ir.GatewayError) as info:
        decode(minimal(thinking={"type": "enabled", "budget_tokens": 100}))
    assert CODEC.status_of(info.value) == 400
    assert orjson.loads(CODEC.encode_error(info.value)) == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "thinking.budget_tokens: must be at least 1024"},
    }


# Request encoding from OpenAI Chat IR ------------------------------------------------------------


def chat_ir(**fields: Any) -> ir.ChatRequest:
    """IR as the OpenAI Chat codec builds it, for an Anthropic upstream to encode."""
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    body.update(fields)
    return decode_chat_request(body)


def encode(**fields: Any) -> dict[str, Any]:
    return encode_messages_request(chat_ir(**fields), MODEL)


TOOL_LOOP: list[dict[str, Any]] = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
    {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": FOREIGN_ID, "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": Rome"}},
    ]},
    {"role": "tool", "tool_call_id": FOREIGN_ID, "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": "12C"},
    {"role": "user", "content": "Thanks."},
    {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF_B64}", "filename": "r.pdf"}},
    ]},
]


def test_encode_minimal_defaults() -> None:
    """No max_tokens from the client means DEFAULT_MAX_TOKENS; nothing optional is invented but
    the automatic caching the client's own API would have done (`prompt_cache.py`)."""
    assert DEFAULT_MAX_TOKENS == 4096
    assert encode() == {"model": MODEL, "max_tokens": 4096, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}], "cache_control": {"type": "ephemeral"}}


def test_encode_tool_loop_turns() -> None:
    """System/developer hoisted; tool messages become one user turn, results first, then the user's content."""
    body = encode(messages=TOOL_LOOP, max_completion_tokens=300)
    assert body["max_tokens"] == 300
    assert body["system"] == [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Use metric."}]
    safe = safe_id(FOREIGN_ID)
    assert safe.startswith("b64_") and safe != FOREIGN_ID
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": safe, "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"_raw": "{\"city\": Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": safe, "content": [{"type": "text", "text": "18C"}]},
            {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "12C"}]},
            {"type": "text", "text": "Thanks."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}},
        ]},
    ]


def test_encode_foreign_ids_round_trip() -> None:
    """A foreign id sent to Anthropic as b64_... comes back as the id the client minted."""
    body = encode(messages=TOOL_LOOP)
    back = decode(body)
    calls = [p for m in back.messages for p in m.parts if isinstance(p, ir.ToolCall)]
    results = [p for m in back.messages for p in m.parts if isinstance(p, ir.ToolResult)]
    assert [c.id for c in calls] == [FOREIGN_ID, "call_2"]
    assert [r.call_id for r in results] == [FOREIGN_ID, "call_2"]
    assert original_id(safe_id(FOREIGN_ID)) == FOREIGN_ID


def test_encode_tool_results_move_before_user_content_in_the_same_turn() -> None:
    """A user message between tool messages still ends up after every tool_result."""
    body = encode(messages=[
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "f", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "a", "content": "A"},
        {"role": "user", "content": "between"},
        {"role": "tool", "tool_call_id": "b", "content": "B"},
    ])
    assistant, user = body["messages"][1:]
    assert [b["input"] for b in assistant["content"]] == [{}, {}]  # empty arguments are an empty object
    assert [b["type"] for b in user["content"]] == ["tool_result", "tool_result", "text"]
    assert [b.get("tool_use_id") for b in user["content"]] == ["a", "b", None]


def test_encode_merges_consecutive_same_role_turns() -> None:
    body = encode(messages=[
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "three"},
        {"role": "assistant", "content": "four"},
        {"role": "user", "content": "five"},
    ])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
        {"role": "user", "content": [{"type": "text", "text": "five"}]},
    ]


def test_encode_tool_error_result_and_non_object_arguments() -> None:
    """is_error is carried; JSON arguments that are not an object are wrapped under "value"."""
    req = chat_ir(messages=[
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]},
    ])
    req.messages.append(ir.Message("tool", [ir.ToolResult("a", [ir.Text("boom")], is_error=True)]))
    body = encode_messages_request(req, MODEL)
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "a", "name": "f", "input": {"value": [1, 2]}}]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "boom"}], "is_error": True}]


def test_encode_reasoning_only_with_an_anthropic_signature() -> None:
    """Reasoning text from elsewhere is dropped; LiteLLM-style thinking_blocks with a signature are kept."""
    body = encode(messages=[
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1", "reasoning_content": "foreign thoughts"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2", "thinking_blocks": [
            {"type": "thinking", "thinking": "mine", "signature": SIG},
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "thinking", "thinking": "unsigned"},
        ]},
        {"role": "user", "content": "q3"},
    ])
    assert body["messages"][1]["content"] == [{"type": "text", "text": "a1"}]
    assert body["messages"][3]["content"] == [
        {"type": "thinking", "thinking": "mine", "signature": SIG},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "text", "text": "a2"},
    ]


def test_encode_an_inline_text_file_as_a_text_document() -> None:
    """Claude reads a base64 document only as a PDF: a text file is its own source type."""
    def file_part(media_type: str, data: str) -> dict[str, Any]:
        return {"type": "file", "file": {"filename": "f", "file_data": f"data:{media_type};base64,{data}"}}
    body = encode(messages=[{"role": "user", "content": [
        file_part("text/plain", "SGVsbG8sIHdvcmxkLg=="), file_part("text/csv", "YSxiCjEsMgo="),
        file_part("application/pdf", "JVBERi0="), file_part("text/plain", "//79")]}])  # the last is not UTF-8
    assert [block["source"] for block in body["messages"][0]["content"]] == [
        {"type": "text", "media_type": "text/plain", "data": "Hello, world."},
        {"type": "text", "media_type": "text/plain", "data": "a,b\n1,2\n"},
        {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
        {"type": "base64", "media_type": "text/plain", "data": "//79"}]


def test_encode_reasoning_of_another_provider_is_dropped_even_with_a_signature() -> None:
    req = chat_ir()
    req.messages.insert(0, ir.Message("assistant", [
        ir.Reasoning(text="gemini thought", signature="c2lnbmF0dXJl", provider="gemini"), ir.Text("ok")]))
    assert encode_messages_request(req, MODEL)["messages"][0]["content"] == [{"type": "text", "text": "ok"}]


@pytest.mark.parametrize(("effort", "max_tokens", "budget", "sent_max"), [
    ("low", None, 1024, 4096),
    ("medium", None, 2048, 4096),
    ("high", None, 4096, 5120),
    ("low", 1500, 1024, 2048),
    ("medium", 3000, 2048, 3072),
    ("high", 20000, 4096, 20000),
    ("minimal", 100, 1024, 2048),
], ids=[
    "low_1024_default_max_kept",
    "medium_2048_default_max_kept",
    "high_4096_default_max_raised_to_budget_plus_1024",
    "low_small_max_raised",
    "medium_small_max_raised",
    "high_large_max_kept",
    "minimal_raised_to_anthropic_minimum",
])
def test_encode_reasoning_effort_to_thinking_budget(effort: str, max_tokens: int | None, budget: int,
                                                    sent_max: int) -> None:
    fields: dict[str, Any] = {"reasoning_effort": effort}
    if max_tokens is not None:
        fields["max_completion_tokens"] = max_tokens
    body = encode(**fields)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == sent_max
    assert body["thinking"]["budget_tokens"] < body["max_tokens"]


def test_encode_reasoning_effort_none_sends_no_thinking() -> None:
    body = encode(reasoning_effort="none", temperature=0.5)
    assert "thinking" not in body and body["temperature"] == 0.5


def test_encode_thinking_drops_temperature_and_top_k() -> None:
    req = chat_ir(reasoning_effort="medium", temperature=0.3, top_p=0.97)
    req.top_k = 40
    body = encode_messages_request(req, MODEL)
    assert "temperature" not in body and "top_k" not in body
    assert body["top_p"] == 0.97


def test_encode_reasoning_budget_is_used_as_given() -> None:
    req = chat_ir(max_completion_tokens=10000)
    req.reasoning_budget = 3000
    assert encode_messages_request(req, MODEL)["thinking"] == {"type": "enabled", "budget_tokens": 3000}


@pytest.mark.parametrize(("temperature", "sent"), [(1.7, 1.0), (2, 1.0), (1, 1), (0.3, 0.3), (0, 0)])
def test_encode_temperature_clamped_to_one(temperature: float, sent: float) -> None:
    assert encode(temperature=temperature)["temperature"] == sent


def test_encode_top_k_stop_stream_user() -> None:
    req = chat_ir(stop=["END"], stream=True, user="alice", seed=7, n=1)
    req.top_k = 5
    body = encode_messages_request(req, MODEL)
    assert body["top_k"] == 5
    assert body["stop_sequences"] == ["END"]
    assert body["stream"] is True
    assert body["metadata"] == {"user_id": "alice"}
    assert "seed" not in body and "n" not in body and "user" not in body


WEATHER_TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather", "parameters": WEATHER_SCHEMA, "strict": True}}
PING_TOOL: dict[str, Any] = {"type": "function", "function": {"name": "ping"}}


def test_encode_tools() -> None:
    """parameters become input_schema (an empty object schema when absent); strict is carried."""
    assert encode(tools=[WEATHER_TOOL, PING_TOOL])["tools"] == [
        {"name": "get_weather", "input_schema": WEATHER_SCHEMA, "description": "Current weather", "strict": True},
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
    ]


def test_encode_server_tool_is_sent_whole() -> None:
    req = chat_ir()
    req.tools = [ir.Tool("web_search", kind="server", extra=WEB_SEARCH)]
    assert encode_messages_request(req, MODEL)["tools"] == [WEB_SEARCH]


@pytest.mark.parametrize(("choice", "parallel", "sent"), [
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
    ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ({"type": "function", "function": {"name": "get_weather"}}, False,
     {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("none", False, {"type": "none"}),
    ("auto", True, {"type": "auto"}),
], ids=lambda v: str(v)[:40])
def test_encode_tool_choice(choice: Any, parallel: bool | None, sent: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"tools": [WEATHER_TOOL]}
    if choice is not None:
        fields["tool_choice"] = choice
    if parallel is not None:
        fields["parallel_tool_calls"] = parallel
    assert encode(**fields)["tool_choice"] == sent


def test_encode_no_tool_choice_when_unset() -> None:
    assert "tool_choice" not in encode(tools=[WEATHER_TOOL])


def test_encode_tool_choice_without_tools_only_none() -> None:
    """A choice other than none means nothing without tools, so it is left out."""
    assert "tool_choice" not in encode(tool_choice="required")
    assert encode(tool_choice="none")["tool_choice"] == {"type": "none"}


@pytest.mark.parametrize(("choice", "sent"), [
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "auto"}),
    ("required", {"type": "auto"}),
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
], ids=["named_becomes_auto", "required_becomes_auto", "auto_stays", "none_stays"])
def test_encode_thinking_allows_only_auto_or_none(choice: Any, sent: dict[str, Any]) -> None:
    body = encode(tools=[WEATHER_TOOL], tool_choice=choice, reasoning_effort="low")
    assert "thinking" in body
    assert body["tool_choice"] == sent


def test_encode_response_format_json_schema() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True}}
    body = encode(response_format=fmt)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}}
    assert "system" not in body


def test_encode_response_format_json_object_is_a_system_instruction() -> None:
    body = encode(messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
                  response_format={"type": "json_object"})
    assert body["system"] == [{"type": "text", "text": "Be terse."},
                              {"type": "text", "text": JSON_OBJECT_INSTRUCTION}]
    assert "output_config" not in body
    assert encode(response_format={"type": "json_object"})["system"] == [
        {"type": "text", "text": JSON_OBJECT_INSTRUCTION}]


def test_encode_response_format_text_sends_nothing() -> None:
    body = encode(response_format={"type": "text"})
    assert "output_config" not in body and "system" not in body


def test_encode_is_json_serialisable() -> None:
    body = encode(messages=TOOL_LOOP, tools=[WEATHER_TOOL], tool_choice="auto", reasoning_effort="high",
                  response_format={"type": "json_object"}, user="u", stream=True)
    assert orjson.loads(orjson.dumps(body)) == body


def test_anthropic_body_survives_decode_then_encode() -> None:
    """Anthropic -> IR -> Anthropic keeps blocks, cache_control, signatures, ids and file images."""
    body = minimal(
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "file", "file_id": "file_011"}},
                {"type": "document", "source": {"type": "file", "file_id": "file_022"}, "title": "T"},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": SIG},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "r"}]},
                {"type": "text", "text": "next"},
            ]},
        ],
        stop_sequences=["X"],
        metadata={"user_id": "u"},
    )
    assert encode_messages_request(decode(body), MODEL) == body  # re-encoded, as when it cannot pass through


# Responses ---------------------------------------------------------------------------------------

CITATION: dict[str, Any] = {"type": "char_location", "cited_text": "18C", "document_index": 0,
                            "document_title": "Report", "start_char_index": 0, "end_char_index": 3}
USAGE: dict[str, Any] = {"input_tokens": 12, "output_tokens": 40, "cache_creation_input_tokens": 30,
                         "cache_read_input_tokens": 100}


def full_response() -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [
            {"type": "thinking", "thinking": "Check the report.", "signature": SIG},
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "text", "text": "It is 18C.", "citations": [CITATION]},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Rome"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": dict(USAGE),
    }


def test_decode_response_into_ir() -> None:
    resp = decode_messages_response(full_response())
    assert resp.id == "msg_01XFDUDYJgAACzvnptvVoYEL" and resp.model == MODEL
    assert isinstance(resp.created, int) and resp.created > 0
    (choice,) = resp.choices
    assert choice.index == 0 and choice.finish_reason == "tool_calls" and choice.extra is None
    assert choice.message == ir.Message("assistant", [
        ir.Reasoning(text="Check the report.", signature=SIG, provider="anthropic", model=MODEL),
        ir.Reasoning(redacted=REDACTED, provider="anthropic", model=MODEL),
        ir.Text("It is 18C.", {"citations": [CITATION]}),
        ir.ToolCall("toolu_01", "get_weather", '{"city":"Rome"}'),
    ])
    assert resp.usage == ir.Usage(input_tokens=142, output_tokens=40, cache_read_tokens=100, cache_write_tokens=30)


def test_response_round_trip() -> None:
    """decode then encode gives back the body (usage as the four token counts)."""
    assert encode_messages_response(decode_messages_response(full_response())) == full_response()


SERVER_TOOL_USE = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}}


def test_decode_response_keeps_server_tool_blocks_opaque_and_drops_null_citations() -> None:
    body = {**full_response(), "content": [SERVER_TOOL_USE, {"type": "text", "text": "plain", "citations": None}],
            "stop_reason": "end_turn"}
    resp = decode_messages_response(body)
    assert resp.choices[0].message.parts == [ir.Opaque("anthropic", SERVER_TOOL_USE), ir.Text("plain")]
    assert encode_messages_response(resp)["content"] == [SERVER_TOOL_USE, {"type": "text", "text": "plain"}]


def test_blocks_only_anthropic_knows_survive_a_web_search_history() -> None:
    """A second web-search turn: its server blocks go back to Anthropic verbatim, nowhere else."""
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
        {"type": "web_search_result", "url": "https://example.com", "title": "t", "encrypted_content": "e"}]}
    body = minimal(messages=[{"role": "user", "content": "search"},
                             {"role": "assistant", "content": [SERVER_TOOL_USE, result, {"type": "text", "text": "x"}]},
                             {"role": "user", "content": "more"}])
    req = decode(body)
    assert req.messages[1].parts[:2] == [ir.Opaque("anthropic", SERVER_TOOL_USE), ir.Opaque("anthropic", result)]
    assert encode_messages_request(req, MODEL)["messages"][1]["content"][:2] == [SERVER_TOOL_USE, result]
    chat = openai_chat.encode_chat_request(req, "gpt-x")
    assert chat["messages"][1] == {"role": "assistant", "content": "x"}


@pytest.mark.parametrize(("wire", "neutral"), [
    ("end_turn", "stop"),
    ("stop_sequence", "stop_sequence"),
    ("max_tokens", "length"),
    ("tool_use", "tool_calls"),
    ("refusal", "content_filter"),
    ("pause_turn", "pause"),
    ("model_context_window_exceeded", "context_overflow"),
])
def test_stop_reason_in_and_out(wire: str, neutral: ir.FinishReason) -> None:
    body = {**full_response(), "content": [{"type": "text", "text": "x"}], "stop_reason": wire}
    resp = decode_messages_response(body)
    assert resp.choices[0].finish_reason == neutral
    assert encode_messages_response(resp)["stop_reason"] == wire


def test_stop_sequence_is_kept() -> None:
    body = {**full_response(), "content": [{"type": "text", "text": "x"}], "stop_reason": "stop_sequence",
            "stop_sequence": "END"}
    resp = decode_messages_response(body)
    assert resp.choices[0].extra == {"stop_sequence": "END"}
    out = encode_messages_response(resp)
    assert (out["stop_reason"], out["stop_sequence"]) == ("stop_sequence", "END")


def test_unknown_and_missing_stop_reason() -> None:
    unknown = decode_messages_response({**full_response(), "stop_reason": "compaction"})
    assert unknown.choices[0].finish_reason == "stop"
    missing = decode_messages_response({**full_response(), "stop_reason": None})
    assert missing.choices[0].finish_reason is None
    assert encode_messages_response(missing)["stop_reason"] == "end_turn"


@pytest.mark.parametrize(("neutral", "wire"), [
    ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal"),
    ("context_overflow", "model_context_window_exceeded"), ("pause", "pause_turn"), ("stop_sequence", "stop_sequence"),
])
def test_encode_response_from_foreign_ir(neutral: ir.FinishReason, wire: str) -> None:
    """An OpenAI-style response: ids made safe, foreign reasoning unsigned, refusal as text, msg_ id."""
    message = ir.Message("assistant", [
        ir.Reasoning(text="hmm"), ir.Text("hi"), ir.Refusal("no"),
        ir.ToolCall(FOREIGN_ID, "f", "{\"a\": 1}"),
    ])
    resp = ir.ChatResponse("chatcmpl-9", "gpt-4o", 1, [ir.Choice(0, message, neutral)],
                           ir.Usage(input_tokens=50, output_tokens=7, cache_read_tokens=20))
    out = encode_messages_response(resp)
    assert out["id"] == "msg_chatcmpl-9"
    assert out["stop_reason"] == wire
    assert out["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": ""},
        {"type": "text", "text": "hi"},
        {"type": "text", "text": "no"},
        {"type": "tool_use", "id": safe_id(FOREIGN_ID), "name": "f", "input": {"a": 1}},
    ]
    assert out["usage"] == {"input_tokens": 30, "output_tokens": 7, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 20}


def test_encode_response_without_choices_or_usage() -> None:
    out = encode_messages_response(ir.ChatResponse("", "m", 1, []))
    assert out["id"].startswith("msg_") and len(out["id"]) > 4
    assert (out["content"], out["stop_reason"]) == ([], "end_turn")
    assert out["usage"] == {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0}


def test_usage_input_excludes_cache_on_the_wire() -> None:
    """decode adds cache reads and writes into IR input; encode subtracts them again."""
    usage = decode_usage(USAGE)
    assert usage == ir.Usage(input_tokens=142, output_tokens=40, cache_read_tokens=100, cache_write_tokens=30)
    assert encode_usage(usage) == USAGE  # type: ignore[arg-type]


def test_usage_details_and_missing_fields() -> None:
    assert decode_usage({"input_tokens": 5, "output_tokens": 9, "cache_read_input_tokens": None,
                         "output_tokens_details": {"thinking_tokens": 4}}) == ir.Usage(5, 9, reasoning_tokens=4)
    assert decode_usage(None) is None
    assert encode_usage(ir.Usage(input_tokens=3, cache_read_tokens=10))["input_tokens"] == 0  # never negative
    assert CODEC.usage_of({"usage": USAGE}) == decode_usage(USAGE)
    assert CODEC.usage_of([]) is None


# Streams -----------------------------------------------------------------------------------------


def sse(events: list[tuple[str, dict[str, Any]]], sep: bytes = b"\n") -> bytes:
    """Frame (event, payload) pairs as Anthropic does; `sep` is the line terminator."""
    return b"".join(b"event: " + name.encode() + sep + b"data: " + orjson.dumps(payload) + sep + sep
                    for name, payload in events)


def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def _stop(index: int) -> tuple[str, dict[str, Any]]:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


STREAM_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 100}}}),
    _start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    ("ping", {"type": "ping"}),
    _delta(0, {"type": "thinking_delta", "thinking": "Let me think"}),
    _delta(0, {"type": "thinking_delta", "thinking": " about it."}),
    _delta(0, {"type": "signature_delta", "signature": SIG}),
    _stop(0),
    _start(1, {"type": "text", "text": ""}),
    _delta(1, {"type": "text_delta", "text": "Hi"}),
    _delta(1, {"type": "text_delta", "text": " there."}),
    _stop(1),
    _start(2, {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}),
    _delta(2, {"type": "input_json_delta", "partial_json": ""}),
    _delta(2, {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}),
    _delta(2, {"type": "input_json_delta", "partial_json": "ris\"}"}),
    _stop(2),
    _start(3, {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}}),
    _delta(3, {"type": "input_json_delta", "partial_json": "{\"tz\":\"CET\"}"}),
    _stop(3),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                       "usage": {"input_tokens": 25, "cache_read_input_tokens": 100, "output_tokens": 89}}),
    ("message_stop", {"type": "message_stop"}),
]
STREAM = sse(STREAM_EVENTS)

EXPECTED_EVENTS: list[ir.StreamEvent] = [
    ir.StreamStart("msg_01", MODEL, 0),
    ir.ReasoningDelta("Let me think"),
    ir.ReasoningDelta(" about it."),
    ir.ReasoningDelta(signature=SIG),
    ir.TextDelta("Hi"),
    ir.TextDelta(" there."),
    ir.ToolCallDelta(0, "", id="toolu_01", name="get_weather"),
    ir.ToolCallDelta(0, ""),
    ir.ToolCallDelta(0, "{\"city\": \"Pa"),
    ir.ToolCallDelta(0, "ris\"}"),
    ir.ToolCallDelta(1, "", id="toolu_02", name="get_time"),
    ir.ToolCallDelta(1, "{\"tz\":\"CET\"}"),
    ir.Finish("tool_calls"),
    ir.UsageReport(ir.Usage(input_tokens=125, output_tokens=89, cache_read_tokens=100)),
]


def decode_stream(data: bytes, sizes: list[int] | None = None) -> list[ir.StreamEvent]:
    return no_clock(decode_in_pieces(MessagesStreamDecoder(), data, sizes))


@pytest.mark.parametrize("sizes", [None, [1], [2, 7, 3], [64], [5, 200, 1]], ids=str)
def test_stream_decoder_any_split(sizes: list[int] | None) -> None:
    """Whole, byte by byte, or ragged: the same events come out."""
    assert decode_stream(STREAM, sizes) == EXPECTED_EVENTS


@pytest.mark.parametrize("sizes", [None, [1], [3, 11]], ids=str)
def test_stream_decoder_crlf_separators(sizes: list[int] | None) -> None:
    assert decode_stream(sse(STREAM_EVENTS, b"\r\n"), sizes) == EXPECTED_EVENTS


def test_stream_decoder_created_is_a_timestamp() -> None:
    start = MessagesStreamDecoder().feed(STREAM)[0]
    assert isinstance(start, ir.StreamStart) and start.created > 1_600_000_000


def test_stream_decoder_tool_arguments_concatenate_to_the_input() -> None:
    args = ["", ""]
    for event in EXPECTED_EVENTS:
        if isinstance(event, ir.ToolCallDelta):
            args[event.index] += event.arguments
    assert [orjson.loads(a) for a in args] == [{"city": "Paris"}, {"tz": "CET"}]


def test_stream_decoder_redacted_thinking_text_in_start_and_stop_sequence() -> None:
    events = decode_stream(sse([
        STREAM_EVENTS[0],
        _start(0, {"type": "redacted_thinking", "data": REDACTED}),
        _stop(0),
        _start(1, {"type": "text", "text": "pre"}),
        _delta(1, {"type": "citations_delta", "citation": CITATION}),
        _stop(1),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
                           "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"}),
    ]))
    assert events[1:] == [
        ir.ReasoningDelta(redacted=REDACTED),
        ir.TextDelta("pre"),
        ir.Finish("stop_sequence", stop_sequence="END"),
        ir.UsageReport(ir.Usage(input_tokens=125, output_tokens=3, cache_read_tokens=100)),
    ]


def test_stream_decoder_events_arrive_as_soon_as_complete() -> None:
    decoder = MessagesStreamDecoder()
    first = sse(STREAM_EVENTS[:1])
    assert decoder.feed(first[:-1]) == []
    assert no_clock(decoder.feed(first[-1:])) == EXPECTED_EVENTS[:1]


OVERLOADED = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def test_stream_decoder_overloaded_error_raises_529() -> None:
    """`event: error` after some content is a GatewayError with the status the type implies."""
    decoder = MessagesStreamDecoder()
    assert no_clock(decoder.feed(sse(STREAM_EVENTS[:1]))) == EXPECTED_EVENTS[:1]
    with pytest.raises(ir.GatewayError) as info:
        for byte in sse([OVERLOADED]):
            decoder.feed(bytes([byte]))
    error = info.value
    assert (error.status, error.kind, error.retryable, error.message) == (529, "overloaded", True, "Overloaded")


@pytest.mark.parametrize(("type_", "status", "kind", "retryable"), [
    ("overloaded_error", 529, "overloaded", True),
    ("api_error", 502, "upstream", True),
    ("rate_limit_error", 429, "rate_limit", True),
    ("invalid_request_error", 400, "invalid_request", False),
    ("timeout_error", 504, "timeout", True),
    ("something_new", 502, "upstream", True),
])
def test_stream_decoder_error_status_follows_its_type(type_: str, status: int, kind: str, retryable: bool) -> None:
    frame = sse([("error", {"type": "error", "error": {"type": type_, "message": "m"}})])
    with pytest.raises(ir.GatewayError) as info:
        MessagesStreamDecoder().feed(frame)
    assert (info.value.status, info.value.kind, info.value.retryable) == (status, kind, retryable)


# IR events as the OpenAI Chat decoder produces them, to be sent to an Anthropic client.
OPENAI_STYLE: list[ir.StreamEvent] = [
    ir.StreamStart("chatcmpl-1", "gpt-4o", 1_700_000_000),
    ir.ReasoningDelta("Thinking"),
    ir.ReasoningDelta(" hard"),
    ir.TextDelta("Let me "),
    ir.TextDelta("check."),
    ir.ToolCallDelta(0, "", id="call_a", name="get_weather"),
    ir.ToolCallDelta(0, "{\"city\":"),
    ir.ToolCallDelta(0, "\"Paris\"}"),
    ir.ToolCallDelta(1, "", id=FOREIGN_ID, name="get_time"),
    ir.ToolCallDelta(1, "{\"tz\":"),
    ir.ToolCallDelta(1, "\"CET\"}"),
    ir.Finish("tool_calls"),
    ir.UsageReport(ir.Usage(input_tokens=50, output_tokens=20, cache_read_tokens=10, reasoning_tokens=5)),
]


def encode_stream(events: list[ir.StreamEvent]) -> bytes:
    encoder = MessagesStreamEncoder()
    return b"".join(encoder.encode(e) for e in events) + encoder.end()


def frames(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) of each frame; every frame must be named by its payload's type."""
    out: list[tuple[str, dict[str, Any]]] = []
    for frame in sse_events(data):
        payload = frame.json()
        assert frame.name == payload["type"]
        out.append((payload["type"], payload))
    return out


def test_stream_encoder_frames() -> None:
    """message_start first; blocks with increasing index, each closed before the next; message_stop last."""
    out = frames(encode_stream(OPENAI_STYLE))
    assert [name for name, _ in out] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]
    message = out[0][1]["message"]
    assert message["id"] == "msg_chatcmpl-1" and message["model"] == "gpt-4o"
    assert (message["role"], message["content"], message["stop_reason"]) == ("assistant", [], None)
    assert message["usage"]["output_tokens"] == 0

    starts = [p for n, p in out if n == "content_block_start"]
    assert [p["index"] for p in starts] == [0, 1, 2, 3]
    assert [p["content_block"] for p in starts] == [
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}},
        {"type": "tool_use", "id": safe_id(FOREIGN_ID), "name": "get_time", "input": {}},
    ]
    open_index: int | None = None
    for name, payload in out:
        if name == "content_block_start":
            assert open_index is None
            open_index = payload["index"]
        elif name == "content_block_delta":
            assert payload["index"] == open_index
        elif name == "content_block_stop":
            assert payload["index"] == open_index
            open_index = None
    assert open_index is None

    deltas = [p["delta"] for n, p in out if n == "content_block_delta"]
    assert deltas == [
        {"type": "thinking_delta", "thinking": "Thinking"},
        {"type": "thinking_delta", "thinking": " hard"},
        {"type": "text_delta", "text": "Let me "},
        {"type": "text_delta", "text": "check."},
        {"type": "input_json_delta", "partial_json": "{\"city\":"},
        {"type": "input_json_delta", "partial_json": "\"Paris\"}"},
        {"type": "input_json_delta", "partial_json": "{\"tz\":"},
        {"type": "input_json_delta", "partial_json": "\"CET\"}"},
    ]
    assert out[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                          "usage": {"input_tokens": 40, "output_tokens": 20, "cache_creation_input_tokens": 0,
                                    "cache_read_input_tokens": 10}}
    assert out[-1][1] == {"type": "message_stop"}


def test_stream_encoder_output_decodes_to_equivalent_events() -> None:
    """Encoder output through the decoder: same content; ids safe on the wire, original after original_id."""
    decoded = decode_stream(encode_stream(OPENAI_STYLE), [1])
    restored = [dataclasses.replace(e, id=original_id(e.id)) if isinstance(e, ir.ToolCallDelta) and e.id else e
                for e in decoded]
    assert restored == [
        ir.StreamStart("msg_chatcmpl-1", "gpt-4o", 0),
        *OPENAI_STYLE[1:11],
        ir.Finish("tool_calls"),
        ir.UsageReport(ir.Usage(input_tokens=50, output_tokens=20, cache_read_tokens=10)),
    ]


def test_stream_encoder_round_trips_anthropic_stream_without_opaque_state() -> None:
    """Anthropic SSE -> IR -> Anthropic SSE -> IR keeps the content; the encoder only ever serves
    non-Anthropic upstreams, so signatures and redacted thinking (foreign there) stay out."""
    assert decode_stream(encode_stream(EXPECTED_EVENTS)) == [
        e for e in EXPECTED_EVENTS
        if not (isinstance(e, ir.ToolCallDelta) and not e.arguments and e.id is None)
        and not (isinstance(e, ir.ReasoningDelta) and not e.text)]


def test_stream_encoder_never_sends_foreign_signatures() -> None:
    out = frames(encode_stream([
        ir.ReasoningDelta("t"), ir.ReasoningDelta(signature=SIG), ir.ReasoningDelta(redacted=REDACTED),
        ir.TextDelta("x"), ir.Finish("stop"),
    ]))
    assert [(n, p.get("index"), p.get("delta") or p.get("content_block")) for n, p in out[1:-2]] == [
        ("content_block_start", 0, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "t"}),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, {"type": "text", "text": ""}),
        ("content_block_delta", 1, {"type": "text_delta", "text": "x"}),
        ("content_block_stop", 1, None),
    ]
    assert out[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}


def test_stream_encoder_writes_state_labelled_for_its_slot() -> None:
    """State the gateway sealed for an Anthropic client (`providers/slots.py`) is a signature_delta
    that ends its thinking block; redacted state labelled Anthropic's is a redacted block."""
    out = frames(encode_stream([
        ir.ReasoningDelta("t"), ir.ReasoningDelta(signature="sealed", provider="anthropic"),
        ir.ReasoningDelta(signature="alone", provider="anthropic"),
        ir.ReasoningDelta(redacted=REDACTED, provider="anthropic"), ir.Finish("stop"),
    ]))
    assert [(n, p.get("index"), p.get("delta") or p.get("content_block")) for n, p in out[1:-2]] == [
        ("content_block_start", 0, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "t"}),
        ("content_block_delta", 0, {"type": "signature_delta", "signature": "sealed"}),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 1, {"type": "signature_delta", "signature": "alone"}),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, {"type": "redacted_thinking", "data": REDACTED}),
        ("content_block_stop", 2, None),
    ]


def test_stream_encoder_repeated_tool_id_stays_one_block() -> None:
    """Upstreams that repeat the call id on every fragment still give one tool_use block."""
    out = frames(encode_stream([
        ir.ToolCallDelta(0, "", id="call_a", name="f"),
        ir.ToolCallDelta(0, "{\"a\"", id="call_a"),
        ir.ToolCallDelta(0, ":1}", id="call_a"),
        ir.Finish("tool_calls"),
    ]))
    names = [n for n, _ in out]
    assert names.count("content_block_start") == 1 and names.count("content_block_stop") == 1
    assert [p["delta"]["partial_json"] for n, p in out if n == "content_block_delta"] == ["{\"a\"", ":1}"]


def test_stream_encoder_finish_reasons_and_stop_sequence() -> None:
    out = frames(encode_stream([ir.TextDelta("x"), ir.Finish("stop_sequence", stop_sequence="END")]))
    assert out[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    out = frames(encode_stream([ir.TextDelta("x"), ir.Finish("length")]))
    assert out[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_stream_encoder_empty_stream_is_still_well_formed() -> None:
    out = frames(encode_stream([]))
    assert [n for n, _ in out] == ["message_start", "message_delta", "message_stop"]
    assert out[1][1]["delta"]["stop_reason"] == "end_turn"


def test_stream_encoder_ignores_other_choices_and_empty_text() -> None:
    encoder = MessagesStreamEncoder()
    assert encoder.encode(ir.TextDelta("other", choice=1)) == b""
    assert encoder.encode(ir.ToolCallDelta(0, "{}", id="c", name="f", choice=2)) == b""
    assert encoder.encode(ir.Finish("length", choice=1)) == b""
    assert encoder.encode(ir.ReasoningDelta("r", choice=1)) == b""
    out = frames(encoder.encode(ir.TextDelta("")) + encoder.encode(ir.TextDelta("mine")) + encoder.end())
    assert [p["delta"]["text"] for n, p in out if n == "content_block_delta"] == ["mine"]
    assert out[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_stream_encoder_refusal_is_text() -> None:
    out = frames(encode_stream([ir.RefusalDelta("I can't."), ir.Finish("content_filter")]))
    assert out[2][1]["delta"] == {"type": "text_delta", "text": "I can't."}
    assert out[-2][1]["delta"]["stop_reason"] == "refusal"


def test_stream_encoder_error_and_ping() -> None:
    encoder = MessagesStreamEncoder()
    data = encoder.error(ir.GatewayError("overloaded", "Overloaded"))
    assert frames(data) == [("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                  "message": "Overloaded"}})]
    assert encoder.ping() == PING
    assert frames(PING) == [("ping", {"type": "ping"})]
    assert CODEC.stream_encoder(None).ping().startswith(b"event: ping\n")
    with pytest.raises(ir.GatewayError) as info:
        MessagesStreamDecoder().feed(data)
    assert info.value.status == 529


# Passthrough -------------------------------------------------------------------------------------


def passthrough_all(data: bytes, sizes: list[int] | None = None) -> tuple[bytes, MessagesPassthrough]:
    passthrough = MessagesPassthrough()
    return forward_in_pieces(passthrough, data, sizes), passthrough


@pytest.mark.parametrize("sizes", [None, [1], [9, 4], [100, 3, 1000]], ids=str)
def test_passthrough_bytes_unchanged(sizes: list[int] | None) -> None:
    out, passthrough = passthrough_all(STREAM, sizes)
    assert out == STREAM
    assert passthrough.events == len(STREAM_EVENTS)


@pytest.mark.parametrize("sizes", [None, [1], [7]], ids=str)
def test_passthrough_crlf_unchanged(sizes: list[int] | None) -> None:
    data = sse(STREAM_EVENTS, b"\r\n")
    assert passthrough_all(data, sizes)[0] == data


def test_passthrough_usage_from_start_and_cumulative_delta() -> None:
    """message_start gives input and cache counts; message_delta's cumulative counts overwrite them."""
    start = ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "usage": {"input_tokens": 25, "output_tokens": 1, "cache_creation_input_tokens": 40,
                  "cache_read_input_tokens": 100}}})
    passthrough = MessagesPassthrough()
    passthrough.feed(sse([start]))
    assert passthrough.usage == ir.Usage(input_tokens=165, output_tokens=1, cache_read_tokens=100,
                                         cache_write_tokens=40)
    text = sse([_start(0, {"type": "text", "text": ""}), _delta(0, {"type": "text_delta", "text": "x"}), _stop(0)])
    passthrough.feed(text)
    assert passthrough.usage is not None and passthrough.usage.output_tokens == 1
    passthrough.feed(sse([("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                             "usage": {"output_tokens": 60, "cache_read_input_tokens": 120,
                                                       "input_tokens": None}})]))
    assert passthrough.usage == ir.Usage(input_tokens=185, output_tokens=60, cache_read_tokens=120,
                                         cache_write_tokens=40)
    assert passthrough.events == 5


def test_passthrough_usage_of_the_full_stream() -> None:
    _, passthrough = passthrough_all(STREAM, [1])
    assert passthrough.usage == ir.Usage(input_tokens=125, output_tokens=89, cache_read_tokens=100)


def test_passthrough_ignores_event_names_inside_text() -> None:
    """A text delta that mentions message_delta is not mistaken for one."""
    passthrough = MessagesPassthrough()
    passthrough.feed(sse(STREAM_EVENTS[:1]))
    passthrough.feed(sse([_delta(0, {"type": "text_delta", "text": "\"message_delta\" usage output_tokens 999"})]))
    assert passthrough.usage is not None and passthrough.usage.output_tokens == 1


def test_codec_passthrough_and_decoder_factories() -> None:
    assert isinstance(CODEC.passthrough(None), MessagesPassthrough)
    assert isinstance(CODEC.stream_decoder(), MessagesStreamDecoder)
    assert isinstance(CODEC.stream_encoder(None), MessagesStreamEncoder)
    assert CODEC.stream_encoder(None).media_type == "text/event-stream"


# Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "type_"), [
    (ir.invalid("messages[0].content", "is required"), "invalid_request_error"),
    (ir.GatewayError("authentication", "bad key"), "authentication_error"),
    (ir.GatewayError("permission", "no"), "permission_error"),
    (ir.GatewayError("not_found", "no such model"), "not_found_error"),
    (ir.GatewayError("too_large", "too big"), "request_too_large"),
    (ir.GatewayError("rate_limit", "slow down"), "rate_limit_error"),
    (ir.GatewayError("timeout", "too slow"), "timeout_error"),
    (ir.GatewayError("overloaded", "busy"), "overloaded_error"),
    (ir.GatewayError("internal", "bug"), "api_error"),
    (ir.GatewayError("upstream", "bad gateway"), "api_error"),
    (ir.GatewayError("unavailable", "down"), "api_error"),
], ids=lambda v: v if isinstance(v, str) else v.kind)
def test_encode_error_shape(error: ir.GatewayError, type_: str) -> None:
    body = orjson.loads(encode_error_body(error))
    assert body == {"type": "error", "error": {"type": type_, "message": error.message}}
    assert CODEC.encode_error(error) == encode_error_body(error)
    assert CODEC.status_of(error) == error.status


def test_decode_error_overloaded_body() -> None:
    body = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                         "request_id": "req_1"})
    error = CODEC.decode_error(529, body)
    assert (error.status, error.kind, error.retryable, error.message) == (529, "overloaded", True, "Overloaded")
    assert CODEC.decode_error(500, body).status == 529  # the type wins over a generic 5xx


@pytest.mark.parametrize(("status", "type_", "gateway", "kind", "retryable"), [
    (400, "invalid_request_error", 400, "invalid_request", False),
    (401, "authentication_error", 401, "authentication", False),
    (403, "permission_error", 403, "permission", False),
    (404, "not_found_error", 404, "not_found", False),
    (413, "request_too_large", 413, "too_large", False),
    (429, "rate_limit_error", 429, "rate_limit", True),
    (500, "api_error", 502, "upstream", True),
    (504, "timeout_error", 504, "timeout", True),
])
def test_decode_error_anthropic_bodies(status: int, type_: str, gateway: int, kind: str, retryable: bool) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": type_, "message": "why"}})
    error = CODEC.decode_error(status, body)
    assert (error.status, error.kind, error.retryable, error.message) == (gateway, kind, retryable, "why")


def test_decode_error_non_json_and_odd_bodies() -> None:
    error = CODEC.decode_error(502, b"<html>\n<h1>Bad Gateway</h1>\n</html>\n")
    assert (error.status, error.kind, error.retryable) == (502, "upstream", True)
    assert error.message == "<html>\n<h1>Bad Gateway</h1>\n</html>"
    assert CODEC.decode_error(503, b"").message == "upstream answered 503"
    assert CODEC.decode_error(400, b'{"message":"no error object"}').message == "upstream answered 400"
    assert CODEC.decode_error(400, b'{"error":{"type":"invalid_request_error"}}').message == "invalid_request_error"


# Routing and other results ------------------------------------------------------------------------

VERSION = {b"anthropic-version": b"2023-06-01"}


@pytest.mark.parametrize(("method", "path", "headers", "route"), [
    ("POST", "/v1/messages", {}, Route(ops.CHAT, {})),
    ("POST", "/v1/messages/count_tokens", {}, Route(ops.COUNT_TOKENS, {})),
    ("GET", "/v1/messages", {}, None),
    ("GET", "/v1/messages/count_tokens", VERSION, None),
    ("PUT", "/v1/messages", VERSION, None),
    ("POST", "/v1/messages/batches", VERSION, Route(ops.BATCHES_CREATE, {})),
    ("GET", "/v1/messages/batches/b1/results", {}, Route(ops.BATCHES_RESULTS, {"id": "b1"})),
    ("DELETE", "/v1/messages/batches/b1", VERSION, Route(ops.BATCHES_DELETE, {"id": "b1"})),
    ("PUT", "/v1/messages/batches", VERSION, None),
    ("GET", "/v1/messages/batchesXYZ", VERSION, None),
    ("POST", "/v1/files", VERSION, Route(ops.FILES_CREATE, {})),
    ("GET", "/v1/files/f1/content", VERSION, Route(ops.FILES_CONTENT, {"id": "f1"})),
    ("POST", "/v1/files", {}, None),  # OpenAI's: no anthropic-version
    ("GET", "/v1/filesXYZ", VERSION, None),
    ("POST", "/v1/chat/completions", VERSION, None),
    ("GET", "/v1/models", VERSION, Route(ops.MODELS_LIST, {})),
    ("GET", "/v1/models/", VERSION, Route(ops.MODELS_LIST, {})),
    ("GET", "/v1/models/claude-sonnet-4-5", VERSION, Route(ops.MODELS_GET, {"model": "claude-sonnet-4-5"})),
    ("GET", "/v1/models", {}, None),
    ("GET", "/v1/models/claude-sonnet-4-5", {}, None),
    ("POST", "/v1/models", VERSION, None),
    ("GET", "/v1/modelsXYZ", VERSION, None),
], ids=lambda v: v if isinstance(v, str) else None)
def test_match(method: str, path: str, headers: dict[bytes, bytes], route: Route | None) -> None:
    assert CODEC.match(method, path, headers, b"") == route
    assert CODEC.match(method, path, headers, b"beta=true") == route  # the SDK's beta namespace adds a query


def test_encode_result_token_count_and_models() -> None:
    assert orjson.loads(CODEC.encode_result(ir.TokenCount(42), None)) == {"input_tokens": 42}
    listing = orjson.loads(CODEC.encode_result(ModelList([ModelCard("a", "x", 0), ModelCard("b", "y", 86400)]), None))
    assert listing == {
        "data": [
            {"type": "model", "id": "a", "display_name": "a", "created_at": "1970-01-01T00:00:00Z"},
            {"type": "model", "id": "b", "display_name": "b", "created_at": "1970-01-02T00:00:00Z"},
        ],
        "has_more": False, "first_id": "a", "last_id": "b",
    }
    assert orjson.loads(CODEC.encode_result(ModelList([]), None)) == {
        "data": [], "has_more": False, "first_id": None, "last_id": None}
    assert orjson.loads(CODEC.encode_result(ModelCard("a", "x"), None))["id"] == "a"
    with pytest.raises(TypeError):
        CODEC.encode_result(object(), None)


def test_codec_request_and_response_entry_points() -> None:
    req = CODEC.decode_request(ops.CHAT, minimal(), NO_HEADERS, {})
    assert isinstance(req, ir.ChatRequest) and req.max_tokens == 1024
    req.dialect = "openai"
    assert CODEC.encode_request(req, "claude-x")["model"] == "claude-x"
    assert CODEC.decode_response(full_response()).choices[0].finish_reason == "tool_calls"
    assert orjson.loads(CODEC.encode_result(decode_messages_response(full_response()), None)) == full_response()


def test_an_allowed_tools_subset_becomes_a_shorter_tools_list() -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in "abc"]
    req = decode_chat_request({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools,
                               "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [
                                   {"type": "function", "function": {"name": "a"}},
                                   {"type": "function", "function": {"name": "c"}}]}}})
    body = encode_messages_request(req, MODEL)
    assert [t["name"] for t in body["tools"]] == ["a", "c"] and body["tool_choice"] == {"type": "auto"}
