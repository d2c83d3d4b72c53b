"""OpenAI Chat Completions (wire-formats.md section 1), both directions.

Reasoning text from OpenAI-compatible servers arrives as `reasoning_content` (DeepSeek, vLLM) or
`reasoning` (OpenRouter); both decode to IR reasoning, and the encoder writes `reasoning_content`.
"""

from __future__ import annotations

import re
import time
from typing import Any, Mapping

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import openai_embeddings as embeddings
from interlingua.adapters.dialects import openai_media as media
from interlingua.adapters.dialects import reasoning, sse
from interlingua.adapters.dialects.base import Codec, ModelCard, ModelList, Passthrough, Route, StreamDecoder, StreamEncoder

_REQUEST_FIELDS = frozenset(
    """model messages stream stream_options max_completion_tokens max_tokens temperature top_p stop n
    seed logprobs top_logprobs tools tool_choice parallel_tool_calls response_format reasoning_effort
    verbosity user metadata functions function_call""".split()
)
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_FINISH_IN = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_FINISH_OUT = {
    "stop": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "context_overflow": "length",
    "pause": "stop",
}
_ERROR_TYPE = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "invalid_request_error",
    "too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "timeout": "timeout_error",
}


# Request: wire -> IR ------------------------------------------------------------------------------


def _text_parts(content: Any, path: str) -> list[ir.Part]:
    if isinstance(content, str):
        return [ir.Text(content)]
    if not isinstance(content, list):
        raise ir.invalid(path, "must be a string or an array of content parts")
    return [_part(p, f"{path}[{i}]") for i, p in enumerate(content)]


def _part(raw: Any, path: str) -> ir.Part:
    part = f.obj(raw, path)
    kind = f.string(part, "type", path + ".", required=True)
    if kind == "text":
        return ir.Text(f.string(part, "text", path + ".", required=False) or "", f.rest(part, _TEXT_KEYS))
    if kind == "refusal":
        return ir.Refusal(f.string(part, "refusal", path + ".") or "")
    if kind == "image_url":
        image = f.obj(f.req(part, "image_url", path + "."), path + ".image_url")
        url = f.string(image, "url", path + ".image_url.", required=True)
        detail = f.string(image, "detail", path + ".image_url.")
        if url.startswith("data:"):
            mime, data = f.split_data_url(url, path + ".image_url.url")
            return ir.Image(data=data, media_type=mime, detail=detail, extra=f.rest(part, _IMAGE_KEYS))
        return ir.Image(url=url, detail=detail, extra=f.rest(part, _IMAGE_KEYS))
    if kind == "input_audio":
        audio = f.obj(f.req(part, "input_audio", path + "."), path + ".input_audio")
        return ir.Audio(
            data=f.string(audio, "data", path + ".input_audio.", required=True),
            format=f.string(audio, "format", path + ".input_audio.", required=True),
            extra=f.rest(part, _AUDIO_KEYS),
        )
    if kind == "file":
        file = f.obj(f.req(part, "file", path + "."), path + ".file")
        file_data = f.string(file, "file_data", path + ".file.")
        mime, data = f.split_data_url(file_data, path + ".file.file_data") if file_data else (None, None)
        return ir.File(
            data=data,
            media_type=mime,
            file_id=f.string(file, "file_id", path + ".file."),
            filename=f.string(file, "filename", path + ".file."),
            extra=f.rest(part, _FILE_KEYS),
        )
    raise ir.invalid(path + ".type", f"unsupported content part type {kind!r}")


_TEXT_KEYS = frozenset({"type", "text"})
_IMAGE_KEYS = frozenset({"type", "image_url"})
_AUDIO_KEYS = frozenset({"type", "input_audio"})
_FILE_KEYS = frozenset({"type", "file"})
_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "refusal", "tool_call_id", "reasoning_content", "reasoning",
     "thinking_blocks", "function_call"}
)


def _tool_call(raw: Any, path: str) -> ir.ToolCall:
    call = f.obj(raw, path)
    kind = call.get("type", "function")
    if kind == "custom":
        custom = f.obj(f.req(call, "custom", path + "."), path + ".custom")
        return ir.ToolCall(
            id=f.string(call, "id", path + ".", required=True),
            name=f.string(custom, "name", path + ".custom.", required=True),
            arguments=f.string(custom, "input", path + ".custom.") or "",
            kind="custom",
        )
    fn = f.obj(f.req(call, "function", path + "."), path + ".function")
    return ir.ToolCall(
        id=f.string(call, "id", path + ".", required=True),
        name=f.string(fn, "name", path + ".function.", required=True),
        arguments=f.string(fn, "arguments", path + ".function.") or "",
    )


def _reasoning_in(message: dict[str, Any], path: str) -> list[ir.Part]:
    blocks = message.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        parts: list[ir.Part] = []
        for i, raw in enumerate(blocks):
            where = f"{path}.thinking_blocks[{i}]."
            block = f.obj(raw, where[:-1])
            # LiteLLM's extension: these are Anthropic's blocks, with Anthropic's signatures.
            if block.get("type") == "redacted_thinking":
                parts.append(ir.Reasoning(redacted=f.string(block, "data", where), provider="anthropic"))
            else:
                signature = f.string(block, "signature", where)
                parts.append(ir.Reasoning(text=f.string(block, "thinking", where) or "", signature=signature,
                                          provider="anthropic" if signature else None))
        return parts
    text = message.get("reasoning_content") or message.get("reasoning")
    return [ir.Reasoning(text=text)] if isinstance(text, str) and text else []


def _message(raw: Any, path: str) -> ir.Message:
    message = f.obj(raw, path)
    role = f.string(message, "role", path + ".", required=True)
    name = f.string(message, "name", path + ".")
    extra = f.rest(message, _MESSAGE_KEYS)
    content = message.get("content")
    if role in ("system", "developer", "user"):
        if content is None:
            raise ir.invalid(path + ".content", "is required")
        return ir.Message(role, _text_parts(content, path + ".content"), name, extra)  # type: ignore[arg-type]
    if role == "assistant":
        parts = _reasoning_in(message, path)
        if content is not None:
            parts.extend(_text_parts(content, path + ".content"))
        refusal = f.string(message, "refusal", path + ".")
        if refusal:
            parts.append(ir.Refusal(refusal))
        calls = f.array(message, "tool_calls", path + ".") or []
        parts.extend(_tool_call(c, f"{path}.tool_calls[{i}]") for i, c in enumerate(calls))
        legacy = f.mapping(message, "function_call", path + ".")
        if legacy:
            called = f.string(legacy, "name", path + ".function_call.", required=True)
            parts.append(ir.ToolCall(id=called, name=called,  # type: ignore[arg-type]
                                     arguments=f.string(legacy, "arguments", path + ".function_call.") or ""))
        return ir.Message("assistant", parts, name, extra)
    if role in ("tool", "function"):
        call_id = (f.string(message, "tool_call_id", path + ".", required=True) if role == "tool"
                   else f.string(message, "name", path + ".", required=True))
        result = ir.ToolResult(call_id, _text_parts(content if content is not None else "", path + ".content"),
                               name=name if role == "tool" else call_id)
        return ir.Message("tool", [result], name, extra)
    raise ir.invalid(path + ".role", "must be one of system, developer, user, assistant, tool")


def _tool(raw: Any, path: str) -> ir.Tool:
    tool = f.obj(raw, path)
    kind = tool.get("type", "function")
    if kind == "custom":
        custom = f.obj(f.req(tool, "custom", path + "."), path + ".custom")
        return ir.Tool(
            name=f.string(custom, "name", path + ".custom.", required=True),
            description=f.string(custom, "description", path + ".custom."),
            kind="custom",
            extra=f.rest(custom, frozenset({"name", "description"})),
        )
    if kind != "function":
        raise ir.invalid(path + ".type", "must be function or custom")
    return _function(f.req(tool, "function", path + "."), path + ".function")


def _function(raw: Any, path: str) -> ir.Tool:
    """A function definition: `tools[i].function`, or a legacy `functions[i]`."""
    fn = f.obj(raw, path)
    return ir.Tool(
        name=f.string(fn, "name", path + ".", required=True),
        description=f.string(fn, "description", path + "."),
        parameters=f.mapping(fn, "parameters", path + "."),
        strict=f.boolean(fn, "strict", path + "."),
        extra=f.rest(fn, frozenset({"name", "description", "parameters", "strict"})),
    )


def _named(raw: dict[str, Any], path: str) -> str:
    kind = f.string(raw, "type", path + ".") or "function"
    inner = f.obj(raw.get(kind) or raw, f"{path}.{kind}")
    return f.string(inner, "name", f"{path}.{kind}.", required=True)


def _tool_choice(raw: Any, path: str = "tool_choice") -> ir.ToolChoice:
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise ir.invalid(path, "must be auto, none, required or an object")
        return ir.ToolChoice(raw)  # type: ignore[arg-type]
    choice = f.obj(raw, path)
    if choice.get("type") == "allowed_tools":
        allowed = f.obj(f.req(choice, "allowed_tools", path + "."), path + ".allowed_tools")
        mode = f.choice(allowed, "mode", ("auto", "required"), path + ".allowed_tools.") or "auto"
        tools = f.array(allowed, "tools", path + ".allowed_tools.", required=True)
        names = [_named(f.obj(t, f"{path}.allowed_tools.tools[{i}]"), f"{path}.allowed_tools.tools[{i}]")
                 for i, t in enumerate(tools)]
        return ir.ToolChoice(mode, names)  # type: ignore[arg-type]
    return ir.ToolChoice("required", [_named(choice, path)])


def _legacy_function_call(raw: Any) -> ir.ToolChoice:
    if isinstance(raw, str):
        return _tool_choice("required" if raw not in ("auto", "none") else raw, "function_call")
    return ir.ToolChoice("required", [f.string(f.obj(raw, "function_call"), "name", "function_call.", True)])


def _response_format(raw: Any) -> ir.ResponseFormat:
    fmt = f.obj(raw, "response_format")
    kind = f.choice(fmt, "type", ("text", "json_object", "json_schema"), "response_format.")
    if kind is None:
        raise ir.invalid("response_format.type", "is required")
    if kind != "json_schema":
        return ir.ResponseFormat(kind)  # type: ignore[arg-type]
    spec = f.obj(f.req(fmt, "json_schema", "response_format."), "response_format.json_schema")
    p = "response_format.json_schema."
    return ir.ResponseFormat(
        "json_schema",
        schema=f.mapping(spec, "schema", p),
        name=f.string(spec, "name", p, required=True),
        description=f.string(spec, "description", p),
        strict=f.boolean(spec, "strict", p),
    )


def decode_chat_request(body: Any) -> ir.ChatRequest:
    body = f.obj(body, "body")
    model = f.string(body, "model", required=True)
    messages = f.array(body, "messages", required=True)
    stream = bool(f.boolean(body, "stream"))
    options = f.mapping(body, "stream_options") or {}
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    elif stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise ir.invalid("stop", "must be a string or an array of strings")
    tools = f.array(body, "tools")
    functions = f.array(body, "functions")
    choice = body.get("tool_choice")
    legacy_choice = body.get("function_call")
    fmt = body.get("response_format")
    metadata = f.mapping(body, "metadata")
    return ir.ChatRequest(
        model=model,  # type: ignore[arg-type]
        messages=[_message(m, f"messages[{i}]") for i, m in enumerate(messages)],  # type: ignore[arg-type]
        dialect=CODEC.name,
        native=body,
        stream=stream,
        stream_usage=bool(f.boolean(options, "include_usage", "stream_options.")),
        max_tokens=f.integer(body, "max_completion_tokens", minimum=1) or f.integer(body, "max_tokens", minimum=1),
        temperature=f.number(body, "temperature"),
        top_p=f.number(body, "top_p"),
        stop=stop,
        n=f.integer(body, "n", minimum=1),
        seed=f.integer(body, "seed"),
        logprobs=f.boolean(body, "logprobs"),
        top_logprobs=f.integer(body, "top_logprobs", minimum=0),
        tools=[_tool(t, f"tools[{i}]") for i, t in enumerate(tools)] if tools is not None else (
            [_function(fn, f"functions[{i}]") for i, fn in enumerate(functions)]
            if functions is not None else None),
        tool_choice=(_tool_choice(choice) if choice is not None
                     else _legacy_function_call(legacy_choice) if legacy_choice is not None else None),
        parallel_tool_calls=f.boolean(body, "parallel_tool_calls"),
        response_format=_response_format(fmt) if fmt is not None else None,
        reasoning_effort=f.choice(body, "reasoning_effort", _EFFORTS),
        verbosity=f.choice(body, "verbosity", ("low", "medium", "high")),
        user=f.string(body, "user"),
        metadata=metadata,  # type: ignore[arg-type]
        extra=f.rest(body, _REQUEST_FIELDS) or {},
    )


# Request: IR -> wire ------------------------------------------------------------------------------


def _own(extra: dict[str, Any] | None, own: bool) -> dict[str, Any]:
    """Fields without a neutral slot go back only to the dialect they came from."""
    return extra if own and extra else {}


def _content_out(parts: list[ir.Part], own: bool) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], ir.Text) and not _own(parts[0].extra, own):
        return parts[0].text
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ir.Text):
            out.append({"type": "text", "text": part.text, **_own(part.extra, own)})
        elif isinstance(part, ir.Image):
            url = part.url or f.data_url(part.media_type or "image/png", part.data or "")
            image: dict[str, Any] = {"url": url}
            if part.detail:
                image["detail"] = part.detail
            out.append({"type": "image_url", "image_url": image, **_own(part.extra, own)})
        elif isinstance(part, ir.Audio):
            out.append({"type": "input_audio", "input_audio": {"data": part.data, "format": part.format},
                        **_own(part.extra, own)})
        elif isinstance(part, ir.File):
            file: dict[str, Any] = {}
            if part.data is not None:
                file["file_data"] = f.data_url(part.media_type or "application/pdf", part.data)
            if part.file_id:
                file["file_id"] = part.file_id
            if part.filename:
                file["filename"] = part.filename
            out.append({"type": "file", "file": file, **_own(part.extra, own)})
        elif isinstance(part, ir.Refusal):
            out.append({"type": "refusal", "refusal": part.text})
    return out


def _tool_call_out(call: ir.ToolCall) -> dict[str, Any]:
    if call.kind == "custom":
        return {"id": call.id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _message_out(message: ir.Message, own: bool) -> list[dict[str, Any]]:
    if message.role == "tool":
        return _tool_messages(message, own)
    out: dict[str, Any] = {"role": message.role}
    if message.role == "assistant":
        text = [p for p in message.parts if isinstance(p, ir.Text)]
        refusal = next((p.text for p in message.parts if isinstance(p, ir.Refusal)), None)
        calls = [_tool_call_out(p) for p in message.parts if isinstance(p, ir.ToolCall)]
        reasoning = [p for p in message.parts if isinstance(p, ir.Reasoning)]
        out["content"] = _content_out(text, own) if text else None
        if refusal is not None:
            out["refusal"] = refusal
        if calls:
            out["tool_calls"] = calls
        if reasoning:
            out["reasoning_content"] = "".join(p.text for p in reasoning)
    else:
        out["content"] = _content_out(message.parts, own)
    if message.name:
        out["name"] = message.name
    out.update(_own(message.extra, own))
    return [out]


def _tool_messages(message: ir.Message, own: bool) -> list[dict[str, Any]]:
    """One tool message per result; images and files, which tool messages cannot hold, follow as
    a user message."""
    out: list[dict[str, Any]] = []
    media: list[ir.Part] = []
    for part in message.parts:
        if not isinstance(part, ir.ToolResult):
            continue
        texts = [p for p in part.content if isinstance(p, ir.Text)]
        media.extend(p for p in part.content if isinstance(p, (ir.Image, ir.File, ir.Audio)))
        content: Any = _content_out(texts, own) if texts else ""
        if part.is_error:
            content = "Error: " + (content if isinstance(content, str) else "".join(p.text for p in texts))
        out.append({"role": "tool", "tool_call_id": part.call_id, "content": content, **_own(message.extra, own)})
    if media:
        out.append({"role": "user", "content": _content_out(media, own)})
    return out


def _tool_out(tool: ir.Tool, own: bool) -> dict[str, Any]:
    if tool.kind == "server":
        raise ir.invalid("tools", f"tool {tool.name!r} is a server tool of another provider; this upstream has none")
    if tool.kind == "custom":
        custom: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            custom["description"] = tool.description
        return {"type": "custom", "custom": {**custom, **_own(tool.extra, own)}}
    fn: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        fn["description"] = tool.description
    if tool.parameters is not None:
        fn["parameters"] = tool.parameters
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {"type": "function", "function": {**fn, **_own(tool.extra, own)}}


def _tool_choice_out(choice: ir.ToolChoice, tools: list[ir.Tool] | None) -> Any:
    if not choice.names:
        return choice.mode
    custom = {t.name for t in tools or () if t.kind == "custom"}

    def named(name: str) -> dict[str, Any]:
        kind = "custom" if name in custom else "function"
        return {"type": kind, kind: {"name": name}}

    if len(choice.names) == 1 and choice.mode == "required":
        return named(choice.names[0])
    tools = [named(n) for n in choice.names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": choice.mode, "tools": tools}}


def _response_format_out(fmt: ir.ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: dict[str, Any] = {"name": fmt.name or "response"}
    for key, value in (("description", fmt.description), ("schema", fmt.schema), ("strict", fmt.strict)):
        if value is not None:
            spec[key] = value
    return {"type": "json_schema", "json_schema": spec}


def encode_chat_request(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    own = req.dialect == CODEC.name
    messages: list[dict[str, Any]] = []
    for message in req.messages:
        messages.extend(_message_out(message, own))
    body: dict[str, Any] = {"model": model, "messages": messages}
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    optional = (
        ("max_completion_tokens", req.max_tokens),
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("stop", req.stop),
        ("n", req.n),
        ("seed", req.seed),
        ("logprobs", req.logprobs),
        ("top_logprobs", req.top_logprobs),
        ("tools", [_tool_out(t, own) for t in req.tools] if req.tools is not None else None),
        ("tool_choice", _tool_choice_out(req.tool_choice, req.tools) if req.tool_choice else None),
        ("parallel_tool_calls", req.parallel_tool_calls),
        ("response_format", _response_format_out(req.response_format) if req.response_format else None),
        ("reasoning_effort", reasoning.effort(req)),
        ("verbosity", req.verbosity),
        ("user", req.user),
        ("metadata", req.metadata),
    )
    for key, value in optional:
        if value is not None:
            body[key] = value
    if own:
        body.update(req.extra)
    return body


# Response -----------------------------------------------------------------------------------------


_DETAILS = ("prompt_tokens_details", "completion_tokens_details")
_NEUTRAL_DETAILS = frozenset({"cached_tokens", "cache_write_tokens", "reasoning_tokens"})


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    # Detail counts with no neutral slot (audio_tokens, accepted_prediction_tokens...) ride in `extra`.
    extra = {key: dict(details) for key, details in zip(_DETAILS, (prompt, completion))
             if isinstance(details, dict) and details.keys() - _NEUTRAL_DETAILS}
    return ir.Usage(
        input_tokens=raw.get("prompt_tokens") or 0,
        output_tokens=raw.get("completion_tokens") or 0,
        cache_read_tokens=prompt.get("cached_tokens") or 0,
        cache_write_tokens=prompt.get("cache_write_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
        extra=extra or None,
    )


def encode_usage(usage: ir.Usage) -> dict[str, Any]:
    kept = usage.extra or {}
    prompt_details: dict[str, int] = {**kept.get("prompt_tokens_details", {}),
                                      "cached_tokens": usage.cache_read_tokens}
    if usage.cache_write_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {**kept.get("completion_tokens_details", {}),
                                      "reasoning_tokens": usage.reasoning_tokens},
    }


def _decode_choice(raw: dict[str, Any]) -> ir.Choice:
    message = raw.get("message") or {}
    parts = _reasoning_in(message, "message")
    content = message.get("content")
    if isinstance(content, str):
        parts.append(ir.Text(content))
    elif isinstance(content, list):
        parts.extend(_text_parts(content, "message.content"))
    if message.get("refusal"):
        parts.append(ir.Refusal(message["refusal"]))
    parts.extend(_tool_call(c, "message.tool_calls") for c in message.get("tool_calls") or ())
    extra = f.rest(message, _MESSAGE_KEYS)
    reason = raw.get("finish_reason")
    return ir.Choice(
        index=raw.get("index", 0),
        message=ir.Message("assistant", parts, extra=extra),
        finish_reason=_FINISH_IN.get(reason, "stop") if reason else None,  # type: ignore[arg-type]
        logprobs=raw.get("logprobs"),
    )


_RESPONSE_KEYS = frozenset({"id", "object", "created", "model", "choices", "usage"})


def decode_chat_response(body: Any) -> ir.ChatResponse:
    body = f.obj(body, "response")
    return ir.ChatResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        created=body.get("created") or int(time.time()),
        choices=[_decode_choice(c) for c in body.get("choices") or ()],
        usage=decode_usage(body.get("usage")),
        extra=f.rest(body, _RESPONSE_KEYS),
    )


def _encode_choice(choice: ir.Choice) -> dict[str, Any]:
    text = "".join(p.text for p in choice.message.parts if isinstance(p, ir.Text))
    has_text = any(isinstance(p, ir.Text) for p in choice.message.parts)
    refusal = next((p.text for p in choice.message.parts if isinstance(p, ir.Refusal)), None)
    reasoning = [p for p in choice.message.parts if isinstance(p, ir.Reasoning)]
    calls = [_tool_call_out(p) for p in choice.message.parts if isinstance(p, ir.ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": text if has_text else None, "refusal": refusal}
    if reasoning:
        message["reasoning_content"] = "".join(p.text for p in reasoning)
    if calls:
        message["tool_calls"] = calls
    if choice.message.extra:
        message.update(choice.message.extra)
    return {
        "index": choice.index,
        "message": message,
        "finish_reason": _FINISH_OUT.get(choice.finish_reason) if choice.finish_reason else None,
        "logprobs": choice.logprobs,
    }


def encode_chat_response(resp: ir.ChatResponse) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created,
        "model": resp.model,
        "choices": [_encode_choice(c) for c in resp.choices],
    }
    if resp.usage is not None:
        body["usage"] = encode_usage(resp.usage)
    if resp.extra:
        body.update(resp.extra)
    return body


# Streams ------------------------------------------------------------------------------------------


class ChatStreamDecoder(StreamDecoder):
    __slots__ = ("_started",)

    def __init__(self) -> None:
        super().__init__()
        self._started = False

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for _, data in sse.events(block):
            if data == b"[DONE]":
                continue
            payload = orjson.loads(data)
            if payload.get("error"):
                raise _error_from_payload(502, payload)
            if not self._started:
                self._started = True
                out.append(ir.StreamStart(payload.get("id", ""), payload.get("model", ""),
                                          payload.get("created") or int(time.time())))
            for choice in payload.get("choices") or ():
                _decode_delta(choice, out)
            usage = decode_usage(payload.get("usage"))
            if usage is not None:
                out.append(ir.UsageReport(usage))


def _decode_delta(choice: dict[str, Any], out: list[ir.StreamEvent]) -> None:
    index = choice.get("index", 0)
    delta = choice.get("delta") or {}
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if reasoning:
        out.append(ir.ReasoningDelta(reasoning, choice=index))
    if delta.get("content"):
        out.append(ir.TextDelta(delta["content"], index, choice.get("logprobs")))
    if delta.get("refusal"):
        out.append(ir.RefusalDelta(delta["refusal"], index))
    for call in delta.get("tool_calls") or ():
        fn = call.get("function") or call.get("custom") or {}
        out.append(ir.ToolCallDelta(
            index=call.get("index", 0),
            arguments=fn.get("arguments") or fn.get("input") or "",
            id=call.get("id"),
            name=fn.get("name"),
            kind="custom" if call.get("type") == "custom" or "custom" in call else "function",
            choice=index,
        ))
    reason = choice.get("finish_reason")
    if reason:
        out.append(ir.Finish(_FINISH_IN.get(reason, "stop"), index))  # type: ignore[arg-type]


def _chunk_head(id: str, model: str, created: int) -> bytes:
    """The fields every chunk repeats, as an open JSON object that each chunk completes."""
    head = {"id": id, "object": "chat.completion.chunk", "created": created, "model": model}
    return orjson.dumps(head)[:-1] + b","


class ChatStreamEncoder(StreamEncoder):
    """IR events to `chat.completion.chunk` SSE, with the usage chunk only when asked for."""

    __slots__ = ("_head", "_usage_wanted", "_usage", "_roles_sent")

    def __init__(self, stream_usage: bool) -> None:
        self._head = _chunk_head("chatcmpl-interlingua", "", int(time.time()))  # until StreamStart
        self._usage_wanted = stream_usage
        self._usage: ir.Usage | None = None
        self._roles_sent: set[int] = set()

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        tail: dict[str, Any] = {"choices": choices}
        if self._usage_wanted:
            tail["usage"] = usage
        return sse.frame(self._head + orjson.dumps(tail)[1:])

    def _delta(self, index: int, delta: dict[str, Any], logprobs: Any = None) -> bytes:
        if index not in self._roles_sent:
            self._roles_sent.add(index)
            delta = {"role": "assistant", **delta}
        choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
        if logprobs is not None:
            choice["logprobs"] = logprobs
        return self._chunk([choice])

    def encode(self, event: ir.StreamEvent) -> bytes:
        if isinstance(event, ir.TextDelta):
            return self._delta(event.choice, {"content": event.text}, event.logprobs)
        if isinstance(event, ir.ToolCallDelta):
            call: dict[str, Any] = {"index": event.index}
            fn: dict[str, Any] = {"arguments": event.arguments}
            if event.id is not None:
                call["id"] = event.id
                call["type"] = event.kind
            if event.name is not None:
                fn["name"] = event.name
            call[event.kind] = fn if event.kind == "function" else {
                k: v for k, v in (("name", event.name), ("input", event.arguments)) if v is not None}
            return self._delta(event.choice, {"tool_calls": [call]})
        if isinstance(event, ir.ReasoningDelta):
            return self._delta(event.choice, {"reasoning_content": event.text}) if event.text else b""
        if isinstance(event, ir.RefusalDelta):
            return self._delta(event.choice, {"refusal": event.text})
        if isinstance(event, ir.Finish):
            first = b"" if event.choice in self._roles_sent else self._delta(event.choice, {})
            reason = _FINISH_OUT.get(event.reason, "stop")
            return first + self._chunk([{"index": event.choice, "delta": {}, "finish_reason": reason}])
        if isinstance(event, ir.UsageReport):
            self._usage = event.usage
            return b""
        if isinstance(event, ir.StreamStart):
            self._head = _chunk_head(event.id, event.model, event.created)
            return b""
        return b""

    def end(self) -> bytes:
        tail = b""
        if self._usage_wanted and self._usage is not None:
            tail = self._chunk([], encode_usage(self._usage))
        return tail + b"data: [DONE]\n\n"

    def error(self, error: ir.GatewayError) -> bytes:
        return sse.frame(encode_error_body(error))


# A key can only appear unescaped outside JSON strings, so this finds a real usage object.
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')


class ChatPassthrough(Passthrough):
    """Forwards upstream chunks whole; strips the usage chunk the gateway asked for on its own."""

    __slots__ = ("_splitter", "_keep_usage", "usage", "events")

    def __init__(self, keep_usage: bool) -> None:
        self._splitter = sse.Splitter()
        self._keep_usage = keep_usage
        self.usage: ir.Usage | None = None
        self.events = 0

    def feed(self, chunk: bytes) -> bytes:
        block = self._splitter.feed(chunk)
        self.events += block.count(b"data:")
        if _USAGE_OBJECT.search(block) is None:
            return block
        out: list[bytes] = []
        for _, data in sse.events(block):
            if _USAGE_OBJECT.search(data):
                payload = orjson.loads(data)
                self.usage = decode_usage(payload.get("usage")) or self.usage
                if not self._keep_usage:
                    if not payload.get("choices"):
                        continue
                    payload["usage"] = None
                    data = orjson.dumps(payload)
            out.append(sse.frame(data))
        return b"".join(out)

    def close(self) -> bytes:
        return self.feed(self._splitter.flush())


# Errors -------------------------------------------------------------------------------------------


def encode_error_body(error: ir.GatewayError) -> bytes:
    return orjson.dumps({"error": {
        "message": error.message,
        "type": _ERROR_TYPE.get(error.kind, "server_error" if error.status >= 500 else "invalid_request_error"),
        "param": error.param,
        "code": error.code,
    }})


def _error_from_payload(status: int, payload: Any) -> ir.GatewayError:
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or err.get("type") or "upstream error")
        return f.upstream_error(status, message, param=err.get("param"), code=err.get("code"))
    if isinstance(err, str):
        return f.upstream_error(status, err)
    return f.upstream_error(status, f"upstream answered {status}")


# The codec ----------------------------------------------------------------------------------------

# Audio and images (openai_media.py): answers pass through in the upstream's own media type; a Gemini
# image model's come as IR.
_MEDIA_ROUTES = {"/v1/audio/speech": "audio.speech", "/v1/audio/transcriptions": "audio.transcriptions",
                 "/v1/images/generations": "images.generations", "/v1/images/edits": "images.edits"}


class OpenAIChat(Codec):
    name = "openai"

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        if path == "/v1/chat/completions":
            return Route("chat", {}) if method == "POST" else None
        if path == "/v1/embeddings":
            return Route("embeddings", {}) if method == "POST" else None
        if path in _MEDIA_ROUTES:
            return Route(_MEDIA_ROUTES[path], {}) if method == "POST" else None
        if method == "GET" and path.startswith("/v1/models"):
            if path in ("/v1/models", "/v1/models/"):
                return Route("models.list", {})
            if path.startswith("/v1/models/") and len(path) > 11:
                return Route("models.get", {"model": path[11:]})
        return None

    def decode_request(self, operation: str, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> Any:
        if operation == "embeddings":
            return embeddings.decode_embedding_request(body, self.name)
        if operation == "audio.speech":
            return media.decode_speech_request(body, self.name)
        if operation == "audio.transcriptions":
            return media.decode_transcription_request(body, self.name)
        if operation in ("images.generations", "images.edits"):
            return media.decode_image_request(body, self.name, edit=operation == "images.edits")
        return decode_chat_request(body)

    def encode_result(self, result: Any, request: Any) -> bytes:
        if isinstance(result, ir.ChatResponse):
            return orjson.dumps(encode_chat_response(result))
        if isinstance(result, ir.EmbeddingResponse):
            return orjson.dumps(embeddings.encode_embedding_response(result, request))
        if isinstance(result, ir.ImageResponse):
            return orjson.dumps(media.encode_image_response(result, request))
        if isinstance(result, ModelList):
            return orjson.dumps({"object": "list", "data": [_card(m) for m in result.models]})
        if isinstance(result, ModelCard):
            return orjson.dumps(_card(result))
        raise TypeError(f"no OpenAI encoding for {type(result).__name__}")

    def stream_encoder(self, request: Any) -> StreamEncoder:
        if isinstance(request, media.REQUESTS):
            return media.MediaStreamEncoder(request, encode_error_body)
        return ChatStreamEncoder(bool(request.stream_usage))

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return encode_error_body(error)

    def status_of(self, error: ir.GatewayError) -> int:
        return 503 if error.status == 529 else error.status  # 529 is Anthropic's alone

    def passthrough(self, request: Any) -> Passthrough:
        if isinstance(request, media.REQUESTS):
            return media.MediaPassthrough(request)
        return ChatPassthrough(bool(request.stream_usage))

    def usage_of(self, body: Any) -> ir.Usage | None:
        return decode_usage(body.get("usage")) if isinstance(body, dict) else None

    def encode_request(self, request: Any, model: str) -> dict[str, Any]:
        return encode_chat_request(request, model)

    def decode_response(self, body: Any) -> Any:
        return decode_chat_response(body)

    def stream_decoder(self) -> StreamDecoder:
        return ChatStreamDecoder()

    def decode_error(self, status: int, body: bytes) -> ir.GatewayError:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = body[:500].decode(errors="replace").strip()
            return f.upstream_error(status, text or f"upstream answered {status}")
        return _error_from_payload(status, payload)


def _card(card: ModelCard) -> dict[str, Any]:
    return {"id": card.id, "object": "model", "created": card.created, "owned_by": card.owned_by,
            "capabilities": list(card.capabilities)}


CODEC = OpenAIChat()
