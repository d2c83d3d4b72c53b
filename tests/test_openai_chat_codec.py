"""Unit tests of the OpenAI Chat Completions codec (OpenAI's Chat Completions API reference); no network,
no I/O."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects.openai_chat import (
    CODEC,
    ChatPassthrough,
    ChatStreamDecoder,
    ChatStreamEncoder,
    decode_chat_response,
    decode_usage,
    encode_chat_response,
)
from interlingua.adapters.dialects.openai_chat_request import (
    decode_chat_request,
    encode_chat_request,
)
from tests.support import decode_in_pieces, forward_in_pieces, read_all, sse_data

# Fixtures ----------------------------------------------------------------------------------------

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAE="
PDF_B64 = "JVBERi0xLjQK"
WAV_B64 = "UklGRiQAAABXQVZF"

WEATHER_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
SQL_FORMAT: dict[str, Any] = {"type": "grammar", "grammar": {"definition": "start: /SELECT .+/", "syntax": "lark"}}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}

# Fields of section 1.1 the IR has no neutral slot for, plus one nobody has heard of.
EXTRA_FIELDS: dict[str, Any] = {
    "frequency_penalty": 0.5,
    "presence_penalty": -0.25,
    "logit_bias": {"50256": -100},
    "safety_identifier": "user-hash-1",
    "prompt_cache_key": "cache-key-1",
    "prompt_cache_retention": "24h",
    "store": False,
    "service_tier": "flex",
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "wav"},
    "prediction": {"type": "content", "content": "draft"},
    "web_search_options": {"search_context_size": "low"},
    "x_vendor_knob": {"nested": [1, 2, 3]},
}


def full_request() -> dict[str, Any]:
    """A Chat Completions body using every modern field of section 1.1 (legacy fields tested apart)."""
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Be terse."},
            {"role": "system", "name": "ops", "content": [
                {"type": "text", "text": "Rule one."},
                {"type": "text", "text": "Rule two."},
            ]},
            {"role": "user", "name": "alice", "content": [
                {"type": "text", "text": "What is in these, and what is the weather?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
                {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF_B64}",
                                          "filename": "report.pdf"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "custom", "custom": {"name": "run_sql", "input": "SELECT 1"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [
                {"type": "text", "text": "1 row"},
                {"type": "text", "text": "(1)"},
            ]},
            {"role": "assistant", "content": "It is 18C in Paris.", "x_trace": "t-1"},
            {"role": "user", "content": [
                {"type": "text", "text": "Thanks. Now answer as JSON.",
                 "prompt_cache_breakpoint": {"mode": "explicit"}},
            ]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 512,
        "temperature": 0.7,
        "top_p": 0.9,
        "stop": ["END", "STOP"],
        "n": 2,
        "seed": 42,
        "logprobs": True,
        "top_logprobs": 3,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                              "parameters": WEATHER_PARAMS, "strict": True}},
            {"type": "custom", "custom": {"name": "run_sql", "description": "Run SQL", "format": SQL_FORMAT}},
        ],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "custom", "custom": {"name": "run_sql"}},
        ]}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "description": "The answer", "schema": ANSWER_SCHEMA, "strict": True}},
        "reasoning_effort": "low",
        "verbosity": "high",
        "user": "alice@example.com",
        "metadata": {"team": "search", "ticket": "T-1"},
        **copy.deepcopy(EXTRA_FIELDS),
    }


def minimal_request(**fields: Any) -> dict[str, Any]:
    """The smallest valid body, with `fields` set on top."""
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **fields}


def normalised(body: dict[str, Any], model: str) -> dict[str, Any]:
    """What encode(decode(body)) documents to send: the model swapped, one-text-part arrays as strings,
    stream asking for usage."""
    out = copy.deepcopy(body)
    out["model"] = model
    for message in out["messages"]:
        content = message.get("content")
        if (isinstance(content, list) and len(content) == 1 and content[0].get("type") == "text"
                and set(content[0]) == {"type", "text"}):
            message["content"] = content[0]["text"]
    if out.get("stream"):
        out["stream_options"] = {**out.get("stream_options", {}), "include_usage": True}
    return out


# Request decoding --------------------------------------------------------------------------------


def test_decode_full_request_top_level_fields() -> None:
    """Every scalar of section 1.1 lands in its IR slot; the body is kept as `native`."""
    body = full_request()
    req = decode_chat_request(body)
    assert req.model == "gpt-4o"
    assert req.dialect == CODEC.name == "openai"
    assert req.native is body
    assert req.stream is True and req.stream_usage is True
    assert req.max_tokens == 512
    assert req.temperature == 0.7 and req.top_p == 0.9
    assert req.stop == ["END", "STOP"]
    assert req.n == 2 and req.seed == 42
    assert req.logprobs is True and req.top_logprobs == 3
    assert req.parallel_tool_calls is False
    assert req.reasoning_effort == "low"
    assert req.verbosity == "high"
    assert req.user == "alice@example.com"
    assert req.metadata == {"team": "search", "ticket": "T-1"}
    assert req.top_k is None and req.reasoning_budget is None
    assert (req.presence_penalty, req.frequency_penalty) == (-0.25, 0.5)


def test_decode_unknown_top_level_fields_land_in_extra() -> None:
    """Fields with no neutral slot are kept verbatim, and nothing else is."""
    neutral = ("frequency_penalty", "presence_penalty", "web_search_options")  # the last a hosted tool
    assert decode_chat_request(full_request()).extra == {k: v for k, v in EXTRA_FIELDS.items() if k not in neutral}


def test_decode_does_not_mutate_body() -> None:
    body = full_request()
    decode_chat_request(body)
    assert body == full_request()


def test_decode_messages() -> None:
    """Each role and content part type maps to its IR message and part."""
    msgs = decode_chat_request(full_request()).messages
    assert [m.role for m in msgs] == ["developer", "system", "user", "assistant", "tool", "tool", "assistant", "user"]

    assert msgs[0].parts == [ir.Text("Be terse.")]
    assert msgs[1].name == "ops"
    assert msgs[1].parts == [ir.Text("Rule one."), ir.Text("Rule two.")]

    user = msgs[2]
    assert user.name == "alice"
    text, inline, remote, audio, file = user.parts
    assert text == ir.Text("What is in these, and what is the weather?")
    assert inline == ir.Image(data=PNG_B64, media_type="image/png", detail="high")
    assert remote == ir.Image(url="https://example.com/cat.jpg", detail="low")
    assert audio == ir.Audio(data=WAV_B64, format="wav")
    assert file == ir.File(data=PDF_B64, media_type="application/pdf", filename="report.pdf")

    calls = msgs[3].parts
    assert calls == [
        ir.ToolCall(id="call_1", name="get_weather", arguments="{\"city\":\"Paris\"}"),
        ir.ToolCall(id="call_2", name="run_sql", arguments="SELECT 1", kind="custom"),
    ]

    (result1,) = msgs[4].parts
    assert isinstance(result1, ir.ToolResult)
    assert result1.call_id == "call_1" and result1.content == [ir.Text("18C and sunny")]
    assert result1.is_error is False
    (result2,) = msgs[5].parts
    assert isinstance(result2, ir.ToolResult)
    assert result2.call_id == "call_2" and result2.content == [ir.Text("1 row"), ir.Text("(1)")]

    assert msgs[6].parts == [ir.Text("It is 18C in Paris.")]
    assert msgs[6].extra == {"x_trace": "t-1"}
    assert msgs[7].parts == [ir.Text("Thanks. Now answer as JSON.",
                                     extra={"prompt_cache_breakpoint": {"mode": "explicit"}})]


def test_decode_tools() -> None:
    """Function tools keep schema and strict; a custom tool keeps its grammar format in `extra`;
    `web_search_options` is the hosted web search it asks for."""
    tools = decode_chat_request(full_request()).tools
    assert tools == [
        ir.Tool(name="get_weather", description="Current weather", parameters=WEATHER_PARAMS, strict=True),
        ir.Tool(name="run_sql", description="Run SQL", kind="custom", extra={"format": SQL_FORMAT}),
        ir.Tool(name="web_search", kind="server",
                extra={"openai": {"web_search_options": {"search_context_size": "low"}}}),
    ]


def test_decode_response_format_json_schema() -> None:
    fmt = decode_chat_request(full_request()).response_format
    assert fmt == ir.ResponseFormat("json_schema", schema=ANSWER_SCHEMA, name="answer",
                                    description="The answer", strict=True)


@pytest.mark.parametrize("fmt", [{"type": "text"}, {"type": "json_object"}])
def test_decode_response_format_plain(fmt: dict[str, Any]) -> None:
    assert decode_chat_request(minimal_request(response_format=fmt)).response_format == ir.ResponseFormat(fmt["type"])


TOOL_CHOICES: list[tuple[Any, ir.ToolChoice]] = [
    ("none", ir.ToolChoice("none")),
    ("auto", ir.ToolChoice("auto")),
    ("required", ir.ToolChoice("required")),
    ({"type": "function", "function": {"name": "get_weather"}}, ir.ToolChoice("required", ["get_weather"])),
    ({"type": "custom", "custom": {"name": "run_sql"}}, ir.ToolChoice("required", ["run_sql"])),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "custom", "custom": {"name": "run_sql"}}]}},
     ir.ToolChoice("auto", ["get_weather", "run_sql"])),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "function", "function": {"name": "get_time"}}]}},
     ir.ToolChoice("required", ["get_weather", "get_time"])),
]
TOOLS_FOR_CHOICE: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_PARAMS}},
    {"type": "function", "function": {"name": "get_time"}},
    {"type": "custom", "custom": {"name": "run_sql"}},
]


@pytest.mark.parametrize(("wire", "neutral"), TOOL_CHOICES, ids=lambda v: str(v)[:40])
def test_decode_tool_choice_every_form(wire: Any, neutral: ir.ToolChoice) -> None:
    assert decode_chat_request(minimal_request(tools=TOOLS_FOR_CHOICE, tool_choice=wire)).tool_choice == neutral


def test_decode_stop_as_string_becomes_list() -> None:
    assert decode_chat_request(minimal_request(stop="END")).stop == ["END"]


def test_decode_deprecated_max_tokens_is_an_alias() -> None:
    """max_tokens alone fills the slot; with both, max_completion_tokens wins."""
    assert decode_chat_request(minimal_request(max_tokens=100)).max_tokens == 100
    assert decode_chat_request(minimal_request(max_tokens=100, max_completion_tokens=300)).max_tokens == 300


def test_decode_stream_defaults() -> None:
    """Without stream fields: not streaming, no usage chunk asked for, empty extra."""
    req = decode_chat_request(minimal_request())
    assert req.stream is False and req.stream_usage is False
    assert req.extra == {}
    assert req.tools is None and req.tool_choice is None and req.response_format is None


def test_decode_legacy_functions_and_function_call() -> None:
    """`functions` become tools, `function_call` a tool choice, and the legacy turns tool call/result."""
    body = {
        "model": "gpt-3.5-turbo",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None,
             "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
            {"role": "function", "name": "get_weather", "content": "-3C"},
        ],
        "functions": [{"name": "get_weather", "description": "Current weather", "parameters": WEATHER_PARAMS}],
        "function_call": {"name": "get_weather"},
    }
    req = decode_chat_request(body)
    assert req.tools == [ir.Tool(name="get_weather", description="Current weather", parameters=WEATHER_PARAMS)]
    assert req.tool_choice == ir.ToolChoice("required", ["get_weather"])
    assert req.extra == {}
    assert req.messages[1].parts == [ir.ToolCall(id="get_weather", name="get_weather", arguments="{\"city\":\"Oslo\"}")]
    assert req.messages[1].name is None  # the message has no name; the call's is the function's
    assert req.messages[2].role == "tool"
    (result,) = req.messages[2].parts
    assert isinstance(result, ir.ToolResult)
    assert (result.call_id, result.name, result.content) == ("get_weather", "get_weather", [ir.Text("-3C")])


@pytest.mark.parametrize("mode", ["none", "auto"])
def test_decode_legacy_function_call_modes(mode: str) -> None:
    body = minimal_request(functions=[{"name": "f"}], function_call=mode)
    assert decode_chat_request(body).tool_choice == ir.ToolChoice(mode)  # type: ignore[arg-type]


def test_decode_tools_take_precedence_over_functions() -> None:
    body = minimal_request(tools=[{"type": "function", "function": {"name": "new"}}], functions=[{"name": "old"}],
                           tool_choice="auto", function_call="none")
    req = decode_chat_request(body)
    assert [t.name for t in req.tools or ()] == ["new"]
    assert req.tool_choice == ir.ToolChoice("auto")


def test_decode_assistant_reasoning_and_refusal_history() -> None:
    """reasoning_content / thinking_blocks decode to Reasoning parts; refusal to Refusal."""
    body = minimal_request(messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "thinking..."},
        {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        {"role": "assistant", "content": "b", "thinking_blocks": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "opaque"}]},
    ])
    msgs = decode_chat_request(body).messages
    assert msgs[1].parts == [ir.Reasoning(text="thinking..."), ir.Text("a")]
    assert msgs[2].parts == [ir.Refusal("I can't help with that.")]
    assert msgs[3].parts == [ir.Reasoning(text="hmm", signature="sig==", provider="anthropic"),
                             ir.Reasoning(redacted="opaque", provider="anthropic"), ir.Text("b")]


# Request round trip ------------------------------------------------------------------------------


def test_round_trip_full_request() -> None:
    """encode(decode(body)) is the body with only the model changed, up to documented normalisations."""
    body = full_request()
    out = encode_chat_request(decode_chat_request(body), "gpt-4o-2024-08-06")
    assert out == normalised(body, "gpt-4o-2024-08-06")
    assert out["messages"][7]["content"] == [
        {"type": "text", "text": "Thanks. Now answer as JSON.", "prompt_cache_breakpoint": {"mode": "explicit"}}]
    assert out["messages"][6]["x_trace"] == "t-1"


def test_round_trip_is_json_serialisable_and_stable() -> None:
    """A second hop changes nothing: the encoding is a fixed point."""
    once = encode_chat_request(decode_chat_request(full_request()), "m2")
    twice = encode_chat_request(decode_chat_request(orjson.loads(orjson.dumps(once))), "m2")
    assert twice == once


@pytest.mark.parametrize(("wire", "neutral"), TOOL_CHOICES, ids=lambda v: str(v)[:40])
def test_round_trip_tool_choice(wire: Any, neutral: ir.ToolChoice) -> None:
    body = minimal_request(tools=TOOLS_FOR_CHOICE, tool_choice=wire)
    out = encode_chat_request(decode_chat_request(body), "other")
    assert out["tool_choice"] == wire
    assert out["tools"] == TOOLS_FOR_CHOICE


@pytest.mark.parametrize("fmt", [
    {"type": "text"},
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA}},
    {"type": "json_schema", "json_schema": {"name": "answer", "description": "d", "schema": ANSWER_SCHEMA,
                                            "strict": False}},
])
def test_round_trip_response_format(fmt: dict[str, Any]) -> None:
    out = encode_chat_request(decode_chat_request(minimal_request(response_format=fmt)), "other")
    assert out["response_format"] == fmt


def test_round_trip_minimal_non_streaming() -> None:
    """A non-streaming body gains no stream fields."""
    body = minimal_request(temperature=0)
    assert encode_chat_request(decode_chat_request(body), "other") == {**body, "model": "other"}


def test_round_trip_stream_adds_include_usage() -> None:
    body = minimal_request(stream=True)
    out = encode_chat_request(decode_chat_request(body), "other")
    assert out == {**body, "model": "other", "stream_options": {"include_usage": True}}


def test_round_trip_documented_normalisations() -> None:
    """stop string -> list, deprecated max_tokens -> max_completion_tokens, one text part -> string."""
    body = minimal_request(stop="END", max_tokens=64,
                           messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    out = encode_chat_request(decode_chat_request(body), "other")
    assert out == {"model": "other", "messages": [{"role": "user", "content": "hi"}], "stop": ["END"],
                   "max_completion_tokens": 64}


def test_round_trip_tool_message_keeps_unknown_fields() -> None:
    body = minimal_request(messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok", "x_trace": "t-2"},
    ])
    assert encode_chat_request(decode_chat_request(body), "other")["messages"] == body["messages"]


def test_encode_extra_only_for_same_dialect() -> None:
    """Fields kept in `extra` are OpenAI's own: a request from another dialect does not send them."""
    req = decode_chat_request(minimal_request(logit_bias={"1": 5}))
    assert encode_chat_request(req, "m")["logit_bias"] == {"1": 5}
    req.dialect = "anthropic"
    assert "logit_bias" not in encode_chat_request(req, "m")


def test_encode_legacy_functions_as_tools() -> None:
    """Legacy functions come out in the modern tools / tool_choice form."""
    body = minimal_request(functions=[{"name": "f", "parameters": {"type": "object"}}], function_call={"name": "f"})
    out = encode_chat_request(decode_chat_request(body), "other")
    assert out["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert "functions" not in out and "function_call" not in out


# Request validation ------------------------------------------------------------------------------


def _tool_call_turn(**call: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": [call]}]


def _user_parts(*parts: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts)}]


INVALID: list[tuple[str, Callable[[], Any], str]] = [
    ("body not an object", lambda: ["not", "an", "object"], "body"),
    ("missing model", lambda: {"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ("empty model", lambda: minimal_request(model=""), "model"),
    ("model not a string", lambda: minimal_request(model=4), "model"),
    ("missing messages", lambda: {"model": "m"}, "messages"),
    ("messages not an array", lambda: minimal_request(messages={"role": "user", "content": "hi"}), "messages"),
    ("messages empty", lambda: minimal_request(messages=[]), "messages"),
    ("message not an object", lambda: minimal_request(messages=["hi"]), "messages[0]"),
    ("role missing", lambda: minimal_request(messages=[{"content": "hi"}]), "messages[0].role"),
    ("role invalid", lambda: minimal_request(messages=[{"role": "user", "content": "a"},
                                                       {"role": "robot", "content": "b"}]), "messages[1].role"),
    ("user content missing", lambda: minimal_request(messages=[{"role": "user"}]), "messages[0].content"),
    ("system content null", lambda: minimal_request(messages=[{"role": "system", "content": None}]),
     "messages[0].content"),
    ("content a number", lambda: minimal_request(messages=[{"role": "user", "content": 7}]), "messages[0].content"),
    ("tool without tool_call_id", lambda: minimal_request(messages=[{"role": "user", "content": "a"},
                                                                    {"role": "tool", "content": "r"}]),
     "messages[1].tool_call_id"),
    ("function message without name", lambda: minimal_request(messages=[{"role": "function", "content": "r"}]),
     "messages[0].name"),
    ("name not a string", lambda: minimal_request(messages=[{"role": "user", "content": "a", "name": 1}]),
     "messages[0].name"),
    ("part type missing", lambda: minimal_request(messages=_user_parts({"text": "a"})), "messages[0].content[0].type"),
    ("part type unsupported", lambda: minimal_request(messages=_user_parts({"type": "video", "video": {}})),
     "messages[0].content[0].type"),
    ("part not an object", lambda: minimal_request(messages=_user_parts({"type": "text", "text": "a"}, "b")),
     "messages[0].content[1]"),
    ("image_url bad data URL", lambda: minimal_request(messages=_user_parts(
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png," + PNG_B64}})),
     "messages[0].content[1].image_url.url"),
    ("image_url missing url", lambda: minimal_request(messages=_user_parts(
        {"type": "image_url", "image_url": {"detail": "low"}})), "messages[0].content[0].image_url.url"),
    ("image_url not an object", lambda: minimal_request(messages=_user_parts(
        {"type": "image_url", "image_url": "https://x/y.png"})), "messages[0].content[0].image_url"),
    ("input_audio missing format", lambda: minimal_request(messages=_user_parts(
        {"type": "input_audio", "input_audio": {"data": WAV_B64}})), "messages[0].content[0].input_audio.format"),
    ("file_data not a data URL", lambda: minimal_request(messages=_user_parts(
        {"type": "file", "file": {"file_data": PDF_B64}})), "messages[0].content[0].file.file_data"),
    ("tool call without id", lambda: minimal_request(messages=_tool_call_turn(
        type="function", function={"name": "f", "arguments": "{}"})), "messages[1].tool_calls[0].id"),
    ("tool call without function name", lambda: minimal_request(messages=_tool_call_turn(
        id="call_1", type="function", function={"arguments": "{}"})), "messages[1].tool_calls[0].function.name"),
    ("tool call arguments an object", lambda: minimal_request(messages=_tool_call_turn(
        id="call_1", type="function", function={"name": "f", "arguments": {"a": 1}})),
     "messages[1].tool_calls[0].function.arguments"),
    ("tool_calls not an array", lambda: minimal_request(messages=[
        {"role": "assistant", "content": "a", "tool_calls": {"id": "x"}}]), "messages[0].tool_calls"),
    ("temperature a string", lambda: minimal_request(temperature="0.7"), "temperature"),
    ("top_p a bool", lambda: minimal_request(top_p=True), "top_p"),
    ("n zero", lambda: minimal_request(n=0), "n"),
    ("n a float", lambda: minimal_request(n=1.5), "n"),
    ("seed a string", lambda: minimal_request(seed="42"), "seed"),
    ("max_tokens a bool", lambda: minimal_request(max_tokens=True), "max_tokens"),
    ("max_completion_tokens zero", lambda: minimal_request(max_completion_tokens=0), "max_completion_tokens"),
    ("top_logprobs negative", lambda: minimal_request(logprobs=True, top_logprobs=-1), "top_logprobs"),
    ("logprobs a string", lambda: minimal_request(logprobs="yes"), "logprobs"),
    ("stream a string", lambda: minimal_request(stream="true"), "stream"),
    ("stream_options not an object", lambda: minimal_request(stream=True, stream_options=True), "stream_options"),
    ("include_usage a string", lambda: minimal_request(stream=True, stream_options={"include_usage": "yes"}),
     "stream_options.include_usage"),
    ("stop a number", lambda: minimal_request(stop=5), "stop"),
    ("stop list with a number", lambda: minimal_request(stop=["a", 1]), "stop"),
    ("reasoning_effort bad", lambda: minimal_request(reasoning_effort="extreme"), "reasoning_effort"),
    ("verbosity bad", lambda: minimal_request(verbosity="loud"), "verbosity"),
    ("parallel_tool_calls a string", lambda: minimal_request(parallel_tool_calls="false"), "parallel_tool_calls"),
    ("user not a string", lambda: minimal_request(user=12), "user"),
    ("metadata not an object", lambda: minimal_request(metadata=["a"]), "metadata"),
    ("response_format not an object", lambda: minimal_request(response_format="json"), "response_format"),
    ("response_format type missing", lambda: minimal_request(response_format={}), "response_format.type"),
    ("response_format type bad", lambda: minimal_request(response_format={"type": "xml"}), "response_format.type"),
    ("json_schema missing", lambda: minimal_request(response_format={"type": "json_schema"}),
     "response_format.json_schema"),
    ("json_schema without name", lambda: minimal_request(response_format={
        "type": "json_schema", "json_schema": {"schema": ANSWER_SCHEMA}}), "response_format.json_schema.name"),
    ("json_schema schema not an object", lambda: minimal_request(response_format={
        "type": "json_schema", "json_schema": {"name": "a", "schema": "{}"}}), "response_format.json_schema.schema"),
    ("tools not an array", lambda: minimal_request(tools={"type": "function"}), "tools"),
    ("tool without function name", lambda: minimal_request(tools=[{"type": "function", "function": {
        "description": "no name"}}]), "tools[0].function.name"),
    ("tool without function", lambda: minimal_request(tools=[{"type": "function"}]), "tools[0].function"),
    ("tool type bad", lambda: minimal_request(tools=[{"type": "retrieval"}]), "tools[0].type"),
    ("custom tool without name", lambda: minimal_request(tools=[
        {"type": "function", "function": {"name": "f"}}, {"type": "custom", "custom": {}}]), "tools[1].custom.name"),
    ("tool parameters not an object", lambda: minimal_request(tools=[{"type": "function", "function": {
        "name": "f", "parameters": []}}]), "tools[0].function.parameters"),
    ("tool strict a string", lambda: minimal_request(tools=[{"type": "function", "function": {
        "name": "f", "strict": "yes"}}]), "tools[0].function.strict"),
    ("legacy function without name", lambda: minimal_request(functions=[{"description": "no name"}]),
     "functions[0].name"),
    ("tool_choice string bad", lambda: minimal_request(tool_choice="always"), "tool_choice"),
    ("tool_choice function without name", lambda: minimal_request(tool_choice={
        "type": "function", "function": {}}), "tool_choice.function.name"),
    ("allowed_tools mode bad", lambda: minimal_request(tool_choice={"type": "allowed_tools", "allowed_tools": {
        "mode": "maybe", "tools": [{"type": "function", "function": {"name": "f"}}]}}),
     "tool_choice.allowed_tools.mode"),
    ("allowed_tools tools missing", lambda: minimal_request(tool_choice={"type": "allowed_tools", "allowed_tools": {
        "mode": "auto"}}), "tool_choice.allowed_tools.tools"),
    ("allowed_tools entry without name", lambda: minimal_request(tool_choice={
        "type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [
            {"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {}}]}}),
     "tool_choice.allowed_tools.tools[1].function.name"),
    ("tool_choice type not a string", lambda: minimal_request(tool_choice={"type": ["function"]}), "tool_choice.type"),
    ("legacy function_call name not a string", lambda: minimal_request(messages=[
        {"role": "assistant", "content": None, "function_call": {"name": {"n": 1}}}]),
     "messages[0].function_call.name"),
    ("thinking block data not a string", lambda: minimal_request(messages=[
        {"role": "assistant", "content": "a", "thinking_blocks": [{"type": "redacted_thinking", "data": [1]}]}]),
     "messages[0].thinking_blocks[0].data"),
]


@pytest.mark.parametrize(("body", "param"), [(b, p) for _, b, p in INVALID], ids=[c for c, _, _ in INVALID])
def test_validation_names_the_field(body: Callable[[], Any], param: str) -> None:
    """Malformed input is a 400 invalid_request whose `param` is the exact field path."""
    with pytest.raises(ir.GatewayError) as info:
        read_all(decode_chat_request(body()))
    error = info.value
    assert error.status == 400
    assert error.kind == "invalid_request"
    assert error.param == param
    assert error.message.startswith(param + ": ")
    assert error.retryable is False


def test_validation_error_renders_as_openai_400_body() -> None:
    with pytest.raises(ir.GatewayError) as info:
        decode_chat_request(minimal_request(n=0))
    body = orjson.loads(CODEC.encode_error(info.value))
    assert body == {"error": {"message": "n: must be at least 1", "type": "invalid_request_error",
                              "param": "n", "code": None}}


# Responses ---------------------------------------------------------------------------------------


def full_response() -> dict[str, Any]:
    """A chat.completion using every field of section 1.4, with tool calls and logprobs."""
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_44709d6fcb",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "refusal": None,
                    "annotations": [],
                    "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                        {"id": "call_2", "type": "function",
                         "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}},
                    ],
                },
                "logprobs": {"content": [
                    {"token": "Checking", "logprob": -0.01, "bytes": [67, 104, 101, 99, 107, 105, 110, 103],
                     "top_logprobs": [{"token": "Checking", "logprob": -0.01, "bytes": [67]},
                                      {"token": "Let", "logprob": -4.6, "bytes": [76, 101, 116]}]},
                    {"token": ".", "logprob": 0.0, "bytes": [46], "top_logprobs": []},
                ], "refusal": None},
            },
            {
                "index": 1,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Sunny.", "refusal": None, "annotations": []},
                "logprobs": None,
            },
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
    }


def test_response_round_trip_preserves_every_field() -> None:
    body = full_response()
    assert encode_chat_response(decode_chat_response(body)) == full_response()


def test_decode_response_into_ir() -> None:
    resp = decode_chat_response(full_response())
    assert (resp.id, resp.model, resp.created) == ("chatcmpl-abc123", "gpt-4o-2024-08-06", 1_700_000_000)
    assert resp.extra == {"system_fingerprint": "fp_44709d6fcb", "service_tier": "default"}
    first, second = resp.choices
    assert first.index == 0 and first.finish_reason == "tool_calls"
    assert first.message.role == "assistant"
    assert first.message.parts == [
        ir.Text("Checking."),
        ir.ToolCall(id="call_1", name="get_weather", arguments="{\"city\":\"Paris\"}"),
        ir.ToolCall(id="call_2", name="get_time", arguments="{\"tz\":\"CET\"}"),
    ]
    assert first.message.extra is None  # the (empty) annotations are the text's citations
    assert first.logprobs is not None and first.logprobs[1] == ir.TokenLogprob(".", 0.0, [], [46])
    assert first.logprobs[0].top[0] == ir.TokenLogprob("Checking", -0.01, [], [67])
    assert encode_chat_response(resp)["choices"][0]["logprobs"] == full_response()["choices"][0]["logprobs"]
    assert second.index == 1 and second.finish_reason == "stop" and second.logprobs is None
    assert second.message.parts == [ir.Text("Sunny.")]


def test_usage_maps_to_neutral_usage() -> None:
    """prompt_tokens already includes cached tokens; reasoning is a sub-count of completion."""
    usage = decode_chat_response(full_response()).usage
    assert usage is not None
    assert usage.input_tokens == 1200
    assert usage.cache_read_tokens == 1024
    assert usage.output_tokens == 300
    assert usage.reasoning_tokens == 256
    assert usage.cache_write_tokens == 0
    assert usage.total_tokens == 1500
    assert CODEC.usage_of(full_response()) == usage


def test_usage_cache_write_and_missing_details() -> None:
    usage = decode_usage({"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12,
                          "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 6}})
    assert usage == ir.Usage(input_tokens=10, output_tokens=2, cache_read_tokens=4, cache_write_tokens=6)
    assert decode_usage({"prompt_tokens": 3, "completion_tokens": 1}) == ir.Usage(3, 1)
    assert decode_usage(None) is None


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_text_decodes_to_reasoning(key: str) -> None:
    """DeepSeek/vLLM `reasoning_content` and OpenRouter `reasoning` both become ir.Reasoning."""
    body = full_response()
    body["choices"][1]["message"][key] = "The sky is clear."
    choice = decode_chat_response(body).choices[1]
    assert choice.message.parts == [ir.Reasoning(text="The sky is clear."), ir.Text("Sunny.")]
    message = encode_chat_response(decode_chat_response(body))["choices"][1]["message"]
    assert message["reasoning_content"] == "The sky is clear."
    assert message["content"] == "Sunny."


def test_response_refusal_and_null_content() -> None:
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [
        {"index": 0, "finish_reason": "content_filter", "logprobs": None,
         "message": {"role": "assistant", "content": None, "refusal": "No.", "annotations": []}}]}
    resp = decode_chat_response(body)
    assert resp.choices[0].message.parts == [ir.Refusal("No.")]
    assert resp.choices[0].finish_reason == "content_filter"
    assert resp.usage is None
    assert encode_chat_response(resp) == body


@pytest.mark.parametrize(("wire", "neutral"), [
    ("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"), ("function_call", "tool_calls"),
    ("content_filter", "content_filter"), ("something_new", "stop"),
])
def test_finish_reason_in(wire: str, neutral: str) -> None:
    body = {"id": "c", "created": 1, "model": "m", "choices": [
        {"index": 0, "finish_reason": wire, "message": {"role": "assistant", "content": "x"}}]}
    assert decode_chat_response(body).choices[0].finish_reason == neutral


@pytest.mark.parametrize(("neutral", "wire"), [
    ("stop", "stop"), ("stop_sequence", "stop"), ("length", "length"), ("tool_calls", "tool_calls"),
    ("content_filter", "content_filter"), ("context_overflow", "length"), ("pause", "stop"),
])
def test_finish_reason_out(neutral: ir.FinishReason, wire: str) -> None:
    resp = ir.ChatResponse("c", "m", 1, [ir.Choice(0, ir.Message("assistant", [ir.Text("x")]), neutral)])
    assert encode_chat_response(resp)["choices"][0]["finish_reason"] == wire


# Streams -----------------------------------------------------------------------------------------

HEAD: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                        "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1"}
STREAM_USAGE: dict[str, Any] = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70,
                                "prompt_tokens_details": {"cached_tokens": 10},
                                "completion_tokens_details": {"reasoning_tokens": 5}}


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {**HEAD, "choices": [{"index": 0, "delta": delta or {}, "logprobs": None,
                                                 "finish_reason": finish}], "usage": None}
    body.update(over)
    return body


def _call(index: int, arguments: str, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        call.update(id=id, type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


STREAM_PAYLOADS: list[dict[str, Any]] = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Let me "}),
    _chunk({"content": "check."}),
    _chunk(_call(0, "", "call_a", "get_weather")),
    _chunk(_call(0, "{\"city\":")),
    _chunk(_call(1, "", "call_b", "get_time")),
    _chunk(_call(0, "\"Paris\"}")),
    _chunk(_call(1, "{\"tz\":\"CET\"}")),
    _chunk({}, "tool_calls"),
    {**HEAD, "choices": [], "usage": STREAM_USAGE},
]


def sse_bytes(payloads: list[dict[str, Any]], sep: bytes = b"\n\n", done: bool = True) -> bytes:
    """Frame payloads as OpenAI does: compact JSON on `data:` lines, then `data: [DONE]`."""
    frames = [b"data: " + orjson.dumps(p) + sep for p in payloads]
    if done:
        frames.append(b"data: [DONE]" + sep)
    return b"".join(frames)


STREAM = sse_bytes(STREAM_PAYLOADS)

EXPECTED_EVENTS: list[ir.StreamEvent] = [
    ir.StreamStart("chatcmpl-1", "gpt-4o-2024-08-06", 1_700_000_000),
    ir.TextDelta("Let me "),
    ir.TextDelta("check."),
    ir.ToolCallDelta(index=0, arguments="", id="call_a", name="get_weather"),
    ir.ToolCallDelta(index=0, arguments="{\"city\":"),
    ir.ToolCallDelta(index=1, arguments="", id="call_b", name="get_time"),
    ir.ToolCallDelta(index=0, arguments="\"Paris\"}"),
    ir.ToolCallDelta(index=1, arguments="{\"tz\":\"CET\"}"),
    ir.Finish("tool_calls"),
    ir.UsageReport(ir.Usage(input_tokens=50, output_tokens=20, cache_read_tokens=10, reasoning_tokens=5)),
]


def decode_all(data: bytes, sizes: list[int] | None = None) -> list[ir.StreamEvent]:
    return decode_in_pieces(ChatStreamDecoder(), data, sizes)


@pytest.mark.parametrize("sizes", [None, [1], [2, 7, 3], [64], [5, 100, 1]], ids=str)
def test_stream_decoder_any_split(sizes: list[int] | None) -> None:
    """Whatever the network chunking, the same events come out."""
    assert decode_all(STREAM, sizes) == EXPECTED_EVENTS


@pytest.mark.parametrize("sizes", [None, [1], [3, 11]], ids=str)
def test_stream_decoder_crlf_separators(sizes: list[int] | None) -> None:
    assert decode_all(sse_bytes(STREAM_PAYLOADS, b"\r\n\r\n"), sizes) == EXPECTED_EVENTS


def test_stream_decoder_events_arrive_as_soon_as_complete() -> None:
    """A complete event is decoded at once; a partial one waits for its terminator."""
    decoder = ChatStreamDecoder()
    first = b"data: " + orjson.dumps(STREAM_PAYLOADS[1]) + b"\n\n"
    assert decoder.feed(first[:-1]) == []
    assert decoder.feed(first[-1:]) == EXPECTED_EVENTS[:2]


def test_stream_decoder_close_flushes_unterminated_event() -> None:
    decoder = ChatStreamDecoder()
    assert decoder.feed(b"data: " + orjson.dumps(_chunk({"content": "tail"}))) == []
    assert decoder.close() == [EXPECTED_EVENTS[0], ir.TextDelta("tail")]


def test_stream_decoder_ignores_comments_and_done() -> None:
    data = b": keep-alive\n\n" + sse_bytes([_chunk({"content": "x"})])
    assert decode_all(data, [1])[1:] == [ir.TextDelta("x")]


def test_stream_decoder_reasoning_refusal_and_logprobs() -> None:
    logprobs = {"content": [{"token": "x", "logprob": -0.1, "bytes": [120], "top_logprobs": [
        {"token": "x", "logprob": -0.1, "bytes": [120]}, {"token": "y", "logprob": -2.5, "bytes": [121]}]}]}
    payloads = [_chunk({"reasoning_content": "think"}), _chunk({"reasoning": "more"}),
                _chunk({"refusal": "no"}), _chunk({"content": "x"}, logprobs=None)]
    payloads[3]["choices"][0]["logprobs"] = logprobs
    tokens = [ir.TokenLogprob("x", -0.1, [ir.TokenLogprob("x", -0.1, [], [120]), ir.TokenLogprob("y", -2.5, [], [121])],
                              [120])]
    assert decode_all(sse_bytes(payloads))[1:] == [
        ir.ReasoningDelta("think"), ir.ReasoningDelta("more"), ir.RefusalDelta("no"), ir.TextDelta("x", 0, tokens)]


def test_stream_decoder_in_stream_error_raises() -> None:
    """A `data: {"error":...}` payload is a GatewayError, after the events before it."""
    decoder = ChatStreamDecoder()
    first = decoder.feed(sse_bytes([_chunk({"content": "Hi"})], done=False))
    assert first == [EXPECTED_EVENTS[0], ir.TextDelta("Hi")]
    error = {"error": {"message": "The server had an error", "type": "server_error", "param": None,
                       "code": "internal_error"}}
    with pytest.raises(ir.GatewayError) as info:
        for byte in sse_bytes([error], done=False):
            decoder.feed(bytes([byte]))
    assert info.value.message == "The server had an error"
    assert info.value.code == "internal_error"
    assert info.value.status == 502 and info.value.retryable is True


def test_stream_decoder_tool_call_begins_named() -> None:
    """A call's first delta names it; a server that gives no id gets one minted, but a call with no
    name cannot be made, nor answered on the next turn: the upstream's fault (`ir.Invalid`, a 502
    where a provider reads the stream)."""
    unnamed = [_chunk({"tool_calls": [{"index": 0, "type": "function", "function": {"name": "f", "arguments": ""}}]}),
               _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})]
    first, rest = decode_all(sse_bytes(unnamed))[1:3]
    assert isinstance(first, ir.ToolCallDelta) and first.name == "f" and (first.id or "").startswith("call_")
    assert rest == ir.ToolCallDelta(index=0, arguments="{}")
    nameless = _chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"arguments": ""}}]})
    with pytest.raises(ir.Invalid, match="name: is required"):
        decode_all(sse_bytes([nameless]))


def test_stream_decoder_numbers_calls_a_server_left_unnumbered() -> None:
    """Calls sent whole without `index`: each new id is the next call, a delta without an id goes on
    with the last one."""
    whole = [_chunk({"tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
             _chunk({"tool_calls": [{"id": "b", "type": "function", "function": {"name": "g", "arguments": "{"}}]}),
             _chunk({"tool_calls": [{"function": {"arguments": "}"}}]})]
    assert decode_all(sse_bytes(whole))[1:4] == [ir.ToolCallDelta(index=0, arguments="{}", id="a", name="f"),
                                                  ir.ToolCallDelta(index=1, arguments="{", id="b", name="g"),
                                                  ir.ToolCallDelta(index=1, arguments="}")]


def _encode(events: list[ir.StreamEvent], stream_usage: bool) -> bytes:
    encoder = ChatStreamEncoder(stream_usage)
    return b"".join(encoder.encode(e) for e in events) + encoder.end()


def test_stream_encoder_round_trip() -> None:
    """IR -> SSE -> IR gives back the same events."""
    data = _encode(EXPECTED_EVENTS, stream_usage=True)
    assert data.endswith(b"data: [DONE]\n\n")
    assert decode_all(data) == EXPECTED_EVENTS
    assert decode_all(data, [1]) == EXPECTED_EVENTS


def test_stream_encoder_round_trip_reasoning_refusal_logprobs_custom() -> None:
    logprobs = [ir.TokenLogprob("x", -0.1, [ir.TokenLogprob("z", -3.0, [], [122])], [120])]
    events: list[ir.StreamEvent] = [
        EXPECTED_EVENTS[0],
        ir.ReasoningDelta("think"),
        ir.TextDelta("x", 0, logprobs),
        ir.RefusalDelta("no"),
        ir.ToolCallDelta(index=0, arguments="SELECT 1", id="call_c", name="run_sql", kind="custom"),
        ir.Finish("stop"),
    ]
    assert decode_all(_encode(events, stream_usage=False)) == events


def test_stream_encoder_chunk_shape() -> None:
    """Every chunk repeats id/object/created/model; usage:null on each when usage is wanted."""
    payloads = sse_data(_encode(EXPECTED_EVENTS, stream_usage=True))
    assert payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    for chunk in chunks:
        assert {k: chunk[k] for k in ("id", "object", "created", "model")} == {
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06"}
        assert "usage" in chunk
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70,
        "prompt_tokens_details": {"cached_tokens": 10}, "completion_tokens_details": {"reasoning_tokens": 5}}
    assert chunks[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Let me "}
    assert chunks[2]["choices"][0]["delta"] == {"tool_calls": [
        {"index": 0, "id": "call_a", "type": "function", "function": {"arguments": "", "name": "get_weather"}}]}
    assert chunks[3]["choices"][0]["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}


def test_stream_encoder_no_usage_chunk_unless_asked() -> None:
    data = _encode(EXPECTED_EVENTS, stream_usage=False)
    payloads = sse_data(data)
    assert payloads[-1] == "[DONE]"
    assert all("usage" not in p and p["choices"] for p in payloads[:-1])
    assert decode_all(data) == EXPECTED_EVENTS[:-1]


def test_stream_encoder_usage_chunk_needs_a_usage_report() -> None:
    assert sse_data(_encode(EXPECTED_EVENTS[:-1], stream_usage=True))[-2]["choices"] != []


def test_stream_encoder_role_only_in_first_chunk_of_each_choice() -> None:
    events: list[ir.StreamEvent] = [
        EXPECTED_EVENTS[0],
        ir.TextDelta("a", 0), ir.TextDelta("b", 1), ir.TextDelta("c", 0), ir.TextDelta("d", 1),
        ir.Finish("stop", 0), ir.Finish("length", 1),
    ]
    chunks = sse_data(_encode(events, stream_usage=False))[:-1]
    seen: dict[int, list[dict[str, Any]]] = {}
    for chunk in chunks:
        (choice,) = chunk["choices"]
        seen.setdefault(choice["index"], []).append(choice["delta"])
    for deltas in seen.values():
        assert deltas[0].get("role") == "assistant"
        assert all("role" not in d for d in deltas[1:])
    assert decode_all(_encode(events, stream_usage=False)) == events


def test_stream_encoder_finish_without_content_sends_role_first() -> None:
    chunks = sse_data(_encode([EXPECTED_EVENTS[0], ir.Finish("stop")], stream_usage=False))
    assert [c if c == "[DONE]" else c["choices"] for c in chunks] == [
        [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "[DONE]",
    ]


def test_stream_encoder_error_frame() -> None:
    encoder = ChatStreamEncoder(True)
    error = ir.GatewayError("rate_limit", "slow down", code="rate_limit_exceeded")
    data = encoder.error(error)
    assert sse_data(data) == [{"error": {"message": "slow down", "type": "rate_limit_error",
                                         "param": None, "code": "rate_limit_exceeded"}}]
    with pytest.raises(ir.GatewayError) as info:
        ChatStreamDecoder().feed(data)
    assert info.value.message == "slow down" and info.value.code == "rate_limit_exceeded"


# Passthrough -------------------------------------------------------------------------------------


def passthrough_all(data: bytes, keep_usage: bool, sizes: list[int] | None = None) -> tuple[bytes, ChatPassthrough]:
    """The bytes a fresh passthrough sends on for `data` fed in pieces, and the passthrough."""
    passthrough = ChatPassthrough(keep_usage)
    return forward_in_pieces(passthrough, data, sizes), passthrough


WITHOUT_USAGE = sse_bytes(STREAM_PAYLOADS[:-1])
USAGE_FRAME = b"data: " + orjson.dumps(STREAM_PAYLOADS[-1]) + b"\n\n"


@pytest.mark.parametrize("keep_usage", [False, True])
@pytest.mark.parametrize("sizes", [None, [1], [9, 4]], ids=str)
def test_passthrough_without_usage_is_identical(keep_usage: bool, sizes: list[int] | None) -> None:
    out, passthrough = passthrough_all(WITHOUT_USAGE, keep_usage, sizes)
    assert out == WITHOUT_USAGE
    assert passthrough.usage is None
    assert passthrough.events == len(STREAM_PAYLOADS)  # nine chunks plus [DONE]


@pytest.mark.parametrize("sizes", [None, [1], [13, 2]], ids=str)
def test_passthrough_strips_usage_chunk_it_asked_for(sizes: list[int] | None) -> None:
    """keep_usage False: the usage-only chunk is removed, everything else untouched, usage captured."""
    assert USAGE_FRAME in STREAM
    out, passthrough = passthrough_all(STREAM, keep_usage=False, sizes=sizes)
    assert out == STREAM.replace(USAGE_FRAME, b"")
    assert passthrough.usage == EXPECTED_EVENTS[-1].usage  # type: ignore[union-attr]
    assert passthrough.events == len(STREAM_PAYLOADS) + 1


@pytest.mark.parametrize("sizes", [None, [1]], ids=str)
def test_passthrough_keeps_usage_chunk_client_asked_for(sizes: list[int] | None) -> None:
    out, passthrough = passthrough_all(STREAM, keep_usage=True, sizes=sizes)
    assert out == STREAM
    assert passthrough.usage == EXPECTED_EVENTS[-1].usage  # type: ignore[union-attr]


@pytest.mark.parametrize("sizes", [None, [1]], ids=str)
def test_passthrough_nulls_usage_on_a_chunk_with_choices(sizes: list[int] | None) -> None:
    """Usage riding on a content chunk: the chunk is kept with usage null, and the usage captured."""
    payloads = [*STREAM_PAYLOADS[:-2], _chunk({}, "tool_calls", usage=STREAM_USAGE)]
    out, passthrough = passthrough_all(sse_bytes(payloads), keep_usage=False, sizes=sizes)
    sent = sse_data(out)
    assert sent[:-2] == payloads[:-1]
    assert sent[-2] == {**payloads[-1], "usage": None}
    assert sent[-1] == "[DONE]"
    assert passthrough.usage == EXPECTED_EVENTS[-1].usage  # type: ignore[union-attr]

    kept, _ = passthrough_all(sse_bytes(payloads), keep_usage=True, sizes=sizes)
    assert kept == sse_bytes(payloads)


def test_passthrough_finds_usage_written_with_spaces() -> None:
    """Upstreams that write JSON like Python's json.dumps (`"usage": {`) are metered and stripped too."""
    spaced = STREAM.replace(USAGE_FRAME, b"data: " + json.dumps(STREAM_PAYLOADS[-1]).encode() + b"\n\n")
    out, passthrough = passthrough_all(spaced, keep_usage=False)
    assert out == STREAM.replace(USAGE_FRAME, b"")
    assert passthrough.usage == EXPECTED_EVENTS[-1].usage  # type: ignore[union-attr]


def test_passthrough_counts_events_incrementally() -> None:
    passthrough = ChatPassthrough(False)
    frames = [b"data: " + orjson.dumps(p) + b"\n\n" for p in STREAM_PAYLOADS[:3]]
    assert passthrough.feed(frames[0]) == frames[0]
    assert passthrough.events == 1
    assert passthrough.feed(frames[1] + frames[2][:10]) == frames[1]
    assert passthrough.events == 2
    assert passthrough.feed(frames[2][10:]) == frames[2]
    assert passthrough.events == 3


# Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "type_"), [
    (ir.invalid("messages[0].content", "is required"), "invalid_request_error"),
    (ir.GatewayError("authentication", "bad key", code="invalid_api_key"), "authentication_error"),
    (ir.GatewayError("permission", "no"), "permission_error"),
    (ir.GatewayError("not_found", "no such model", code="model_not_found"), "invalid_request_error"),
    (ir.GatewayError("rate_limit", "slow down"), "rate_limit_error"),
    (ir.GatewayError("timeout", "too slow"), "timeout_error"),
    (ir.GatewayError("upstream", "bad gateway"), "server_error"),
    (ir.GatewayError("unavailable", "down"), "server_error"),
])
def test_encode_error_shape(error: ir.GatewayError, type_: str) -> None:
    body = orjson.loads(CODEC.encode_error(error))
    assert list(body) == ["error"]
    assert body["error"] == {"message": error.message, "type": type_, "param": error.param, "code": error.code}


def test_decode_error_openai_body() -> None:
    body = orjson.dumps({"error": {"message": "Rate limit reached for gpt-4o", "type": "requests",
                                   "param": None, "code": "rate_limit_exceeded"}})
    error = CODEC.decode_error(429, body)
    assert error.kind == "rate_limit"
    assert error.status == 429
    assert error.retryable is True
    assert error.message == "Rate limit reached for gpt-4o"
    assert error.code == "rate_limit_exceeded"
    assert error.param is None


def test_decode_error_keeps_param() -> None:
    body = orjson.dumps({"error": {"message": "Invalid value", "type": "invalid_request_error",
                                   "param": "messages[0].role", "code": "invalid_value"}})
    error = CODEC.decode_error(400, body)
    assert (error.kind, error.status, error.retryable) == ("invalid_request", 400, False)
    assert (error.param, error.code, error.message) == ("messages[0].role", "invalid_value", "Invalid value")


def test_decode_error_non_json_body() -> None:
    error = CODEC.decode_error(500, b"<html>\n<h1>Internal Server Error</h1>\n</html>\n")
    assert error.status == 502 and error.kind == "upstream" and error.retryable is True
    assert error.message == "<html>\n<h1>Internal Server Error</h1>\n</html>"
    assert CODEC.decode_error(502, b"").message == "upstream answered 502"


def test_decode_error_string_error() -> None:
    error = CODEC.decode_error(404, b'{"error":"model not found"}')
    assert (error.kind, error.status, error.message) == ("not_found", 404, "model not found")


@pytest.mark.parametrize(("upstream", "status", "kind", "retryable"), [
    (400, 400, "invalid_request", False),
    (401, 401, "authentication", False),
    (404, 404, "not_found", False),
    (408, 408, "timeout", True),
    (429, 429, "rate_limit", True),
    (500, 502, "upstream", True),
    (502, 502, "upstream", True),
    (503, 503, "unavailable", True),
    (504, 504, "timeout", True),
])
def test_decode_error_status_mapping(upstream: int, status: int, kind: str, retryable: bool) -> None:
    error = CODEC.decode_error(upstream, b'{"error":{"message":"m","type":"t","param":null,"code":null}}')
    assert (error.status, error.kind, error.retryable) == (status, kind, retryable)
