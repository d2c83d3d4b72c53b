"""OpenAI Responses requests, both directions: a client's body into the IR, the IR into an
upstream's body (OpenAI's Responses API reference: input items, tools, `text`, `reasoning`). See
`openai_responses.py` for how items map onto IR messages.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import citations, prompt_cache, reasoning
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.prompt_cache import marked
from interlingua.adapters.dialects.tools import (
    CODE_EXECUTION,
    WEB_SEARCH,
    client_call_of_item,
    client_executed,
    client_function,
    client_result_of_item,
    failed_output,
    hosted_kind,
)

NAME = "responses"  # the dialect's name in the IR (`ChatRequest.dialect`)
LOGPROBS = "message.output_text.logprobs"  # the `include` that asks for the text's log probabilities
SOURCES = "web_search_call.action.sources"  # and the one that asks for the pages a web search found
OUTPUTS = "code_interpreter_call.outputs"  # and the one for what the code interpreter's code printed

PROVIDER = "openai"

_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

_REQUEST_FIELDS = frozenset(
    """model input instructions tools tool_choice parallel_tool_calls max_output_tokens temperature top_p
    top_logprobs text reasoning stream metadata user safety_identifier context_management truncation
    prompt_cache_options""".split()
)

_ROLES = ("user", "assistant", "system", "developer")

IMAGE_FILE = "image/*"  # the media type of an input_image given by file_id: an image of unknown type


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def full_items(raw_input: Any) -> list[Any]:
    """Input items in the full form the API lists them in (a response's `input_items`, a
    conversation's items): messages with their content as parts, every item with an id."""
    items = [{"type": "message", "role": "user", "content": raw_input}] if isinstance(raw_input, str) else list(
        raw_input or ())
    return [_full(item) if isinstance(item, dict) else item for item in items]


def _full(item: dict[str, Any]) -> dict[str, Any]:
    item = {**item}
    if "role" in item:
        item.setdefault("type", "message")
        if isinstance(item.get("content"), str):
            kind = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = [{"type": kind, "text": item["content"]}]
    if item.get("type") == "message":
        item.setdefault("status", "completed")
    item.setdefault("id", new_id("msg"))
    return item


# Request: wire -> IR ------------------------------------------------------------------------------


def _content_part(raw: Any, path: str) -> ir.Part:
    part = f.obj(raw, path)
    kind = f.string(part, "type", path + ".", required=True)
    if kind in ("input_text", "output_text", "text"):
        return ir.Text(f.string(part, "text", path + ".") or "", marked(part, path),
                       citations.from_openai(part.get("annotations")))
    if kind == "refusal":
        return ir.Refusal(f.string(part, "refusal", path + ".") or "")
    if kind == "input_image":
        url = f.string(part, "image_url", path + ".")
        detail = f.string(part, "detail", path + ".")
        mark = marked(part, path)
        if url and url.startswith("data:"):
            mime, data = f.split_data_url(url, path + ".image_url")
            return ir.Image(data=data, media_type=mime, detail=detail, extra=mark)
        if url:
            return ir.Image(url=url, detail=detail, extra=mark)
        file_id = f.string(part, "file_id", path + ".")
        if not file_id:
            raise ir.invalid(path + ".image_url", "an input_image needs image_url or file_id")
        return ir.File(file_id=file_id, media_type=IMAGE_FILE, extra={**({"detail": detail} if detail else {}),
                                                                       **(mark or {})} or None)
    if kind == "input_file":
        file_data = f.string(part, "file_data", path + ".")
        file_type: str | None = None
        if file_data and file_data.startswith("data:"):
            file_type, file_data = f.split_data_url(file_data, path + ".file_data")
        return ir.File(data=file_data, media_type=file_type or ("application/pdf" if file_data else None),
                       url=f.string(part, "file_url", path + "."), file_id=f.string(part, "file_id", path + "."),
                       filename=f.string(part, "filename", path + "."), extra=marked(part, path))
    if kind == "input_audio":
        audio = f.obj(f.req(part, "input_audio", path + "."), path + ".input_audio")
        return ir.Audio(data=f.string(audio, "data", path + ".input_audio.", required=True),
                        format=f.string(audio, "format", path + ".input_audio.", required=True))
    raise ir.invalid(path + ".type", f"unsupported content part type {kind!r}")


def _content(raw: Any, path: str) -> list[ir.Part]:
    return f.content(raw, path, _content_part, "content parts")


def _output(raw: Any, path: str) -> list[ir.Part]:
    if isinstance(raw, str) or raw is None:
        return [ir.Text(raw or "")]
    return _content(raw, path)


def _result(item: dict[str, Any], kind: str, where: str) -> ir.ToolResult | None:
    """A tool's output item as a tool result; None for an item that is no tool's output."""
    if kind not in ("function_call_output", "custom_tool_call_output"):
        return client_result_of_item(item)  # tool_search_output, shell_call_output...
    call_id = f.string(item, "call_id", where + ".", required=True)
    return ir.ToolResult(call_id, _output(item.get("output"), where + ".output"),
                         extra={"custom": True} if kind == "custom_tool_call_output" else None)


def decode_items(items: list[Any], path: str = "input") -> list[ir.Message]:
    """Input items (or stored output items) as IR messages."""
    messages: list[ir.Message] = []

    def assistant() -> ir.Message:
        if not messages or messages[-1].role != "assistant":
            messages.append(ir.Message("assistant", []))
        return messages[-1]

    for i, raw in enumerate(items):
        where = f"{path}[{i}]"
        item = f.obj(raw, where)
        kind = f.string(item, "type", where + ".") or ("message" if "role" in item else None)
        if kind is None:
            raise ir.invalid(where + ".type", "is required")
        if kind == "message":
            role = f.choice(item, "role", _ROLES, where + ".")
            if role is None:
                raise ir.invalid(where + ".role", "is required")
            parts = _content(f.req(item, "content", where + "."), where + ".content")
            if role == "assistant":
                assistant().parts.extend(parts)
            else:
                messages.append(ir.Message(role, parts))  # type: ignore[arg-type]  # a str checked against the Literal's values
        elif kind in ("function_call", "custom_tool_call"):
            custom = kind == "custom_tool_call"
            assistant().parts.append(ir.ToolCall(
                id=f.string(item, "call_id", where + ".", required=True),
                name=f.string(item, "name", where + ".", required=True),
                arguments=f.string(item, "input" if custom else "arguments", where + ".") or "",
                kind="custom" if custom else "function",
                extra={"id": item["id"]} if item.get("id") else None))
        elif (client_call := client_call_of_item(item)) is not None:  # tool_search_call, shell_call...
            assistant().parts.append(client_call)
        elif (result := _result(item, kind, where)) is not None:
            if messages and messages[-1].role == "tool":
                messages[-1].parts.append(result)
            else:
                messages.append(ir.Message("tool", [result]))
        elif kind == "reasoning":
            summary = f.array(item, "summary", where + ".") or []
            text = "".join(f.string(f.obj(s, f"{where}.summary[{j}]"), "text", f"{where}.summary[{j}].") or ""
                           for j, s in enumerate(summary))
            assistant().parts.append(ir.Reasoning(
                text=text, signature=f.string(item, "encrypted_content", where + "."), provider=PROVIDER,
                extra={"id": item["id"]} if item.get("id") else None))
        else:
            part = ir.Opaque(NAME, item)
            if messages and messages[-1].role == "assistant":
                messages[-1].parts.append(part)
            else:
                messages.append(ir.Message("user", [part]))
    return messages


def _tool(raw: Any, path: str) -> ir.Tool:
    tool = f.obj(raw, path)
    kind = tool.get("type")
    if kind == "function":
        strict = f.boolean(tool, "strict", path + ".")
        return ir.Tool(name=f.string(tool, "name", path + ".", required=True),
                       description=f.string(tool, "description", path + "."),
                       parameters=f.mapping(tool, "parameters", path + "."),
                       strict=True if strict is None else strict,
                       extra=f.rest(tool, frozenset({"type", "name", "description", "parameters", "strict"})))
    if kind == "custom":
        return ir.Tool(name=f.string(tool, "name", path + ".", required=True),
                       description=f.string(tool, "description", path + "."), kind="custom",
                       extra=f.rest(tool, frozenset({"type", "name", "description"})))
    if (spec := client_executed(tool)) is not None:
        return client_function(tool, spec)
    return ir.Tool(name=str(kind), kind="server", extra={NAME: tool})


# `tool_choice: {"type": ...}` naming a hosted tool (`ToolChoiceTypes`) or a client-run one by its type.
HOSTED_CHOICES = frozenset({"file_search", "web_search_preview", "web_search_preview_2025_03_11", "computer",
                            "computer_use", "computer_use_preview", "image_generation", "code_interpreter",
                            "apply_patch", "shell"})


def _tool_choice(raw: Any) -> ir.ToolChoice:
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise ir.invalid("tool_choice", "must be auto, none, required or an object")
        return ir.ToolChoice(raw)  # type: ignore[arg-type]  # a str checked against the Literal's values
    choice = f.obj(raw, "tool_choice")
    if choice.get("type") == "allowed_tools":
        mode = f.choice(choice, "mode", ("auto", "required"), "tool_choice.") or "auto"
        tools = f.array(choice, "tools", "tool_choice.", required=True) or []
        names = [name for i, t in enumerate(tools)  # a server tool has no name
                 if (name := f.string(f.obj(t, f"tool_choice.tools[{i}]"), "name", f"tool_choice.tools[{i}]."))]
        return ir.ToolChoice(mode, names)  # type: ignore[arg-type]  # a str checked against the Literal's values
    kind = choice.get("type")
    if isinstance(kind, str) and kind in HOSTED_CHOICES:  # a hosted or client-run tool, by its type: its IR name
        return ir.ToolChoice("required", [kind])
    if choice.get("type") == "mcp":  # a remote MCP server's tool, or any tool when it names none
        f.string(choice, "server_label", "tool_choice.", required=True)
        name = f.string(choice, "name", "tool_choice.")
        return ir.ToolChoice("required", [name] if name else None)
    return ir.ToolChoice("required", [f.string(choice, "name", "tool_choice.", required=True)])


def _text_format(text: Mapping[str, Any]) -> ir.ResponseFormat | None:
    fmt = f.mapping(text, "format", "text.")
    if fmt is None:
        return None
    kind = f.choice(fmt, "type", ("text", "json_object", "json_schema"), "text.format.")
    if kind != "json_schema":
        return ir.ResponseFormat(kind or "text")  # type: ignore[arg-type]  # a str checked against the Literal's values
    return ir.ResponseFormat("json_schema", schema=f.mapping(fmt, "schema", "text.format."),
                             name=f.string(fmt, "name", "text.format.", required=True),
                             description=f.string(fmt, "description", "text.format."),
                             strict=f.boolean(fmt, "strict", "text.format."))


def _context(body: dict[str, Any]) -> ir.ContextManagement | None:
    """`context_management` (compaction entries) and `truncation`, as the API reference has them."""
    truncate = f.choice(body, "truncation", ("auto", "disabled")) == "auto"
    compaction = None
    for i, raw in enumerate(f.array(body, "context_management") or ()):
        entry = f.obj(raw, f"context_management[{i}]")
        if f.choice(entry, "type", ("compaction",), f"context_management[{i}].") is None:
            raise ir.invalid(f"context_management[{i}].type", "is required")
        threshold = f.integer(entry, "compact_threshold", f"context_management[{i}].", minimum=1)
        if threshold is not None:
            compaction = ir.Compaction(threshold)
    return ir.ContextManagement(compaction=compaction, truncate=truncate) if truncate or compaction else None


def decode_responses_request(body: Any) -> ir.ChatRequest:
    body = f.obj(body, "body")
    model = f.string(body, "model", required=True)
    raw_input = f.req(body, "input")
    if not isinstance(raw_input, (str, list)):
        raise ir.invalid("input", "must be a string or an array of items")
    instructions = f.string(body, "instructions")
    tools = f.array(body, "tools")
    text = f.mapping(body, "text") or {}
    effort_config = f.mapping(body, "reasoning") or {}
    choice = body.get("tool_choice")
    f.string(body, "previous_response_id")  # both read by the conversation state layer, from `native`
    f.boolean(body, "store")
    f.integer(body, "max_tool_calls", minimum=0)  # a hosted tool loop's, or the upstream's
    return ir.DeferredChatRequest(
        model=model,
        messages=[],
        dialect=NAME,
        native=body,
        stream=bool(f.boolean(body, "stream")),
        stream_usage=True,
        max_tokens=f.integer(body, "max_output_tokens", minimum=1),
        temperature=f.number(body, "temperature"),
        top_p=f.number(body, "top_p"),
        logprobs=LOGPROBS in (f.strings(body, "include") or ()) or None,
        top_logprobs=f.integer(body, "top_logprobs", minimum=0),
        tools=None,
        tool_choice=_tool_choice(choice) if choice is not None else None,
        parallel_tool_calls=f.boolean(body, "parallel_tool_calls"),
        response_format=_text_format(text),
        reasoning_effort=f.choice(effort_config, "effort", _EFFORTS, "reasoning."),
        verbosity=f.choice(text, "verbosity", ("low", "medium", "high"), "text."),
        user=f.string(body, "safety_identifier") or f.string(body, "user"),
        metadata=f.mapping(body, "metadata"),
        context=_context(body),
        prompt_cache=prompt_cache.options(body),
        extra=f.rest(body, _REQUEST_FIELDS) or {},
    ).defer(messages=lambda: _messages(instructions, raw_input), tools=lambda: f.each(tools, "tools", _tool))


def _messages(instructions: str | None, raw_input: str | list[Any]) -> list[ir.Message]:
    messages = [ir.Message("user", [ir.Text(raw_input)])] if isinstance(raw_input, str) else decode_items(raw_input)
    if instructions:
        messages.insert(0, ir.Message("developer", [ir.Text(instructions)]))
    return messages


# Request: IR -> wire ------------------------------------------------------------------------------


def _content_out(parts: list[ir.Part], role: str) -> list[dict[str, Any]]:
    text_type = "output_text" if role == "assistant" else "input_text"
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ir.Text):
            out.append({"type": text_type, "text": part.text, **({"annotations": []} if role == "assistant" else {})})
        elif isinstance(part, ir.Refusal):
            out.append({"type": "refusal", "refusal": part.text})
        elif isinstance(part, ir.Image):
            image: dict[str, Any] = {"type": "input_image",
                                     "image_url": part.url or f.data_url(part.media_type or "image/png",
                                                                         part.data or "")}
            image["detail"] = part.detail or "auto"
            out.append(image)
        elif isinstance(part, ir.File) and part.file_id and part.media_type == IMAGE_FILE:
            out.append({"type": "input_image", "file_id": part.file_id,
                        "detail": (part.extra or {}).get("detail") or "auto"})
        elif isinstance(part, ir.File):
            file: dict[str, Any] = {"type": "input_file"}
            if part.data is not None:
                file["file_data"] = f.data_url(part.media_type or "application/pdf", part.data)
            for key, value in (("file_id", part.file_id), ("file_url", part.url), ("filename", part.filename)):
                if value:
                    file[key] = value
            out.append(file)
        elif isinstance(part, ir.Audio):
            out.append({"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}})
    return out


def _output_out(result: ir.ToolResult) -> str | list[dict[str, Any]]:
    """A tool's output: its text (a failure's said to be one), or where it holds images or files
    (Claude Code's `Read` of a picture) the list of input parts the API takes there."""
    if all(isinstance(p, ir.Text) for p in result.content):
        text = "".join(p.text for p in result.content if isinstance(p, ir.Text))
        return failed_output(text) if result.is_error else text
    return _content_out(result.content, "user")


def items_out(message: ir.Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [(r.extra or {}).get(NAME) or  # a client-run tool's output item, as the client sent it
                {"type": "custom_tool_call_output" if (r.extra or {}).get("custom") else "function_call_output",
                 "call_id": r.call_id, "output": _output_out(r)}
                for r in message.parts if isinstance(r, ir.ToolResult)]
    items: list[dict[str, Any]] = []
    pending: list[ir.Part] = []

    def flush() -> None:
        content = _content_out(pending, message.role)
        if content:
            items.append({"type": "message", "role": message.role, "content": content})
        pending.clear()

    for part in message.parts:
        if isinstance(part, ir.ToolCall):
            flush()
            if part.extra and NAME in part.extra:  # a client-run tool's call item, as the client sent it
                items.append(part.extra[NAME])
            elif part.kind == "custom":
                items.append({"type": "custom_tool_call", "call_id": part.id, "name": part.name,
                              "input": part.arguments})
            else:
                items.append({"type": "function_call", "call_id": part.id, "name": part.name,
                              "arguments": part.arguments})
        elif isinstance(part, ir.Reasoning):
            if part.provider == PROVIDER and part.signature:
                flush()
                item: dict[str, Any] = {"type": "reasoning", "summary": summary_items(part.text),
                                        "encrypted_content": part.signature}
                if part.extra and part.extra.get("id"):
                    item["id"] = part.extra["id"]
                items.append(item)
        elif isinstance(part, ir.Opaque):
            if part.dialect == NAME:
                flush()
                items.append(part.data)
        else:
            pending.append(part)
    flush()
    return items


def summary_items(text: str) -> list[dict[str, Any]]:
    return [{"type": "summary_text", "text": text}] if text else []


def _tool_out(tool: ir.Tool) -> dict[str, Any]:
    if tool.extra and NAME in tool.extra:  # a hosted or client-run tool of this dialect, as declared
        return dict(tool.extra[NAME])
    if tool.kind == "server":  # `tools.adapt_request` maps or leaves out every other
        raise ir.invalid("tools", f"tool {tool.name!r} is a server tool of another provider; this upstream has none")
    if tool.kind == "custom":
        return {"type": "custom", "name": tool.name, **({"description": tool.description} if tool.description else {}),
                **(tool.extra or {})}
    out: dict[str, Any] = {"type": "function", "name": tool.name, "parameters": tool.parameters,
                           "strict": bool(tool.strict)}  # Responses defaults to strict: say false plainly
    if tool.description is not None:
        out["description"] = tool.description
    return out


def _tool_choice_out(choice: ir.ToolChoice, tools: list[ir.Tool] | None) -> Any:
    if not choice.names:
        return choice.mode
    hosted = {t.name for t in tools or () if t.kind == "server"}

    def named(name: str) -> dict[str, Any]:
        return {"type": name} if name in hosted else {"type": "function", "name": name}

    if len(choice.names) == 1 and choice.mode == "required":
        return named(choice.names[0])
    return {"type": "allowed_tools", "mode": choice.mode, "tools": [named(n) for n in choice.names]}


def encode_responses_request(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for message in req.messages:
        items.extend(items_out(message))
    # A web search's pages and the code interpreter's output, which another dialect's client is
    # shown as its own search's and run's
    hosted = {hosted_kind(t) for t in req.tools or () if t.kind == "server"}
    body: dict[str, Any] = {"model": model, "input": items, "store": False,
                            "include": ["reasoning.encrypted_content", *([LOGPROBS] if req.logprobs else []),
                                        *([SOURCES] if WEB_SEARCH in hosted else []),
                                        *([OUTPUTS] if CODE_EXECUTION in hosted else [])]}
    if req.stream:
        body["stream"] = True
    for key, value in (("max_output_tokens", req.max_tokens), ("temperature", req.temperature), ("top_p", req.top_p),
                       ("top_k", req.top_k), ("top_logprobs", req.top_logprobs),
                       ("parallel_tool_calls", req.parallel_tool_calls), ("metadata", req.metadata),
                       ("safety_identifier", req.user)):
        if value is not None:
            body[key] = value
    if req.tools:
        body["tools"] = [_tool_out(t) for t in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice_out(req.tool_choice, req.tools)
    text: dict[str, Any] = {}
    if req.response_format is not None:
        fmt = req.response_format
        text["format"] = ({"type": fmt.type} if fmt.type != "json_schema" else
                          {"type": "json_schema", "name": fmt.name or "response", "schema": fmt.schema or {},
                           **({"strict": fmt.strict} if fmt.strict is not None else {}),
                           **({"description": fmt.description} if fmt.description else {})})
    if req.verbosity:
        text["verbosity"] = req.verbosity
    if text:
        body["text"] = text
    level = reasoning.effort(req)
    if level is not None:
        body["reasoning"] = {"effort": level, **({"summary": "auto"} if level != "none" else {})}
    return body
