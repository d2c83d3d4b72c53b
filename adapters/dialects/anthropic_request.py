"""Anthropic Messages requests, both directions: a client's body into the IR, the IR into an
upstream's body (Anthropic's Messages API reference: request fields, content blocks, tools,
`tool_choice`, `thinking`). Answers, streams and the codec are in `anthropic.py`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import prompt_cache, verbosity
from interlingua.adapters.dialects.ids import original_id, safe_id
from interlingua.adapters.dialects.reasoning import MIN_BUDGET, budget

NAME = "anthropic"  # the dialect's name in the IR (`ChatRequest.dialect`)

PROVIDER = "anthropic"

DEFAULT_MAX_TOKENS = 4096

JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

_REQUEST_FIELDS = frozenset(
    """model max_tokens messages system stop_sequences temperature top_p top_k stream tools tool_choice thinking
    output_config output_format metadata context_management""".split()
)


# Request: wire -> IR ------------------------------------------------------------------------------


def _source(block: dict[str, Any], path: str) -> dict[str, Any]:
    return f.obj(f.req(block, "source", path + "."), path + ".source")


def _block(raw: Any, path: str) -> ir.Part:
    block = f.obj(raw, path)
    at = path + "."
    kind = f.string(block, "type", at, required=True)
    extra = f.rest(block, _BLOCK_KEYS.get(kind, _TYPE_ONLY))
    if kind == "text":
        text = f.string(block, "text", at)
        if not text:
            raise ir.invalid(at + "text", "must be a non-empty string")
        return ir.Text(text, extra)
    if kind == "search_result":
        return _readable(block, _texts(block.get("content"), at + "content"), f.string(block, "title", at),
                         f.string(block, "source", at))
    if kind in ("image", "document"):
        source = _source(block, path)
        at_source = at + "source."
        stype = f.choice(source, "type", ("base64", "url", "file", "text", "content"), at_source)
        if kind == "document" and stype in ("text", "content"):
            f.string(source, "media_type", at_source)
            text = (f.string(source, "data", at_source, required=True) if stype == "text"
                    else _texts(source.get("content"), at_source + "content"))
            return _readable(block, text, f.string(block, "title", at), f.string(block, "context", at))
        if stype == "url":
            url = f.string(source, "url", at_source, required=True)
            return ir.Image(url=url, extra=extra) if kind == "image" else ir.File(url=url, extra=extra)
        if stype == "file":
            file_id = f.string(source, "file_id", at_source, required=True)
            return ir.File(file_id=file_id, extra={**(extra or {}), "block": kind})
        if stype == "base64":
            mime = f.string(source, "media_type", at_source, required=True)
            data = f.string(source, "data", at_source, required=True)
            if kind == "image":
                return ir.Image(data=data, media_type=mime, extra=extra)
            return ir.File(data=data, media_type=mime, extra=extra)
        return ir.File(media_type=f.string(source, "media_type", at_source),
                       extra={**(extra or {}), "source": source})
    if kind == "tool_use":
        return ir.ToolCall(
            id=original_id(f.string(block, "id", at, required=True)),
            name=f.string(block, "name", at, required=True),
            arguments=orjson.dumps(f.obj(block.get("input", {}), at + "input")).decode(),
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
            raise ir.invalid(at + "content", "must be a string or an array of blocks")
        return ir.ToolResult(
            call_id=original_id(f.string(block, "tool_use_id", at, required=True)),
            content=parts,
            is_error=bool(f.boolean(block, "is_error", at)),
            extra=extra,
        )
    if kind == "thinking":
        return ir.Reasoning(text=f.string(block, "thinking", at) or "",
                            signature=f.string(block, "signature", at) or None, provider=PROVIDER)
    if kind == "redacted_thinking":
        return ir.Reasoning(redacted=f.string(block, "data", at, required=True), provider=PROVIDER)
    return ir.Opaque(PROVIDER, block)  # server tool use and results, search results, containers...


def _texts(content: Any, path: str) -> str:
    """The text of a block's `content`: a string, or the text blocks of a list."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ir.invalid(path, "must be a string or an array of content blocks")
    blocks = [f.obj(raw, f"{path}[{i}]") for i, raw in enumerate(content)]
    return "\n\n".join(str(b["text"]) for b in blocks if b.get("type") == "text" and b.get("text"))


def _readable(block: dict[str, Any], text: str, *heading: str | None) -> ir.Text:
    """A block whose content is text (a plain-text or custom-content document, a search result):
    the block itself for Anthropic (`BLOCK`), its heading and text for any other dialect, which has no
    such block and would otherwise lose what it says."""
    return ir.Text("\n\n".join(h for h in (*heading, text) if h), {BLOCK: block})


BLOCK = "anthropic_block"  # a Text's Anthropic block, which Anthropic gets back whole
_TYPE_ONLY = frozenset({"type"})
_BLOCK_KEYS = {
    "text": frozenset({"type", "text"}),
    "image": frozenset({"type", "source"}),
    "document": frozenset({"type", "source"}),
    "tool_use": frozenset({"type", "id", "name", "input"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error"}),
}


def _content(content: Any, path: str) -> list[ir.Part]:
    if type(content) is not list:
        return f.content(content, path, _block, "content blocks")
    parts: list[ir.Part] = []
    for i, raw in enumerate(content):
        part = _plain(raw, path, i)
        parts.append(part if part is not None else _block(raw, f"{path}[{i}]"))
    return parts


def _plain(raw: Any, path: str, i: int) -> ir.Part | None:
    """`raw` as `_block` reads it when it has exactly the shape of a coding agent's usual block (a
    text, a tool call, a tool result) and no other field; else None, for `_block` to read it. It
    builds no path for the error messages it cannot have: field by field, a 200 KB turn's blocks
    took 600 µs."""
    if type(raw) is not dict:
        return None
    kind = raw.get("type")
    if kind == "text":
        text = raw.get("text")
        return ir.Text(text) if len(raw) == 2 and type(text) is str and text else None
    if kind == "tool_use":
        call_id, name, arguments = raw.get("id"), raw.get("name"), raw.get("input")
        if len(raw) == 4 and type(call_id) is str and call_id and type(name) is str and name and type(
                arguments) is dict:
            return ir.ToolCall(original_id(call_id), name, orjson.dumps(arguments).decode())
        return None
    if kind == "tool_result":
        call_id, content = raw.get("tool_use_id"), raw.get("content")
        if len(raw) != 3 or type(call_id) is not str or not call_id:
            return None
        if type(content) is str:
            return ir.ToolResult(original_id(call_id), [ir.Text(content)])
        if type(content) is list:
            return ir.ToolResult(original_id(call_id), _content(content, f"{path}[{i}].content"))
    return None


_ROLES = ("user", "assistant")


def _message(raw: Any, path: str) -> list[ir.Message]:
    """One Anthropic message; a user turn's tool results become IR tool messages, first."""
    message = f.obj(raw, path)
    role = message.get("role")
    if role not in _ROLES:
        f.choice(message, "role", _ROLES, path + ".")  # raises what is wrong with it
        raise ir.invalid(path + ".role", "is required")
    content = message.get("content")
    parts = _content(content if content is not None else f.req(message, "content", path + "."), path + ".content")
    if role == "assistant":
        return [ir.Message("assistant", parts)]
    out: list[ir.Message] = []
    rest: list[ir.Part] = []
    for part in parts:
        if isinstance(part, ir.ToolResult):
            out.append(ir.Message("tool", [part]))
        else:
            rest.append(part)
    if rest:
        out.append(ir.Message("user", rest))
    return out


def _system(raw: Any) -> list[ir.Message]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [ir.Message("system", [ir.Text(raw)])]
    return [ir.Message("system", _content(raw, "system"))]


_TOOL_FIELDS = frozenset({"name", "description", "input_schema", "strict", "type"})


def _tool(raw: Any, path: str) -> ir.Tool:
    tool = f.obj(raw, path)
    kind = tool.get("type", "custom")
    at = path + "."
    name = f.string(tool, "mcp_server_name" if kind == "mcp_toolset" else "name", at, required=True)
    if kind not in ("custom", None):
        return ir.Tool(name=name, kind="server", extra=tool)
    return ir.Tool(
        name=name,
        description=f.string(tool, "description", at),
        parameters=f.mapping(tool, "input_schema", at),
        strict=f.boolean(tool, "strict", at),
        extra=f.rest(tool, _TOOL_FIELDS),
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


# The fields of each context edit (the SDK's beta context-management types), and their defaults.
_EDIT_FIELDS = {
    "clear_tool_uses_20250919": frozenset({"type", "trigger", "keep", "clear_at_least", "exclude_tools",
                                           "clear_tool_inputs"}),
    "clear_thinking_20251015": frozenset({"type", "keep"}),
    "compact_20260112": frozenset({"type", "trigger", "instructions", "pause_after_compaction"}),
}
COMPACT_TRIGGER = 150_000


def _amount(edit: dict[str, Any], key: str, path: str, kinds: tuple[str, ...], minimum: int) -> tuple[str, int] | None:
    """A `{type, value}` count such as a trigger or `keep`, or None when it is not given."""
    raw = edit.get(key)
    if raw is None:
        return None
    amount = f.obj(raw, path + key)
    kind = f.choice(amount, "type", kinds, f"{path}{key}.")
    value = f.integer(amount, "value", f"{path}{key}.", minimum=minimum)
    if kind is None or value is None:
        raise ir.invalid(f"{path}{key}.{'type' if kind is None else 'value'}", "is required")
    return kind, value


def _thinking_keep(edit: dict[str, Any], path: str) -> int | None:
    """How many thinking turns to keep: None for all (`"all"` or `{"type": "all"}`), 1 by default."""
    raw = edit.get("keep")
    if raw == "all" or isinstance(raw, dict) and raw.get("type") == "all" and len(raw) == 1:
        return None
    amount = _amount(edit, "keep", path, ("thinking_turns",), 0)
    return 1 if amount is None else amount[1]


def _edit(raw: Any, path: str) -> ir.ContextEdit | ir.Compaction:
    edit = f.obj(raw, path[:-1])
    kind = f.choice(edit, "type", tuple(_EDIT_FIELDS), path)
    if kind is None:
        raise ir.invalid(path + "type", "is required")
    unknown = next((k for k in edit if k not in _EDIT_FIELDS[kind]), None)
    if unknown is not None:
        raise ir.invalid(path + unknown, f"is not a field of {kind}")
    if kind == "clear_thinking_20251015":
        return ir.ClearThinking(_thinking_keep(edit, path))
    if kind == "compact_20260112":
        trigger = _amount(edit, "trigger", path, ("input_tokens",), 1)
        return ir.Compaction(trigger[1] if trigger else COMPACT_TRIGGER, f.string(edit, "instructions", path),
                             bool(f.boolean(edit, "pause_after_compaction", path)))
    given: dict[str, Any] = {"exclude_tools": tuple(f.strings(edit, "exclude_tools", path) or ())}
    if (trigger := _amount(edit, "trigger", path, ("input_tokens", "tool_uses"), 1)) is not None:
        given["trigger"] = trigger
    if (keep := _amount(edit, "keep", path, ("tool_uses",), 0)) is not None:
        given["keep"] = keep[1]
    if (least := _amount(edit, "clear_at_least", path, ("input_tokens",), 0)) is not None:
        given["clear_at_least"] = least[1]
    inputs = edit.get("clear_tool_inputs")
    if inputs is not None:
        given["clear_inputs"] = inputs if isinstance(inputs, bool) else tuple(
            f.strings(edit, "clear_tool_inputs", path) or ())
    return ir.ClearToolUses(**given)


def _context(raw: Any) -> ir.ContextManagement | None:
    """`context_management.edits`, checked as Anthropic checks them: each type at most once."""
    if raw is None:
        return None
    config = f.obj(raw, "context_management")
    context = ir.ContextManagement()
    seen: set[str] = set()
    for i, raw_edit in enumerate(f.array(config, "edits", "context_management.") or ()):
        path = f"context_management.edits[{i}]."
        edit = _edit(raw_edit, path)
        if type(edit).__name__ in seen:
            raise ir.invalid(path + "type", "appears more than once")
        seen.add(type(edit).__name__)
        if isinstance(edit, ir.Compaction):
            context.compaction = edit
        else:
            context.edits.append(edit)
    return context


def decode_messages_request(body: Any, headers: Mapping[bytes, bytes], count: bool = False) -> ir.ChatRequest:
    body = f.obj(body, "body")
    model = f.string(body, "model", required=True)
    max_tokens = f.integer(body, "max_tokens", minimum=1)
    if max_tokens is None and not count:
        raise ir.invalid("max_tokens", "is required")
    raw_messages = f.array(body, "messages", required=True)
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
    return ir.DeferredChatRequest(
        model=model,
        messages=[],
        dialect=NAME,
        native=body,
        stream=bool(f.boolean(body, "stream")),
        stream_usage=True,
        max_tokens=max_tokens,
        temperature=f.number(body, "temperature"),
        top_p=f.number(body, "top_p"),
        top_k=f.integer(body, "top_k", minimum=0),
        stop=stop,
        tools=None,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        response_format=_format(fmt_raw, fmt_path) if fmt_raw is not None else None,
        reasoning_effort=effort,
        reasoning_budget=budget_tokens,
        user=f.string(metadata, "user_id", "metadata."),
        headers={"anthropic-beta": beta} if beta else None,
        context=_context(body.get("context_management")),
        extra=f.rest(body, _REQUEST_FIELDS) or {},
    ).defer(messages=lambda: _messages(body.get("system"), raw_messages), tools=lambda: f.each(tools, "tools", _tool))


def _messages(system: Any, raw_messages: list[Any]) -> list[ir.Message]:
    messages = _system(system)
    for i, m in enumerate(raw_messages):
        messages.extend(_message(m, f"messages[{i}]"))
    return messages


# Request: IR -> wire ------------------------------------------------------------------------------


def _blocks_out(parts: list[ir.Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ir.Text):
            if part.extra and BLOCK in part.extra:
                out.append(part.extra[BLOCK])
            elif part.text:
                out.append({"type": "text", "text": part.text, **own_fields(part.extra)})
        elif isinstance(part, ir.Image):
            source = ({"type": "url", "url": part.url} if part.url else
                      {"type": "base64", "media_type": part.media_type or "image/png", "data": part.data})
            out.append({"type": "image", "source": source, **own_fields(part.extra)})
        elif isinstance(part, ir.File):
            kind = "image" if (part.extra or {}).get("block") == "image" else "document"  # an image by file_id
            out.append({"type": kind, "source": _file_source(part), **own_fields(part.extra)})
        elif isinstance(part, ir.ToolCall):
            out.append({"type": "tool_use", "id": safe_id(part.id), "name": part.name,
                        "input": f.arguments_object(part.arguments), **own_fields(part.extra)})
        elif isinstance(part, ir.ToolResult):
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_id(part.call_id),
                                     "content": _blocks_out(part.content) or ""}
            if part.is_error:
                block["is_error"] = True
            out.append({**block, **own_fields(part.extra)})
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


def own_fields(extra: dict[str, Any] | None) -> dict[str, Any]:
    """Block fields only Anthropic has (cache_control, citations, title): kept for Anthropic."""
    if not extra:
        return {}
    own = {k: v for k, v in extra.items() if k in ("cache_control", "citations", "title", "context")}
    return own if ir.BREAKPOINT not in extra or "cache_control" in own else own | prompt_cache.anthropic_mark(extra)


def _file_source(part: ir.File) -> dict[str, Any]:
    if part.extra and "source" in part.extra:
        return part.extra["source"]
    if part.file_id:
        return {"type": "file", "file_id": part.file_id}
    if part.url:
        return {"type": "url", "url": part.url}
    if part.media_type and part.media_type.startswith("text/") and part.data:
        text = _text_of(part.data)
        if text is not None:  # Anthropic reads base64 only as PDF; text is a source of its own
            return {"type": "text", "media_type": "text/plain", "data": text}
    return {"type": "base64", "media_type": part.media_type or "application/pdf", "data": part.data}


def _text_of(data: str) -> str | None:
    """Base64 of UTF-8 text, decoded; None when it is not (the upstream then says what is wrong)."""
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


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
    wordiness = verbosity.instruction(req)
    if wordiness:
        system.append({"type": "text", "text": wordiness})
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
    if req.dialect != NAME:
        prompt_cache.for_anthropic(body, req.prompt_cache)
    return body


def _tool_out(tool: ir.Tool) -> dict[str, Any]:
    if tool.kind == "server":
        return dict(tool.extra or {})
    out: dict[str, Any] = {"name": tool.name, "input_schema": tool.parameters or {"type": "object", "properties": {}}}
    if tool.description is not None:
        out["description"] = tool.description
    if tool.strict is not None:
        out["strict"] = tool.strict
    return {**out, **own_fields(tool.extra)}


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
