"""Anthropic Messages (Anthropic's Messages API reference, streaming events included), both directions.

Thinking blocks keep their signature with `provider="anthropic"`: only signatures Anthropic minted
are sent back to it, and thinking from anywhere else is left out of an Anthropic request rather
than rejected there. Tool-call ids are made valid for Anthropic with `ids.safe_id` and restored
with `ids.original_id` (see that module). `json_object` has no Anthropic equivalent: it becomes a
system instruction to answer with one JSON object.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import sse
from interlingua.adapters.dialects.base import (
    ClientDialect,
    ModelCard,
    ModelList,
    Passthrough,
    Route,
    StreamDecoder,
    StreamEncoder,
    UpstreamDialect,
)
from interlingua.adapters.dialects.ids import original_id, safe_id
from interlingua.adapters.dialects.reasoning import MIN_BUDGET, budget

PROVIDER = "anthropic"
DEFAULT_MAX_TOKENS = 4096
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

_REQUEST_FIELDS = frozenset(
    """model max_tokens messages system stop_sequences temperature top_p top_k stream tools tool_choice thinking
    output_config output_format metadata""".split()
)
_STOP_IN: dict[str, ir.FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop_sequence",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause",
    "model_context_window_exceeded": "context_overflow",
}
_STOP_OUT = {v: k for k, v in _STOP_IN.items()}
_ERROR_TYPE = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "timeout": "timeout_error",
    "overloaded": "overloaded_error",
}
# The HTTP status each error type comes with (Anthropic API reference, "Errors"); an in-stream error has
# only its type.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# Request: wire -> IR ------------------------------------------------------------------------------


def _source(block: dict[str, Any], path: str) -> dict[str, Any]:
    return f.obj(f.req(block, "source", path + "."), path + ".source")


def _block(raw: Any, path: str) -> ir.Part:
    block = f.obj(raw, path)
    kind = f.string(block, "type", path + ".", required=True)
    extra = f.rest(block, _BLOCK_KEYS.get(kind, frozenset({"type"})))
    if kind == "text":
        text = f.string(block, "text", path + ".")
        if not text:
            raise ir.invalid(path + ".text", "must be a non-empty string")
        return ir.Text(text, extra)
    if kind in ("image", "document"):
        source = _source(block, path)
        stype = f.choice(source, "type", ("base64", "url", "file", "text", "content"), path + ".source.")
        if stype == "url":
            url = f.string(source, "url", path + ".source.", required=True)
            return ir.Image(url=url, extra=extra) if kind == "image" else ir.File(url=url, extra=extra)
        if stype == "file":
            file_id = f.string(source, "file_id", path + ".source.", required=True)
            return ir.File(file_id=file_id, extra={**(extra or {}), "block": kind})
        if stype == "base64":
            mime = f.string(source, "media_type", path + ".source.", required=True)
            data = f.string(source, "data", path + ".source.", required=True)
            if kind == "image":
                return ir.Image(data=data, media_type=mime, extra=extra)
            return ir.File(data=data, media_type=mime, extra=extra)
        return ir.File(media_type=f.string(source, "media_type", path + ".source."),
                       extra={**(extra or {}), "source": source})
    if kind == "tool_use":
        return ir.ToolCall(
            id=original_id(f.string(block, "id", path + ".", required=True)),
            name=f.string(block, "name", path + ".", required=True),
            arguments=orjson.dumps(f.obj(block.get("input", {}), path + ".input")).decode(),
            extra=extra,
        )
    if kind == "tool_result":
        content = block.get("content")
        parts: list[ir.Part]
        if content is None:
            parts = []
        elif isinstance(content, str):
            parts = [ir.Text(content)]
        elif isinstance(content, list):
            parts = [_block(b, f"{path}.content[{i}]") for i, b in enumerate(content)]
        else:
            raise ir.invalid(path + ".content", "must be a string or an array of blocks")
        return ir.ToolResult(
            call_id=original_id(f.string(block, "tool_use_id", path + ".", required=True)),
            content=parts,
            is_error=bool(f.boolean(block, "is_error", path + ".")),
            extra=extra,
        )
    if kind == "thinking":
        return ir.Reasoning(text=f.string(block, "thinking", path + ".") or "",
                            signature=f.string(block, "signature", path + ".") or None, provider=PROVIDER)
    if kind == "redacted_thinking":
        return ir.Reasoning(redacted=f.string(block, "data", path + ".", required=True), provider=PROVIDER)
    return ir.Opaque(PROVIDER, block)  # server tool use and results, search results, containers...


_BLOCK_KEYS = {
    "text": frozenset({"type", "text"}),
    "image": frozenset({"type", "source"}),
    "document": frozenset({"type", "source"}),
    "tool_use": frozenset({"type", "id", "name", "input"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error"}),
}


def _content(content: Any, path: str) -> list[ir.Part]:
    if isinstance(content, str):
        return [ir.Text(content)]
    if not isinstance(content, list):
        raise ir.invalid(path, "must be a string or an array of content blocks")
    return [_block(b, f"{path}[{i}]") for i, b in enumerate(content)]


def _message(raw: Any, path: str) -> list[ir.Message]:
    """One Anthropic message; a user turn's tool results become IR tool messages, first."""
    message = f.obj(raw, path)
    role = f.choice(message, "role", ("user", "assistant"), path + ".")
    if role is None:
        raise ir.invalid(path + ".role", "is required")
    parts = _content(f.req(message, "content", path + "."), path + ".content")
    if role == "assistant":
        return [ir.Message("assistant", parts)]
    results = [p for p in parts if isinstance(p, ir.ToolResult)]
    rest: list[ir.Part] = [p for p in parts if not isinstance(p, ir.ToolResult)]
    out = [ir.Message("tool", [r]) for r in results]
    if rest:
        out.append(ir.Message("user", rest))
    return out


def _system(raw: Any) -> list[ir.Message]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [ir.Message("system", [ir.Text(raw)])]
    return [ir.Message("system", _content(raw, "system"))]


def _tool(raw: Any, path: str) -> ir.Tool:
    tool = f.obj(raw, path)
    kind = tool.get("type", "custom")
    name = f.string(tool, "name", path + ".", required=True)
    if kind not in ("custom", None):
        return ir.Tool(name=name, kind="server", extra=tool)
    return ir.Tool(
        name=name,
        description=f.string(tool, "description", path + "."),
        parameters=f.mapping(tool, "input_schema", path + "."),
        strict=f.boolean(tool, "strict", path + "."),
        extra=f.rest(tool, frozenset({"name", "description", "input_schema", "strict", "type"})),
    )


def _tool_choice(raw: Any) -> tuple[ir.ToolChoice, bool | None]:
    choice = f.obj(raw, "tool_choice")
    kind = f.choice(choice, "type", ("auto", "any", "tool", "none"), "tool_choice.")
    disable_parallel = f.boolean(choice, "disable_parallel_tool_use", "tool_choice.")
    parallel = None if disable_parallel is None else not disable_parallel
    if kind == "tool":
        return ir.ToolChoice("required", [f.string(choice, "name", "tool_choice.", required=True)]), parallel
    mode = {"auto": "auto", "any": "required", "none": "none", None: "auto"}[kind]
    return ir.ToolChoice(mode), parallel  # type: ignore[arg-type]  # a str checked against the Literal's values


def _format(raw: Any, path: str) -> ir.ResponseFormat:
    fmt = f.obj(raw, path)
    if f.string(fmt, "type", path + ".") != "json_schema":
        raise ir.invalid(path + ".type", "must be json_schema")
    return ir.ResponseFormat("json_schema", schema=f.mapping(fmt, "schema", path + "."), name="response")


def decode_messages_request(body: Any, headers: Mapping[bytes, bytes], count: bool = False) -> ir.ChatRequest:
    body = f.obj(body, "body")
    model = f.string(body, "model", required=True)
    max_tokens = f.integer(body, "max_tokens", minimum=1)
    if max_tokens is None and not count:
        raise ir.invalid("max_tokens", "is required")
    raw_messages = f.array(body, "messages", required=True)
    messages = _system(body.get("system"))
    for i, m in enumerate(raw_messages):
        messages.extend(_message(m, f"messages[{i}]"))
    tools = f.array(body, "tools")
    choice, parallel = _tool_choice(body["tool_choice"]) if body.get("tool_choice") is not None else (None, None)
    thinking = f.mapping(body, "thinking")
    output = f.mapping(body, "output_config") or {}
    effort = f.choice(output, "effort", ("low", "medium", "high", "xhigh", "max"), "output_config.")
    budget_tokens = None
    if thinking is not None:
        mode = f.choice(thinking, "type", ("enabled", "adaptive", "disabled"), "thinking.")
        if mode == "enabled":
            budget_tokens = f.integer(thinking, "budget_tokens", "thinking.", minimum=MIN_BUDGET)
            if budget_tokens is None:
                raise ir.invalid("thinking.budget_tokens", "is required when thinking is enabled")
        elif mode == "disabled":
            effort = "none"
        elif effort is None:
            effort = "medium"
    fmt_path = "output_config.format" if output.get("format") is not None else "output_format"
    fmt_raw = output.get("format") if output.get("format") is not None else body.get("output_format")
    metadata = f.mapping(body, "metadata") or {}
    stop = f.array(body, "stop_sequences")
    if stop is not None and not all(isinstance(s, str) for s in stop):
        raise ir.invalid("stop_sequences", "must be an array of strings")
    beta = headers.get(b"anthropic-beta", b"").decode("latin-1")
    if not (beta.isascii() and beta.isprintable()):  # it goes upstream as a header
        raise ir.invalid("anthropic-beta", "must be printable ASCII")
    return ir.ChatRequest(
        model=model,
        messages=messages,
        dialect=CODEC.name,
        native=body,
        stream=bool(f.boolean(body, "stream")),
        stream_usage=True,
        max_tokens=max_tokens,
        temperature=f.number(body, "temperature"),
        top_p=f.number(body, "top_p"),
        top_k=f.integer(body, "top_k", minimum=0),
        stop=stop,
        tools=[_tool(t, f"tools[{i}]") for i, t in enumerate(tools)] if tools is not None else None,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        response_format=_format(fmt_raw, fmt_path) if fmt_raw is not None else None,
        reasoning_effort=effort,
        reasoning_budget=budget_tokens,
        user=f.string(metadata, "user_id", "metadata."),
        headers={"anthropic-beta": beta} if beta else None,
        extra=f.rest(body, _REQUEST_FIELDS) or {},
    )


# Request: IR -> wire ------------------------------------------------------------------------------


def _blocks_out(parts: list[ir.Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ir.Text):
            if part.text:
                out.append({"type": "text", "text": part.text, **_own(part.extra)})
        elif isinstance(part, ir.Image):
            source = ({"type": "url", "url": part.url} if part.url else
                      {"type": "base64", "media_type": part.media_type or "image/png", "data": part.data})
            out.append({"type": "image", "source": source, **_own(part.extra)})
        elif isinstance(part, ir.File):
            kind = "image" if (part.extra or {}).get("block") == "image" else "document"  # an image by file_id
            out.append({"type": kind, "source": _file_source(part), **_own(part.extra)})
        elif isinstance(part, ir.ToolCall):
            out.append({"type": "tool_use", "id": safe_id(part.id), "name": part.name,
                        "input": f.arguments_object(part.arguments), **_own(part.extra)})
        elif isinstance(part, ir.ToolResult):
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_id(part.call_id),
                                     "content": _blocks_out(part.content) or ""}
            if part.is_error:
                block["is_error"] = True
            out.append({**block, **_own(part.extra)})
        elif isinstance(part, ir.Reasoning) and part.provider == PROVIDER:
            if part.redacted:
                out.append({"type": "redacted_thinking", "data": part.redacted})
            elif part.signature:
                out.append({"type": "thinking", "thinking": part.text, "signature": part.signature})
        elif isinstance(part, ir.Refusal):
            out.append({"type": "text", "text": part.text})
        elif isinstance(part, ir.Opaque) and part.dialect == PROVIDER:
            out.append(part.data)
    return out


def _own(extra: dict[str, Any] | None) -> dict[str, Any]:
    """Block fields only Anthropic has (cache_control, citations, title): kept for Anthropic."""
    if not extra:
        return {}
    return {k: v for k, v in extra.items() if k in ("cache_control", "citations", "title", "context")}


def _file_source(part: ir.File) -> dict[str, Any]:
    if part.extra and "source" in part.extra:
        return part.extra["source"]
    if part.file_id:
        return {"type": "file", "file_id": part.file_id}
    if part.url:
        return {"type": "url", "url": part.url}
    return {"type": "base64", "media_type": part.media_type or "application/pdf", "data": part.data}


def _turns(messages: list[ir.Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System blocks and alternating turns: tool results open the user turn that follows them."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            system.extend(_blocks_out(message.parts))
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks_out(message.parts)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            previous = turns[-1]["content"]
            if message.role == "tool":
                results = [b for b in previous if b["type"] == "tool_result"]
                previous[:] = results + blocks + [b for b in previous if b["type"] != "tool_result"]
            else:
                previous.extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def encode_messages_request(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    system, turns = _turns(req.messages)
    thinking_budget = budget(req)
    max_tokens = req.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": turns}
    if req.response_format is not None and req.response_format.type == "json_object":
        system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    if system:
        body["system"] = system
    if thinking_budget:
        thinking_budget = max(thinking_budget, MIN_BUDGET)
        body["max_tokens"] = max(max_tokens, thinking_budget + 1024)  # budget must stay below max_tokens
        body["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    if req.stream:
        body["stream"] = True
    if req.temperature is not None and not thinking_budget:
        body["temperature"] = min(max(req.temperature, 0.0), 1.0)
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.top_k is not None and not thinking_budget:
        body["top_k"] = req.top_k
    if req.stop:
        body["stop_sequences"] = req.stop
    allowed = req.tool_choice.names if req.tool_choice and req.tool_choice.mode != "none" else None
    # An allowed subset has no Anthropic form (Messages API reference, `tool_choice`: auto, any, tool, none)
    # but a shorter tools list.
    tools = [_tool_out(t) for t in req.tools or () if not allowed or t.name in allowed or t.kind == "server"]
    if tools:
        body["tools"] = tools
    choice = _tool_choice_out(req, bool(thinking_budget))
    if choice is not None and (tools or choice["type"] == "none"):
        body["tool_choice"] = choice
    if req.response_format is not None and req.response_format.type == "json_schema":
        body["output_config"] = {"format": {"type": "json_schema", "schema": req.response_format.schema or {}}}
    if req.user:
        body["metadata"] = {"user_id": req.user}
    return body


def _tool_out(tool: ir.Tool) -> dict[str, Any]:
    if tool.kind == "server":
        return dict(tool.extra or {})
    out: dict[str, Any] = {"name": tool.name, "input_schema": tool.parameters or {"type": "object", "properties": {}}}
    if tool.description is not None:
        out["description"] = tool.description
    if tool.strict is not None:
        out["strict"] = tool.strict
    return {**out, **_own(tool.extra)}


def _tool_choice_out(req: ir.ChatRequest, thinking: bool) -> dict[str, Any] | None:
    choice = req.tool_choice
    if choice is None and req.parallel_tool_calls is None:
        return None
    if choice is None or choice.mode == "auto" or thinking:  # thinking allows only auto and none
        out: dict[str, Any] = {"type": "none" if choice and choice.mode == "none" else "auto"}
    elif choice.mode == "none":
        out = {"type": "none"}
    elif choice.names and len(choice.names) == 1:
        out = {"type": "tool", "name": choice.names[0]}
    else:
        out = {"type": "any"}
    if req.parallel_tool_calls is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


# Response -----------------------------------------------------------------------------------------


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    read = raw.get("cache_read_input_tokens") or 0
    write = raw.get("cache_creation_input_tokens") or 0
    details = raw.get("output_tokens_details") or {}
    return ir.Usage(
        input_tokens=(raw.get("input_tokens") or 0) + read + write,
        output_tokens=raw.get("output_tokens") or 0,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=details.get("thinking_tokens") or 0,
    )


def encode_usage(usage: ir.Usage) -> dict[str, Any]:
    return {
        "input_tokens": max(usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def _part_of_block(block: dict[str, Any], model: str | None) -> ir.Part | None:
    kind = block.get("type")
    if kind == "text":
        citations = block.get("citations")
        return ir.Text(block.get("text", ""), {"citations": citations} if citations else None)
    if kind == "thinking":
        return ir.Reasoning(text=block.get("thinking", ""), signature=block.get("signature"), provider=PROVIDER,
                            model=model)
    if kind == "redacted_thinking":
        return ir.Reasoning(redacted=block.get("data"), provider=PROVIDER, model=model)
    if kind == "tool_use":
        return ir.ToolCall(id=block.get("id", ""), name=block.get("name", ""),
                           arguments=orjson.dumps(block.get("input") or {}).decode())
    return ir.Opaque(PROVIDER, block) if kind else None


def decode_messages_response(body: Any) -> ir.ChatResponse:
    body = f.obj(body, "response")
    model = body.get("model") or ""
    parts = [p for b in body.get("content") or () if (p := _part_of_block(b, model)) is not None]
    reason = body.get("stop_reason")
    extra = {"stop_sequence": body["stop_sequence"]} if body.get("stop_sequence") else None
    return ir.ChatResponse(
        id=body.get("id") or "",
        model=model,
        created=int(time.time()),
        choices=[ir.Choice(0, ir.Message("assistant", parts), _STOP_IN.get(reason, "stop") if reason else None,
                           extra=extra)],
        usage=decode_usage(body.get("usage")),
    )


def _block_of_part(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return {"type": "text", "text": part.text, **_own(part.extra)}
    if isinstance(part, ir.Refusal):
        return {"type": "text", "text": part.text}
    if isinstance(part, ir.ToolCall):
        return {"type": "tool_use", "id": safe_id(part.id), "name": part.name,
                "input": f.arguments_object(part.arguments)}
    if isinstance(part, ir.Reasoning):
        if part.provider != PROVIDER:  # a foreign signature must never come back to Anthropic
            return {"type": "thinking", "thinking": part.text, "signature": ""} if part.text else None
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    if isinstance(part, ir.Opaque) and part.dialect == PROVIDER:
        return part.data
    return None


def encode_messages_response(resp: ir.ChatResponse) -> dict[str, Any]:
    choice = resp.choices[0] if resp.choices else ir.Choice(0, ir.Message("assistant", []), "stop")
    content = [b for p in choice.message.parts if (b := _block_of_part(p)) is not None]
    return {
        "id": _message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": _STOP_OUT.get(choice.finish_reason or "stop", "end_turn"),
        "stop_sequence": (choice.extra or {}).get("stop_sequence"),
        "usage": encode_usage(resp.usage or ir.Usage()),
    }


def _message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else "msg_" + (upstream_id or secrets.token_hex(12))


# Streams ------------------------------------------------------------------------------------------


class MessagesStreamDecoder(StreamDecoder):
    """Anthropic SSE to IR events; `message_delta` usage is cumulative, merged with message_start's."""

    __slots__ = ("_usage", "_tool_index", "_model")

    def __init__(self) -> None:
        super().__init__()
        self._usage: dict[str, Any] = {}
        self._tool_index = -1
        self._model = ""

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for name, data in sse.events(block):
            payload = orjson.loads(data)
            kind = payload.get("type") or name
            if kind == "content_block_delta":
                delta = payload.get("delta") or {}
                dtype = delta.get("type")
                if dtype == "text_delta":
                    out.append(ir.TextDelta(delta.get("text", "")))
                elif dtype == "input_json_delta":
                    out.append(ir.ToolCallDelta(self._tool_index, delta.get("partial_json", "")))
                elif dtype == "thinking_delta":
                    out.append(ir.ReasoningDelta(delta.get("thinking", "")))
                elif dtype == "signature_delta":
                    out.append(ir.ReasoningDelta(signature=delta.get("signature")))
            elif kind == "content_block_start":
                block_ = payload.get("content_block") or {}
                btype = block_.get("type")
                if btype == "tool_use":
                    self._tool_index += 1
                    out.append(ir.ToolCallDelta(self._tool_index, "", id=block_.get("id"), name=block_.get("name")))
                elif btype == "redacted_thinking":
                    out.append(ir.ReasoningDelta(redacted=block_.get("data")))
                elif btype == "text" and block_.get("text"):
                    out.append(ir.TextDelta(block_["text"]))
            elif kind == "message_start":
                message = payload.get("message") or {}
                self._model = message.get("model", "")
                self._usage.update(message.get("usage") or {})
                out.append(ir.StreamStart(message.get("id", ""), self._model, int(time.time())))
            elif kind == "message_delta":
                delta = payload.get("delta") or {}
                self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
                reason = delta.get("stop_reason")
                if reason:
                    out.append(ir.Finish(_STOP_IN.get(reason, "stop"), stop_sequence=delta.get("stop_sequence")))
                out.append(ir.UsageReport(decode_usage(self._usage) or ir.Usage()))
            elif kind == "error":
                err = payload.get("error") if isinstance(payload.get("error"), dict) else {}
                raise _error_of(_STATUS_OF_TYPE.get(str(err.get("type")), 500), payload)


class MessagesStreamEncoder(StreamEncoder):
    """IR events to Anthropic SSE: one content block per run of text, thinking or one tool call."""

    __slots__ = ("_id", "_model", "_started", "_index", "_open", "_tool", "_stop", "_stop_sequence", "_usage")

    def __init__(self) -> None:
        self._id = "msg_" + secrets.token_hex(12)
        self._model = ""
        self._started = False
        self._index = -1
        self._open: str | None = None  # "text", "thinking" or "tool_use"
        self._tool: int | None = None
        self._stop: str | None = None
        self._stop_sequence: str | None = None
        self._usage = ir.Usage()

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**encode_usage(self._usage), "output_tokens": 0}}
        return _event("message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        self._tool = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._start() + self._close()
        self._index += 1
        self._open = kind
        return out + _event("content_block_start", {"type": "content_block_start", "index": self._index,
                                                    "content_block": block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _event("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def encode(self, event: ir.StreamEvent) -> bytes:
        if getattr(event, "choice", 0):
            return b""  # Anthropic has one candidate
        if isinstance(event, ir.TextDelta):
            if not event.text:
                return b""
            head = b"" if self._open == "text" else self._open_block("text", {"type": "text", "text": ""})
            return head + self._delta({"type": "text_delta", "text": event.text})
        if isinstance(event, ir.ToolCallDelta):
            head = b""
            if self._tool != event.index:  # some upstreams repeat the id on every fragment
                block = {"type": "tool_use", "id": safe_id(event.id or f"toolu_{event.index}"),
                         "name": event.name or "", "input": {}}
                head = self._open_block("tool_use", block)
                self._tool = event.index
            if not event.arguments:
                return head
            return head + self._delta({"type": "input_json_delta", "partial_json": event.arguments})
        if isinstance(event, ir.ReasoningDelta):
            # Same-dialect streams pass through, so this upstream is not Anthropic and its opaque
            # state is foreign: the reasoning store carries it; the client sees only the text.
            if not event.text:
                return b""
            head = b"" if self._open == "thinking" else self._open_block(
                "thinking", {"type": "thinking", "thinking": "", "signature": ""})
            return head + self._delta({"type": "thinking_delta", "thinking": event.text})
        if isinstance(event, ir.RefusalDelta):
            return self.encode(ir.TextDelta(event.text))
        if isinstance(event, ir.Finish):
            self._stop = _STOP_OUT.get(event.reason, "end_turn")
            self._stop_sequence = event.stop_sequence
            return self._start() + self._close()
        if isinstance(event, ir.UsageReport):
            self._usage = event.usage
            return b""
        if isinstance(event, ir.StreamStart):
            self._model = event.model
            if event.id:
                self._id = _message_id(event.id)
            return self._start()
        return b""

    def end(self) -> bytes:
        delta = {"stop_reason": self._stop or "end_turn", "stop_sequence": self._stop_sequence}
        return (self._start() + self._close()
                + _event("message_delta", {"type": "message_delta", "delta": delta, "usage": encode_usage(self._usage)})
                + _event("message_stop", {"type": "message_stop"}))

    def error(self, error: ir.GatewayError) -> bytes:
        return _event("error", orjson.loads(encode_error_body(error)))

    def ping(self) -> bytes:
        return PING


PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return sse.frame(orjson.dumps(payload), name)


_USAGE_EVENT = re.compile(rb"message_start|message_delta")


class MessagesPassthrough(Passthrough):
    """Forwards Anthropic SSE unchanged, reading usage from message_start and message_delta."""

    __slots__ = ("_usage",)

    def __init__(self) -> None:
        super().__init__()
        self._usage: dict[str, Any] = {}

    def forward(self, block: bytes) -> bytes:
        self.events += block.count(b"\ndata:")
        if _USAGE_EVENT.search(block):
            for _, data in sse.events(block):
                if b'"message_start"' in data:
                    self._usage.update((orjson.loads(data).get("message") or {}).get("usage") or {})
                elif b'"message_delta"' in data:
                    usage = orjson.loads(data).get("usage") or {}
                    self._usage.update({k: v for k, v in usage.items() if v is not None})
            self.usage = decode_usage(self._usage)
        return block


# Errors -------------------------------------------------------------------------------------------


def encode_error_body(error: ir.GatewayError) -> bytes:
    kind = _ERROR_TYPE.get(error.kind) or ("api_error" if error.status >= 500 else "invalid_request_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": error.message}})


def _error_of(status: int, payload: Any) -> ir.GatewayError:
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict):
        return f.upstream_error(status, f"upstream answered {status}")
    message = str(err.get("message") or err.get("type") or "upstream error")
    if err.get("type") == "overloaded_error":
        status = 529
    return f.upstream_error(status, message)


# Models -------------------------------------------------------------------------------------------


def _card_list(cards: list[ModelCard]) -> dict[str, Any]:
    data = [_card(m) for m in cards]
    return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def _card(card: ModelCard) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(card.created))
    return {"type": "model", "id": card.id, "display_name": card.id, "created_at": created}


# The codec ----------------------------------------------------------------------------------------


class AnthropicMessages(ClientDialect[ir.ChatRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = "anthropic"
    results = {
        ir.ChatResponse: lambda result, request: encode_messages_response(result),
        ir.TokenCount: lambda result, request: {"input_tokens": result.input_tokens},
        ModelList: lambda result, request: _card_list(result.models),
        ModelCard: lambda result, request: _card(result),
    }

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        if path == "/v1/messages":
            return Route(ops.CHAT, {}) if method == "POST" else None
        if path == "/v1/messages/count_tokens":
            return Route(ops.COUNT_TOKENS, {}) if method == "POST" else None
        if method == "GET" and b"anthropic-version" in headers and path.startswith("/v1/models"):
            if path in ("/v1/models", "/v1/models/"):
                return Route(ops.MODELS_LIST, {})
            if path.startswith("/v1/models/"):
                return Route(ops.MODELS_GET, {"model": path[11:]})
        return None

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> ir.ChatRequest:
        return decode_messages_request(body, headers, count=operation is ops.COUNT_TOKENS)

    def stream_encoder(self, request: ir.ChatRequest) -> StreamEncoder:
        return MessagesStreamEncoder()

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return encode_error_body(error)

    def status_of(self, error: ir.GatewayError) -> int:
        return error.status  # 529 overloaded is this dialect's own

    def passthrough(self, request: ir.ChatRequest) -> Passthrough:
        return MessagesPassthrough()

    def usage_of(self, body: Any) -> ir.Usage | None:
        return decode_usage(body.get("usage")) if isinstance(body, dict) else None

    def encode_request(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        return encode_messages_request(request, model)

    def decode_response(self, body: Any) -> ir.ChatResponse:
        return decode_messages_response(body)

    def stream_decoder(self) -> StreamDecoder:
        return MessagesStreamDecoder()

    def decode_error(self, status: int, body: bytes) -> ir.GatewayError:
        return f.error_from_body(status, body, _error_of)


CODEC = AnthropicMessages()
