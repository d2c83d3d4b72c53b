"""OpenAI Responses (OpenAI's Responses API reference, streaming events included), both directions.

Items map onto IR messages: consecutive assistant output (message, reasoning and function_call
items) becomes one assistant message, each function_call_output one tool message. A reasoning
item's `encrypted_content` is opaque state bound to OpenAI (`Reasoning.signature`, provider
"openai"), sent back only to Responses upstreams. Items only this dialect knows (item references,
compactions, hosted-tool calls) travel as `Opaque` parts. Conversation state (`store`,
`previous_response_id`) is not the codec's business: `middleware/responses_state.py` keeps it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import reasoning, sse
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
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT

PROVIDER = "openai"
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_REQUEST_FIELDS = frozenset(
    """model input instructions tools tool_choice parallel_tool_calls max_output_tokens temperature top_p
    top_logprobs text reasoning stream metadata user safety_identifier""".split()
)
_ROLES = ("user", "assistant", "system", "developer")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


# Request: wire -> IR ------------------------------------------------------------------------------


def _content_part(raw: Any, path: str) -> ir.Part:
    part = f.obj(raw, path)
    kind = f.string(part, "type", path + ".", required=True)
    if kind in ("input_text", "output_text", "text"):
        return ir.Text(f.string(part, "text", path + ".") or "")
    if kind == "refusal":
        return ir.Refusal(f.string(part, "refusal", path + ".") or "")
    if kind == "input_image":
        url = f.string(part, "image_url", path + ".")
        detail = f.string(part, "detail", path + ".")
        if url and url.startswith("data:"):
            mime, data = f.split_data_url(url, path + ".image_url")
            return ir.Image(data=data, media_type=mime, detail=detail)
        if url:
            return ir.Image(url=url, detail=detail)
        file_id = f.string(part, "file_id", path + ".")
        if not file_id:
            raise ir.invalid(path + ".image_url", "an input_image needs image_url or file_id")
        return ir.File(file_id=file_id, media_type="image/*")
    if kind == "input_file":
        file_data = f.string(part, "file_data", path + ".")
        file_type: str | None = None
        if file_data and file_data.startswith("data:"):
            file_type, file_data = f.split_data_url(file_data, path + ".file_data")
        return ir.File(data=file_data, media_type=file_type or ("application/pdf" if file_data else None),
                       url=f.string(part, "file_url", path + "."), file_id=f.string(part, "file_id", path + "."),
                       filename=f.string(part, "filename", path + "."))
    if kind == "input_audio":
        audio = f.obj(f.req(part, "input_audio", path + "."), path + ".input_audio")
        return ir.Audio(data=f.string(audio, "data", path + ".input_audio.", required=True),
                        format=f.string(audio, "format", path + ".input_audio.", required=True))
    raise ir.invalid(path + ".type", f"unsupported content part type {kind!r}")


def _content(raw: Any, path: str) -> list[ir.Part]:
    if isinstance(raw, str):
        return [ir.Text(raw)]
    if not isinstance(raw, list):
        raise ir.invalid(path, "must be a string or an array of content parts")
    return [_content_part(p, f"{path}[{i}]") for i, p in enumerate(raw)]


def _output(raw: Any, path: str) -> list[ir.Part]:
    if isinstance(raw, str) or raw is None:
        return [ir.Text(raw or "")]
    return _content(raw, path)


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
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = f.string(item, "call_id", where + ".", required=True)
            result = ir.ToolResult(call_id, _output(item.get("output"), where + ".output"),
                                   extra={"custom": True} if kind == "custom_tool_call_output" else None)
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
            part = ir.Opaque(CODEC.name, item)
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
    return ir.Tool(name=str(kind), kind="server", extra={"responses": tool})


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


def decode_responses_request(body: Any) -> ir.ChatRequest:
    body = f.obj(body, "body")
    model = f.string(body, "model", required=True)
    raw_input = f.req(body, "input")
    if isinstance(raw_input, str):
        messages = [ir.Message("user", [ir.Text(raw_input)])]
    elif isinstance(raw_input, list):
        messages = decode_items(raw_input)
    else:
        raise ir.invalid("input", "must be a string or an array of items")
    instructions = f.string(body, "instructions")
    if instructions:
        messages.insert(0, ir.Message("developer", [ir.Text(instructions)]))
    tools = f.array(body, "tools")
    text = f.mapping(body, "text") or {}
    effort_config = f.mapping(body, "reasoning") or {}
    choice = body.get("tool_choice")
    f.string(body, "previous_response_id")  # both read by the conversation state layer, from `native`
    f.boolean(body, "store")
    return ir.ChatRequest(
        model=model,
        messages=messages,
        dialect=CODEC.name,
        native=body,
        stream=bool(f.boolean(body, "stream")),
        stream_usage=True,
        max_tokens=f.integer(body, "max_output_tokens", minimum=1),
        temperature=f.number(body, "temperature"),
        top_p=f.number(body, "top_p"),
        top_logprobs=f.integer(body, "top_logprobs", minimum=0),
        tools=[_tool(t, f"tools[{i}]") for i, t in enumerate(tools)] if tools is not None else None,
        tool_choice=_tool_choice(choice) if choice is not None else None,
        parallel_tool_calls=f.boolean(body, "parallel_tool_calls"),
        response_format=_text_format(text),
        reasoning_effort=f.choice(effort_config, "effort", _EFFORTS, "reasoning."),
        verbosity=f.choice(text, "verbosity", ("low", "medium", "high"), "text."),
        user=f.string(body, "safety_identifier") or f.string(body, "user"),
        metadata=f.mapping(body, "metadata"),
        extra=f.rest(body, _REQUEST_FIELDS) or {},
    )


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


def _items_out(message: ir.Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "custom_tool_call_output" if (r.extra or {}).get("custom") else "function_call_output",
                 "call_id": r.call_id,
                 "output": "".join(p.text for p in r.content if isinstance(p, ir.Text))}
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
            if part.kind == "custom":
                items.append({"type": "custom_tool_call", "call_id": part.id, "name": part.name,
                              "input": part.arguments})
            else:
                items.append({"type": "function_call", "call_id": part.id, "name": part.name,
                              "arguments": part.arguments})
        elif isinstance(part, ir.Reasoning):
            if part.provider == PROVIDER and part.signature:
                flush()
                item: dict[str, Any] = {"type": "reasoning", "summary": _summary(part.text),
                                        "encrypted_content": part.signature}
                if part.extra and part.extra.get("id"):
                    item["id"] = part.extra["id"]
                items.append(item)
        elif isinstance(part, ir.Opaque):
            if part.dialect == CODEC.name:
                flush()
                items.append(part.data)
        else:
            pending.append(part)
    flush()
    return items


def _summary(text: str) -> list[dict[str, Any]]:
    return [{"type": "summary_text", "text": text}] if text else []


def _tool_out(tool: ir.Tool) -> dict[str, Any]:
    if tool.kind == "server":
        if tool.extra and "responses" in tool.extra:
            return tool.extra["responses"]
        raise ir.invalid("tools", f"tool {tool.name!r} is a server tool of another provider; this upstream has none")
    if tool.kind == "custom":
        return {"type": "custom", "name": tool.name, **({"description": tool.description} if tool.description else {}),
                **(tool.extra or {})}
    out: dict[str, Any] = {"type": "function", "name": tool.name, "parameters": tool.parameters,
                           "strict": bool(tool.strict)}  # Responses defaults to strict: say false plainly
    if tool.description is not None:
        out["description"] = tool.description
    return out


def _tool_choice_out(choice: ir.ToolChoice) -> Any:
    if not choice.names:
        return choice.mode
    if len(choice.names) == 1 and choice.mode == "required":
        return {"type": "function", "name": choice.names[0]}
    return {"type": "allowed_tools", "mode": choice.mode,
            "tools": [{"type": "function", "name": n} for n in choice.names]}


def encode_responses_request(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for message in req.messages:
        items.extend(_items_out(message))
    body: dict[str, Any] = {"model": model, "input": items, "store": False,
                            "include": ["reasoning.encrypted_content"]}
    if req.stream:
        body["stream"] = True
    for key, value in (("max_output_tokens", req.max_tokens), ("temperature", req.temperature), ("top_p", req.top_p),
                       ("top_logprobs", req.top_logprobs), ("parallel_tool_calls", req.parallel_tool_calls),
                       ("metadata", req.metadata), ("safety_identifier", req.user)):
        if value is not None:
            body[key] = value
    if req.tools:
        body["tools"] = [_tool_out(t) for t in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice_out(req.tool_choice)
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


# Response -----------------------------------------------------------------------------------------


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    details_in = raw.get("input_tokens_details") or {}
    details_out = raw.get("output_tokens_details") or {}
    return ir.Usage(input_tokens=raw.get("input_tokens") or 0, output_tokens=raw.get("output_tokens") or 0,
                    cache_read_tokens=details_in.get("cached_tokens") or 0,
                    cache_write_tokens=details_in.get("cache_write_tokens") or 0,
                    reasoning_tokens=details_out.get("reasoning_tokens") or 0)


def encode_usage(usage: ir.Usage) -> dict[str, Any]:
    return {"input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cache_read_tokens,
                                     "cache_write_tokens": usage.cache_write_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def _finish(body: Mapping[str, Any], parts: list[ir.Part]) -> ir.FinishReason:
    if body.get("status") == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if any(isinstance(p, ir.ToolCall) for p in parts) else "stop"


def decode_responses_response(body: Any) -> ir.ChatResponse:
    body = f.obj(body, "response")
    messages = decode_items(body.get("output") or [], "output")
    parts = [p for m in messages for p in m.parts]
    return ir.ChatResponse(id=body.get("id") or "", model=body.get("model") or "",
                           created=int(body.get("created_at") or time.time()),
                           choices=[ir.Choice(0, ir.Message("assistant", parts), _finish(body, parts))],
                           usage=decode_usage(body.get("usage")))


def _output_items(parts: list[ir.Part]) -> list[dict[str, Any]]:
    """IR output as Responses items, with the ids a client echoes back on the next turn."""
    items: list[dict[str, Any]] = []
    message: dict[str, Any] | None = None
    for part in parts:
        if isinstance(part, (ir.Text, ir.Refusal)):
            if message is None:
                message = {"type": "message", "id": _new_id("msg"), "role": "assistant", "status": "completed",
                           "content": []}
                items.append(message)
            message["content"].append({"type": "output_text", "text": part.text, "annotations": [], "logprobs": []}
                                      if isinstance(part, ir.Text) else {"type": "refusal", "refusal": part.text})
            continue
        message = None
        if isinstance(part, ir.ToolCall):
            if part.kind == "custom":
                items.append({"type": "custom_tool_call", "id": _new_id("ctc"), "call_id": part.id,
                              "name": part.name, "input": part.arguments, "status": "completed"})
            else:
                items.append({"type": "function_call", "id": _new_id("fc"), "call_id": part.id, "name": part.name,
                              "arguments": part.arguments, "status": "completed"})
        elif isinstance(part, ir.Reasoning) and (part.text or part.provider == PROVIDER):
            item = {"type": "reasoning", "id": (part.extra or {}).get("id") or _new_id("rs"),
                    "summary": _summary(part.text)}
            if part.provider == PROVIDER and part.signature:
                item["encrypted_content"] = part.signature
            items.append(item)
        elif isinstance(part, ir.Opaque) and part.dialect == CODEC.name:
            items.append(part.data)
    return items


def response_object(resp_id: str, model: str, created: float, status: str, output: list[dict[str, Any]],
                    usage: ir.Usage | None, request: ir.ChatRequest | None, *, error: Any = None,
                    incomplete: str | None = None) -> dict[str, Any]:
    """A Response object, echoing the request's settings as the API does."""
    native = (request.native if request is not None else None) or {}
    text = dict(native.get("text") or {})
    text.setdefault("format", {"type": "text"})
    return {
        "id": resp_id, "object": "response", "created_at": created, "status": status,
        "completed_at": time.time() if status == "completed" else None,
        "error": error, "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": native.get("instructions"), "max_output_tokens": native.get("max_output_tokens"),
        "model": model, "output": output, "parallel_tool_calls": native.get("parallel_tool_calls", True),
        "previous_response_id": native.get("previous_response_id"),
        "reasoning": native.get("reasoning") or {"effort": None, "summary": None},
        "store": native.get("store", True), "temperature": native.get("temperature"), "text": text,
        "tool_choice": native.get("tool_choice", "auto"), "tools": native.get("tools") or [],
        "top_p": native.get("top_p"), "truncation": native.get("truncation", "disabled"),
        "usage": encode_usage(usage) if usage is not None else None, "metadata": native.get("metadata") or {},
    }


def _response_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("resp_") else _new_id("resp")


def encode_responses_response(resp: ir.ChatResponse, request: ir.ChatRequest | None) -> dict[str, Any]:
    choice = resp.choices[0] if resp.choices else ir.Choice(0, ir.Message("assistant", []), "stop")
    incomplete = {"length": "max_output_tokens", "context_overflow": "max_output_tokens",
                  "content_filter": "content_filter"}.get(choice.finish_reason or "")
    return response_object(_response_id(resp.id), resp.model, resp.created, "incomplete" if incomplete else "completed",
                           _output_items(choice.message.parts), resp.usage, request, incomplete=incomplete)


# Streams ------------------------------------------------------------------------------------------


class ResponsesStreamDecoder(StreamDecoder):
    """Responses SSE to IR events; a function call's index is its position among the call items."""

    __slots__ = ("_tools", "_calls")

    def __init__(self) -> None:
        super().__init__()
        self._tools: dict[str, int] = {}
        self._calls = False

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for _, data in sse.events(block):
            if data == b"[DONE]":
                continue
            event = orjson.loads(data)
            kind = event.get("type")
            if kind == "response.output_text.delta":
                out.append(ir.TextDelta(event.get("delta", ""), logprobs=event.get("logprobs") or None))
            elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
                out.append(ir.ReasoningDelta(event.get("delta", "")))
            elif kind == "response.refusal.delta":
                out.append(ir.RefusalDelta(event.get("delta", "")))
            elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
                index = self._tools.get(event.get("item_id", ""))
                if index is not None:
                    out.append(ir.ToolCallDelta(index, event.get("delta", "")))
            elif kind == "response.output_item.added":
                self._item_added(event.get("item") or {}, out)
            elif kind == "response.output_item.done":
                item = event.get("item") or {}
                if item.get("type") == "reasoning" and item.get("encrypted_content"):
                    out.append(ir.ReasoningDelta(signature=item["encrypted_content"]))
            elif kind == "response.created":
                response = event.get("response") or {}
                out.append(ir.StreamStart(response.get("id", ""), response.get("model", ""),
                                          int(response.get("created_at") or time.time())))
            elif kind in ("response.completed", "response.incomplete"):
                response = event.get("response") or {}
                reason: ir.FinishReason = "tool_calls" if self._calls else "stop"
                if kind == "response.incomplete":
                    why = (response.get("incomplete_details") or {}).get("reason")
                    reason = "content_filter" if why == "content_filter" else "length"
                out.append(ir.Finish(reason))
                usage = decode_usage(response.get("usage"))
                if usage is not None:
                    out.append(ir.UsageReport(usage))
            elif kind in ("response.failed", "error"):
                raise _stream_error(event)

    def _item_added(self, item: dict[str, Any], out: list[ir.StreamEvent]) -> None:
        if item.get("type") in ("function_call", "custom_tool_call"):
            index = len(self._tools)
            self._tools[item.get("id") or str(index)] = index
            self._calls = True
            out.append(ir.ToolCallDelta(index, item.get("arguments") or item.get("input") or "",
                                        id=item.get("call_id"), name=item.get("name"),
                                        kind="custom" if item["type"] == "custom_tool_call" else "function"))


def _stream_error(event: dict[str, Any]) -> ir.GatewayError:
    error = event.get("error") or (event.get("response") or {}).get("error") or event
    message = str(error.get("message") or "upstream failed") if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    status = 429 if code == "rate_limit_exceeded" else 502
    return f.upstream_error(status, message, code=code)


class ResponsesStreamEncoder(StreamEncoder):
    """IR events to the Responses event sequence (section 2.5).

    Each output item opens with `output_item.added` and closes with `output_item.done` before the
    next one opens; `sequence_number` counts every event from 0; the terminal event carries the
    whole response, whose output is exactly the items' done forms.
    """

    __slots__ = ("_request", "_seq", "_id", "_model", "_created", "_items", "_open", "_text", "_usage",
                 "_reason", "_tool_index")

    def __init__(self, request: ir.ChatRequest | None) -> None:
        self._request = request
        self._seq = 0
        self._id = _new_id("resp")
        self._model = request.model if request is not None else ""
        self._created = time.time()
        self._items: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._text = ""
        self._usage: ir.Usage | None = None
        self._reason: ir.FinishReason = "stop"
        self._tool_index: int | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse.frame(orjson.dumps(payload), kind)

    def _response(self, status: str, **kw: Any) -> dict[str, Any]:
        return response_object(self._id, self._model, self._created, status, list(self._items),
                               self._usage if status != "in_progress" else None, self._request, **kw)

    def _start(self) -> bytes:
        if self._seq:
            return b""
        return (self._event("response.created", response=self._response("in_progress"))
                + self._event("response.in_progress", response=self._response("in_progress")))

    def _close(self) -> bytes:
        item = self._open
        if item is None:
            return b""
        self._open = None
        index = len(self._items)
        out = b""
        if item["type"] == "message":
            part = item["content"][0]
            part["text"] = self._text
            out += self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                               text=self._text, logprobs=[])
            out += self._event("response.content_part.done", item_id=item["id"], output_index=index,
                               content_index=0, part=part)
        elif item["type"] == "reasoning":
            if item["summary"]:
                item["summary"][0]["text"] = self._text
                out += self._event("response.reasoning_summary_text.done", item_id=item["id"], output_index=index,
                                   summary_index=0, text=self._text)
                out += self._event("response.reasoning_summary_part.done", item_id=item["id"], output_index=index,
                                   summary_index=0, part=item["summary"][0])
        elif item["type"] == "function_call":
            out += self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                               arguments=item["arguments"], name=item["name"])
        if item["type"] != "reasoning":
            item["status"] = "completed"
        self._items.append(item)
        self._text = ""
        self._tool_index = None
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def _add(self, item: dict[str, Any]) -> bytes:
        out = self._start() + self._close()
        self._open = item
        added = {k: (v if not isinstance(v, list) else []) for k, v in item.items()}
        out += self._event("response.output_item.added", output_index=len(self._items), item=added)
        return out

    def encode(self, event: ir.StreamEvent) -> bytes:
        if getattr(event, "choice", 0):
            return b""
        if isinstance(event, (ir.TextDelta, ir.RefusalDelta)):
            if not event.text:
                return b""
            out = b""
            if self._open is None or self._open["type"] != "message":
                item = {"type": "message", "id": _new_id("msg"), "role": "assistant", "status": "in_progress",
                        "content": [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}]}
                out = self._add(item)
                out += self._event("response.content_part.added", item_id=item["id"], output_index=len(self._items),
                                   content_index=0, part={"type": "output_text", "text": "", "annotations": []})
            self._text += event.text
            return out + self._event("response.output_text.delta", item_id=self._open["id"],  # type: ignore[index]  # the item opened above
                                     output_index=len(self._items), content_index=0, delta=event.text, logprobs=[])
        if isinstance(event, ir.ToolCallDelta):
            out = b""
            if self._tool_index != event.index:
                item = {"type": "function_call", "id": _new_id("fc"), "call_id": event.id or _new_id("call"),
                        "name": event.name or "", "arguments": "", "status": "in_progress"}
                out = self._add(item)
                self._tool_index = event.index
            if not event.arguments:
                return out
            self._open["arguments"] += event.arguments  # type: ignore[index]  # the item opened above
            return out + self._event("response.function_call_arguments.delta", item_id=self._open["id"],  # type: ignore[index]  # the item opened above
                                     output_index=len(self._items), delta=event.arguments)
        if isinstance(event, ir.ReasoningDelta):
            if not event.text:
                return b""  # opaque state from another provider: the reasoning store carries it
            out = b""
            if self._open is None or self._open["type"] != "reasoning":
                item = {"type": "reasoning", "id": _new_id("rs"), "summary": [{"type": "summary_text", "text": ""}]}
                out = self._add(item)
                out += self._event("response.reasoning_summary_part.added", item_id=item["id"],
                                   output_index=len(self._items), summary_index=0,
                                   part={"type": "summary_text", "text": ""})
            self._text += event.text
            return out + self._event("response.reasoning_summary_text.delta", item_id=self._open["id"],  # type: ignore[index]  # the item opened above
                                     output_index=len(self._items), summary_index=0, delta=event.text)
        if isinstance(event, ir.Finish):
            self._reason = event.reason
            return self._start() + self._close()
        if isinstance(event, ir.UsageReport):
            self._usage = event.usage
        elif isinstance(event, ir.StreamStart):
            self._model = event.model or self._model
            return self._start()
        return b""

    def end(self) -> bytes:
        out = self._start() + self._close()
        if self._reason in ("length", "context_overflow", "content_filter"):
            why = "content_filter" if self._reason == "content_filter" else "max_output_tokens"
            return out + self._event("response.incomplete", response=self._response("incomplete", incomplete=why))
        return out + self._event("response.completed", response=self._response("completed"))

    def error(self, error: ir.GatewayError) -> bytes:
        failure = {"code": error.code or "server_error", "message": error.message}
        return (self._start() + self._event("response.failed", response=self._response("failed", error=failure))
                + self._event("error", code=failure["code"], message=error.message, param=error.param))


class ResponsesPassthrough(Passthrough):
    """Forwards Responses SSE unchanged; usage comes with the terminal event."""

    __slots__ = ()

    def forward(self, block: bytes) -> bytes:
        self.events += block.count(b"\ndata:")
        response = final_response(block)
        if response is not None and "usage" in response:
            self.usage = decode_usage(response.get("usage"))
        return block


_TERMINAL = (b'"response.completed"', b'"response.incomplete"')


def final_response(block: bytes) -> dict[str, Any] | None:
    """The Response of a terminal event (`response.completed` or `response.incomplete`) among the
    whole SSE events of `block`; only such an event is parsed."""
    if not any(marker in block for marker in _TERMINAL):
        return None
    for _, data in sse.events(block):
        if any(marker in data for marker in _TERMINAL):
            response = orjson.loads(data).get("response")
            return response if isinstance(response, dict) else {}
    return None


# The codec ----------------------------------------------------------------------------------------


class OpenAIResponses(ClientDialect[ir.ChatRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = "responses"
    results = {
        ir.ChatResponse: encode_responses_response,
        ir.TokenCount: lambda result, request: {"object": "response.input_tokens",
                                                "input_tokens": result.input_tokens},
        ModelList: CHAT.results[ModelList],
        ModelCard: CHAT.results[ModelCard],
    }

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        if not path.startswith("/v1/responses"):
            return None
        rest = path[len("/v1/responses"):].strip("/")
        if not rest:
            return Route(ops.CHAT, {}) if method == "POST" else None
        if rest == "input_tokens":
            return Route(ops.COUNT_TOKENS, {}) if method == "POST" else None
        response_id, _, tail = rest.partition("/")
        if method == "GET" and not tail:
            return Route(ops.RESPONSES_GET, {"id": response_id})
        if method == "DELETE" and not tail:
            return Route(ops.RESPONSES_DELETE, {"id": response_id})
        if method == "GET" and tail == "input_items":
            return Route(ops.RESPONSES_INPUT_ITEMS, {"id": response_id})
        return None

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> ir.ChatRequest:
        if operation is ops.COUNT_TOKENS and isinstance(body, dict) and "input" not in body:
            body = {**body, "input": []}
        return decode_responses_request(body)

    def stream_encoder(self, request: ir.ChatRequest) -> StreamEncoder:
        return ResponsesStreamEncoder(request)

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return CHAT.encode_error(error)

    def passthrough(self, request: ir.ChatRequest) -> Passthrough:
        return ResponsesPassthrough()

    def usage_of(self, body: Any) -> ir.Usage | None:
        return decode_usage(body.get("usage")) if isinstance(body, dict) else None

    def encode_request(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        return encode_responses_request(request, model)

    def decode_response(self, body: Any) -> ir.ChatResponse:
        return decode_responses_response(body)

    def stream_decoder(self) -> StreamDecoder:
        return ResponsesStreamDecoder()

    def decode_error(self, status: int, body: bytes) -> ir.GatewayError:
        return CHAT.decode_error(status, body)


CODEC = OpenAIResponses()
