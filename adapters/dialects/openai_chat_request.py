"""OpenAI Chat Completions requests, both directions: a client's body into the IR, the IR into an
upstream's body (OpenAI's Chat Completions API reference: messages and content parts, tools and
`tool_choice`, `response_format`, reasoning fields).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import prompt_cache, reasoning
from interlingua.adapters.dialects import tools as tools_

NAME = "openai"  # the dialect's name in the IR (`ChatRequest.dialect`)

_REQUEST_FIELDS = frozenset(
    """model messages stream stream_options max_completion_tokens max_tokens temperature top_p stop n
    seed logprobs top_logprobs tools tool_choice parallel_tool_calls response_format reasoning_effort
    verbosity user metadata functions function_call presence_penalty frequency_penalty prompt_cache_options
    web_search_options""".split()
)

_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


# Request: wire -> IR ------------------------------------------------------------------------------


def decode_text_parts(content: Any, path: str) -> list[ir.Part]:
    return f.content(content, path, _part, "content parts")


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
        inline = f.split_data_url(file_data, path + ".file.file_data") if file_data else None
        return ir.File(
            data=inline[1] if inline else None,
            media_type=inline[0] if inline else None,
            file_id=f.string(file, "file_id", path + ".file."),
            filename=f.string(file, "filename", path + ".file."),
            extra=f.rest(part, _FILE_KEYS),
        )
    raise ir.invalid(path + ".type", f"unsupported content part type {kind!r}")


_TEXT_KEYS = frozenset({"type", "text"})
_IMAGE_KEYS = frozenset({"type", "image_url"})
_AUDIO_KEYS = frozenset({"type", "input_audio"})
_FILE_KEYS = frozenset({"type", "file"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "refusal", "tool_call_id", "reasoning_content", "reasoning",
     "thinking_blocks", "function_call"}
)


def decode_tool_call(raw: Any, path: str) -> ir.ToolCall:
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


def decode_reasoning(message: dict[str, Any], path: str) -> list[ir.Part]:
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
    extra = f.rest(message, MESSAGE_KEYS)
    content = message.get("content")
    if role in ("system", "developer", "user"):
        if content is None:
            raise ir.invalid(path + ".content", "is required")
        return ir.Message(role, decode_text_parts(content, path + ".content"), name, extra)  # type: ignore[arg-type]  # a str checked against the Literal's values
    if role == "assistant":
        parts = decode_reasoning(message, path)
        if content is not None:
            parts.extend(decode_text_parts(content, path + ".content"))
        refusal = f.string(message, "refusal", path + ".")
        if refusal:
            parts.append(ir.Refusal(refusal))
        calls = f.array(message, "tool_calls", path + ".") or []
        parts.extend(decode_tool_call(c, f"{path}.tool_calls[{i}]") for i, c in enumerate(calls))
        legacy = f.mapping(message, "function_call", path + ".")
        if legacy:
            called = f.string(legacy, "name", path + ".function_call.", required=True)
            parts.append(ir.ToolCall(id=called, name=called,
                                     arguments=f.string(legacy, "arguments", path + ".function_call.") or ""))
        return ir.Message("assistant", parts, name, extra)
    if role in ("tool", "function"):
        call_id = (f.string(message, "tool_call_id", path + ".", required=True) if role == "tool"
                   else f.string(message, "name", path + ".", required=True))
        result = ir.ToolResult(call_id, decode_text_parts(content if content is not None else "", path + ".content"),
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
        return ir.ToolChoice(raw)  # type: ignore[arg-type]  # a str checked against the Literal's values
    choice = f.obj(raw, path)
    if choice.get("type") == "allowed_tools":
        allowed = f.obj(f.req(choice, "allowed_tools", path + "."), path + ".allowed_tools")
        mode = f.choice(allowed, "mode", ("auto", "required"), path + ".allowed_tools.") or "auto"
        tools = f.array(allowed, "tools", path + ".allowed_tools.", required=True)
        names = [_named(f.obj(t, f"{path}.allowed_tools.tools[{i}]"), f"{path}.allowed_tools.tools[{i}]")
                 for i, t in enumerate(tools)]
        return ir.ToolChoice(mode, names)  # type: ignore[arg-type]  # a str checked against the Literal's values
    return ir.ToolChoice("required", [_named(choice, path)])


def _legacy_function_call(raw: Any) -> ir.ToolChoice:
    if isinstance(raw, str):
        return _tool_choice("required" if raw not in ("auto", "none") else raw, "function_call")
    return ir.ToolChoice("required", [f.string(f.obj(raw, "function_call"), "name", "function_call.", required=True)])


def _response_format(raw: Any) -> ir.ResponseFormat:
    fmt = f.obj(raw, "response_format")
    kind = f.choice(fmt, "type", ("text", "json_object", "json_schema"), "response_format.")
    if kind is None:
        raise ir.invalid("response_format.type", "is required")
    if kind != "json_schema":
        return ir.ResponseFormat(kind)  # type: ignore[arg-type]  # a str checked against the Literal's values
    spec = f.obj(f.req(fmt, "json_schema", "response_format."), "response_format.json_schema")
    p = "response_format.json_schema."
    return ir.ResponseFormat(
        "json_schema",
        schema=f.mapping(spec, "schema", p),
        name=f.string(spec, "name", p, required=True),
        description=f.string(spec, "description", p),
        strict=f.boolean(spec, "strict", p),
    )


def sampling_of(body: dict[str, Any]) -> dict[str, Any]:
    """The sampling fields the Chat and the legacy Completions APIs share, as `ChatRequest`'s."""
    return {"temperature": f.number(body, "temperature"), "top_p": f.number(body, "top_p"),
            "presence_penalty": f.number(body, "presence_penalty"),
            "frequency_penalty": f.number(body, "frequency_penalty"), "stop": _stops(body),
            "n": f.integer(body, "n", minimum=1), "seed": f.integer(body, "seed")}


def _stops(body: dict[str, Any]) -> list[str] | None:
    """`stop`: a string or an array of them."""
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise ir.invalid("stop", "must be a string or an array of strings")
    return stop


def decode_chat_request(body: Any) -> ir.ChatRequest:
    body = f.obj(body, "body")
    model = f.string(body, "model", required=True)
    messages = f.array(body, "messages", required=True)
    stream = bool(f.boolean(body, "stream"))
    options = f.mapping(body, "stream_options") or {}
    tools = f.array(body, "tools")
    functions = f.array(body, "functions")
    choice = body.get("tool_choice")
    legacy_choice = body.get("function_call")
    fmt = body.get("response_format")
    metadata = f.mapping(body, "metadata")
    search = f.mapping(body, tools_.CHAT_SEARCH)
    return ir.DeferredChatRequest(
        model=model,
        messages=[],
        dialect=NAME,
        native=body,
        stream=stream,
        stream_usage=bool(f.boolean(options, "include_usage", "stream_options.")),
        max_tokens=f.integer(body, "max_completion_tokens", minimum=1) or f.integer(body, "max_tokens", minimum=1),
        **sampling_of(body),
        logprobs=f.boolean(body, "logprobs"),
        top_logprobs=f.integer(body, "top_logprobs", minimum=0),
        tools=None,
        tool_choice=(_tool_choice(choice) if choice is not None
                     else _legacy_function_call(legacy_choice) if legacy_choice is not None else None),
        parallel_tool_calls=f.boolean(body, "parallel_tool_calls"),
        response_format=_response_format(fmt) if fmt is not None else None,
        reasoning_effort=f.choice(body, "reasoning_effort", _EFFORTS),
        verbosity=f.choice(body, "verbosity", ("low", "medium", "high")),
        user=f.string(body, "user"),
        metadata=metadata,
        prompt_cache=prompt_cache.options(body),
        extra=f.rest(body, _REQUEST_FIELDS) or {},
    ).defer(messages=lambda: [_message(m, f"messages[{i}]") for i, m in enumerate(messages)],
            tools=lambda: _tools(tools, functions, search))


def _tools(tools: list[Any] | None, functions: list[Any] | None,
           search: dict[str, Any] | None) -> list[ir.Tool] | None:
    """The request's tools; its `web_search_options` the hosted web search it asks for, which
    another upstream gets as its own search tool."""
    declared = f.each(tools, "tools", _tool) if tools is not None else f.each(functions, "functions", _function)
    return declared if search is None else [*(declared or ()), tools_.chat_web_search(search)]


# Request: IR -> wire ------------------------------------------------------------------------------


def _own(extra: dict[str, Any] | None, own: bool) -> dict[str, Any]:
    """Fields without a neutral slot go back only to the dialect they came from."""
    return extra if own and extra else {}


def _content_out(parts: Sequence[ir.Part], own: bool) -> str | list[dict[str, Any]]:
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


def encode_tool_call(call: ir.ToolCall) -> dict[str, Any]:
    if call.kind == "custom":
        return {"id": call.id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _message_out(message: ir.Message, own: bool) -> list[dict[str, Any]]:
    if message.role == "tool":
        return _tool_messages(message, own)
    out: dict[str, Any] = {"role": message.role}
    if message.role == "assistant":
        text: list[ir.Part] = []
        refusal: str | None = None
        calls: list[dict[str, Any]] = []
        reasoning: list[ir.Reasoning] = []
        for part in message.parts:  # one pass: a coding agent's history has hundreds of these
            if isinstance(part, ir.Text):
                text.append(part)
            elif isinstance(part, ir.ToolCall):
                calls.append(encode_tool_call(part))
            elif isinstance(part, ir.Reasoning):
                reasoning.append(part)
            elif isinstance(part, ir.Refusal) and refusal is None:
                refusal = part.text
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
            content = tools_.failed_output(content if isinstance(content, str) else "".join(p.text for p in texts))
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
    allowed = [named(n) for n in choice.names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": choice.mode, "tools": allowed}}


def _response_format_out(fmt: ir.ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    spec: dict[str, Any] = {"name": fmt.name or "response"}
    for key, value in (("description", fmt.description), ("schema", fmt.schema), ("strict", fmt.strict)):
        if value is not None:
            spec[key] = value
    return {"type": "json_schema", "json_schema": spec}


def encode_chat_request(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    own = req.dialect == NAME
    # The client's `web_search_options`, its own field again (another dialect's search tool has none here)
    searched = next((t for t in req.tools or () if own and t.kind == "server"
                     and tools_.CHAT_SEARCH in tools_.hosted_spec(t)), None)
    declared = [t for t in req.tools if t is not searched] if req.tools is not None else None
    if searched is not None and not declared:  # the search was the only "tool": the client sent none
        declared = None
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
        ("top_k", req.top_k),  # not OpenAI's, but vLLM's, llama.cpp's and Ollama's: see the README
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
        ("stop", req.stop),
        ("n", req.n),
        ("seed", req.seed),
        ("logprobs", req.logprobs),
        ("top_logprobs", req.top_logprobs if req.logprobs else None),  # the API takes it with `logprobs` only
        ("tools", [_tool_out(t, own) for t in declared] if declared is not None else None),
        ("web_search_options", tools_.hosted_spec(searched)[tools_.CHAT_SEARCH] if searched else None),
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
