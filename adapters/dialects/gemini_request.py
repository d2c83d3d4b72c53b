"""Gemini generateContent requests, both directions: a client's body into the IR, the IR into an
upstream's body (Google's Gemini API generateContent reference: contents and parts, tools and
`toolConfig`, `generationConfig`, `thinkingConfig`). See `gemini.py` for thought signatures and
function-call ids.
"""

from __future__ import annotations

import base64
import re
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import verbosity
from interlingua.adapters.dialects.ids import new_call_id
from interlingua.adapters.dialects.reasoning import budget, effort
from interlingua.adapters.dialects.schema import from_gemini, to_gemini

NAME = "gemini"  # the dialect's name in the IR (`ChatRequest.dialect`)

PROVIDER = "gemini"

SKIP_SIGNATURE = base64.b64encode(b"skip_thought_signature_validator").decode()

_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}

_DATA_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
                "codeExecutionResult")
_DATA_SPELLINGS = {spelling: name for name in _DATA_FIELDS for spelling in (name, f.snake(name))}

_REQUEST_FIELDS = frozenset({"contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
                             "tool_config", "generationConfig", "generation_config", "model"})

_CONFIG_FIELDS = frozenset({"temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount",
                            "seed", "responseMimeType", "responseSchema", "responseJsonSchema", "thinkingConfig",
                            "responseLogprobs", "logprobs", "presencePenalty", "frequencyPenalty",
                            "responseModalities", "mediaResolution", "speechConfig", "imageConfig",
                            "enableEnhancedCivicAnswers", "audioTranscriptionConfig"})

def g(obj: Mapping[str, Any], camel: str) -> Any:
    """A field by its camelCase name, or the snake_case spelling google-genai sometimes sends."""
    return obj.get(f.spelled(obj, camel))

# Request: wire -> IR ------------------------------------------------------------------------------


def _media(data: dict[str, Any], path: str, inline: bool) -> ir.Part:
    mime = f.string(data, f.spelled(data, "mimeType"), path) or ""
    if inline:
        b64 = f.string(data, "data", path, required=True)
        if mime.startswith("image/"):
            return ir.Image(data=b64, media_type=mime)
        if mime.startswith("audio/"):
            return ir.Audio(data=b64, format=mime.split("/", 1)[1])
        return ir.File(data=b64, media_type=mime)
    uri: str = f.string(data, f.spelled(data, "fileUri"), path, required=True)
    return ir.Image(url=uri, media_type=mime) if mime.startswith("image/") else ir.File(url=uri, media_type=mime)


def _response_content(response: Any) -> list[ir.Part]:
    """A functionResponse's object as tool-result text: its `result`, `output` or `error` alone if
    that is all (an error is flagged as such on the result, so its words need no wrapper)."""
    if isinstance(response, dict) and len(response) == 1:
        (name, value), = response.items()
        if name in ("result", "output", "content", "error"):
            return [ir.Text(value if isinstance(value, str) else orjson.dumps(value).decode())]
    return [ir.Text(orjson.dumps(response).decode())]


def _response_media(response: dict[str, Any], path: str) -> list[ir.Part]:
    """A functionResponse's own media (`parts`, each inline data or a file by URI), as Gemini 3
    takes a tool's images."""
    out: list[ir.Part] = []
    for j, raw in enumerate(f.array(response, "parts", path) or ()):
        at = f"{path}parts[{j}]"
        part = f.obj(raw, at)
        kind = next((k for k in ("inlineData", "fileData") if g(part, k) is not None), None)
        if kind is None:
            raise ir.invalid(at, "a function response's part holds inlineData or fileData")
        inner = f"{at}.{f.spelled(part, kind)}"
        out.append(_media(f.obj(g(part, kind), inner), inner + ".", kind == "inlineData"))
    return out


class CallIds:
    """Ids for function calls that came without one, so their responses can be paired by name: a
    response without an id answers the oldest call of its name not yet answered. In constant time
    a response, since a request may hold a hundred thousand of them (answered in reverse order, a
    list searched and shifted for each took 111 s for 80,000)."""

    def __init__(self) -> None:
        self.calls: dict[str, deque[str]] = {}  # by name, oldest first, answered ones skipped lazily
        self.open: dict[str, Counter[str]] = {}  # by name, the ids not yet answered

    def call(self, name: str, given: str | None) -> str:
        call_id = given or new_call_id()
        self.calls.setdefault(name, deque()).append(call_id)
        self.open.setdefault(name, Counter())[call_id] += 1
        return call_id

    def response(self, name: str, given: str | None) -> str:
        unanswered = self.open.get(name)
        if given:
            if unanswered and unanswered[given] > 0:
                unanswered[given] -= 1
            return given
        queue = self.calls.get(name)
        while queue and unanswered:
            call_id = queue.popleft()
            if unanswered[call_id] > 0:
                unanswered[call_id] -= 1
                return call_id
        return new_call_id()


def decode_part(raw: Any, path: str, calls: CallIds) -> list[ir.Part]:
    part = f.obj(raw, path)
    only = next(iter(part)) if len(part) == 1 else ""
    value = part.get(only)
    if value is not None and only in _DATA_SPELLINGS:  # most parts: one data field and no signature
        if only == "text" and type(value) is str:
            return [ir.Text(value)]
        present = [_DATA_SPELLINGS[only]]
        signature = None
    else:
        present = [k for k in _DATA_FIELDS if g(part, k) is not None]
        if len(present) > 1:
            raise ir.invalid(path, f"a part holds one data field, not {' and '.join(present)}")
        signature = f.string(part, f.spelled(part, "thoughtSignature"), path + ".")
    out: list[ir.Part] = [ir.Reasoning(signature=signature, provider=PROVIDER)] if signature else []
    kind = present[0] if present else None
    inner = f"{path}.{f.spelled(part, kind)}" if kind else path
    if kind == "text":
        text = f.string(part, "text", path + ".") or ""
        if f.boolean(part, "thought", path + "."):
            out.append(ir.Reasoning(text=text, provider=PROVIDER))
        elif text or not signature:
            out.append(ir.Text(text))
    elif kind in ("inlineData", "fileData"):
        out.append(_media(f.obj(g(part, kind), inner), inner + ".", kind == "inlineData"))
    elif kind == "functionCall":
        call = f.obj(g(part, kind), inner)
        name: str = f.string(call, "name", inner + ".", required=True)
        given = f.string(call, "id", inner + ".")
        args = call.get("args") or {}
        out.append(ir.ToolCall(calls.call(name, given), name, orjson.dumps(args).decode(),
                               extra={"gemini_id": True} if given else None))
    elif kind == "functionResponse":
        response = f.obj(g(part, kind), inner)
        name = f.string(response, "name", inner + ".", required=True)
        given = f.string(response, "id", inner + ".")
        body = response.get("response")
        out.append(ir.ToolResult(calls.response(name, given),
                                 _response_content(body) + _response_media(response, inner + "."),
                                 is_error=isinstance(body, dict) and set(body) == {"error"}, name=name,
                                 extra={"gemini_id": True} if given else None))
    elif kind is None and not signature:
        raise ir.invalid(path, "a part needs a data field (text, inlineData, fileData, functionCall, ...)")
    elif kind is not None:
        out.append(ir.Opaque(PROVIDER, part))  # executable code and its results
    return out


def _parts(content: dict[str, Any], path: str, calls: CallIds, required: bool = True) -> list[ir.Part]:
    raw = f.array(content, "parts", path + ".", required=required) or []
    return [p for i, item in enumerate(raw) for p in decode_part(item, f"{path}.parts[{i}]", calls)]


def _contents(raw: list[Any], calls: CallIds) -> list[ir.Message]:
    messages: list[ir.Message] = []
    for i, item in enumerate(raw):
        path = f"contents[{i}]"
        content = f.obj(item, path)
        role = content.get("role") or "user"
        if role not in ("user", "model", "function"):
            raise ir.invalid(path + ".role", "must be user or model")
        parts = _parts(content, path, calls)
        if role == "model":
            messages.append(ir.Message("assistant", parts))
            continue
        results: list[ir.Part] = [p for p in parts if isinstance(p, ir.ToolResult)]
        rest: list[ir.Part] = [p for p in parts if not isinstance(p, ir.ToolResult)]
        if results:
            messages.append(ir.Message("tool", results))
        if rest:
            messages.append(ir.Message("user", rest))
    return messages


def _tools(raw: list[Any]) -> list[ir.Tool]:
    tools: list[ir.Tool] = []
    for i, entry in enumerate(raw):
        tool = f.obj(entry, f"tools[{i}]")
        spelled = f.spelled(tool, "functionDeclarations")
        declarations = f.array(tool, spelled, f"tools[{i}].")
        if declarations is None:
            tools.append(ir.Tool(name=next(iter(tool), "tool"), kind="server", extra={"gemini": tool}))
            continue
        for j, raw_decl in enumerate(declarations):
            path = f"tools[{i}].{spelled}[{j}]"
            decl = f.obj(raw_decl, path)
            # upper-case types happen in `parametersJsonSchema` too (Gemini CLI)
            schema = f.mapping(decl, f.spelled(decl, "parametersJsonSchema"), path + ".")
            schema = f.mapping(decl, "parameters", path + ".") if schema is None else schema
            tools.append(ir.Tool(name=f.string(decl, "name", path + ".", required=True),
                                 description=f.string(decl, "description", path + "."),
                                 parameters=from_gemini(schema) if schema is not None else None))
    return tools


def _tool_choice(body: dict[str, Any]) -> tuple[ir.ToolChoice | None, str | None]:
    outer = f.spelled(body, "toolConfig")
    raw = f.mapping(body, outer) or {}
    inner = f.spelled(raw, "functionCallingConfig")
    config = f.mapping(raw, inner, outer + ".")
    if config is None:
        return None, None
    path = f"{outer}.{inner}."
    mode = (f.string(config, "mode", path) or "AUTO").upper()
    names = f.strings(config, f.spelled(config, "allowedFunctionNames"), path)
    if mode not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        raise ir.invalid(path + "mode", "must be AUTO, ANY, NONE or VALIDATED")
    neutral = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}[mode]
    return ir.ToolChoice(neutral, names or None), mode  # type: ignore[arg-type]  # a str checked against the Literal's values


def _thinking(config: dict[str, Any], at: str) -> tuple[str | None, int | None]:
    spelled = f.spelled(config, "thinkingConfig")
    thinking = f.mapping(config, spelled, at)
    if thinking is None:
        return None, None
    path = at + spelled
    level = f.string(thinking, f.spelled(thinking, "thinkingLevel"), path + ".")
    if level is not None:
        return _LEVELS.get(level.lower(), "medium"), None
    budget_tokens = f.integer(thinking, f.spelled(thinking, "thinkingBudget"), path + ".")
    if budget_tokens is None:
        return None, None
    if budget_tokens == 0:
        return "none", None
    if budget_tokens < 0:
        return "medium", None
    return None, budget_tokens


def _response_format(config: dict[str, Any], at: str) -> ir.ResponseFormat | None:
    if g(config, "responseMimeType") != "application/json":
        return None
    # Gemini CLI sends upper-case types in `responseJsonSchema` (tests/test_gemini_codec.py)
    schema = f.mapping(config, f.spelled(config, "responseJsonSchema"), at)
    schema = f.mapping(config, f.spelled(config, "responseSchema"), at) if schema is None else schema
    if schema is None:
        return ir.ResponseFormat("json_object")
    return ir.ResponseFormat("json_schema", schema=from_gemini(schema), name="response")


def decode_generate_request(body: Any, params: Mapping[str, str], count: bool = False) -> ir.ChatRequest:
    body = f.obj(body, "body")
    if count and isinstance(g(body, "generateContentRequest"), dict):
        body = g(body, "generateContentRequest")
    spelled = f.spelled(body, "systemInstruction")
    system = body.get(spelled)
    contents = f.array(body, "contents", required=True)
    p = f.spelled(body, "generationConfig")
    config = f.mapping(body, p) or {}
    p += "."
    for name in config:
        camel = name if name in _CONFIG_FIELDS else "".join(
            w.capitalize() if i else w for i, w in enumerate(name.split("_")))
        if camel not in _CONFIG_FIELDS:
            raise ir.invalid(p + name, "unknown field")
    reasoning_effort, reasoning_budget = _thinking(config, p)
    choice, mode = _tool_choice(body)
    tools = f.array(body, "tools")
    extra = f.rest(body, _REQUEST_FIELDS) or {}
    if mode == "VALIDATED":
        extra["gemini_mode"] = mode
    return ir.DeferredChatRequest(
        model=params.get("model", ""),
        messages=[],
        dialect=NAME,
        native=body,
        stream=params.get("method") == "streamGenerateContent",
        stream_usage=True,
        max_tokens=f.integer(config, f.spelled(config, "maxOutputTokens"), p, minimum=1),
        temperature=f.number(config, "temperature", p),
        top_p=f.number(config, f.spelled(config, "topP"), p),
        top_k=f.integer(config, f.spelled(config, "topK"), p, minimum=0),
        presence_penalty=f.number(config, f.spelled(config, "presencePenalty"), p),
        frequency_penalty=f.number(config, f.spelled(config, "frequencyPenalty"), p),
        stop=f.strings(config, f.spelled(config, "stopSequences"), p) or None,
        n=f.integer(config, f.spelled(config, "candidateCount"), p, minimum=1),
        seed=f.integer(config, "seed", p),
        logprobs=f.boolean(config, f.spelled(config, "responseLogprobs"), p),
        top_logprobs=f.integer(config, "logprobs", p, minimum=0),
        tools=None,
        tool_choice=choice,
        response_format=None,
        reasoning_effort=reasoning_effort,
        reasoning_budget=reasoning_budget,
        params=dict(params),
        extra=extra,
    ).defer(messages=lambda: _messages(spelled, system, contents), tools=lambda: _tools(tools) if tools else None,
            response_format=lambda: _response_format(config, p))  # its schema is walked: decoded once checked


def _messages(spelled: str, system: Any, contents: list[Any]) -> list[ir.Message]:
    calls = CallIds()
    messages: list[ir.Message] = []
    if system is not None:
        if isinstance(system, str):
            system = {"parts": [{"text": system}]}
        messages.append(ir.Message("system", _parts(f.obj(system, spelled), spelled, calls, required=False)))
    messages.extend(_contents(contents, calls))
    return messages


# Request: IR -> wire ------------------------------------------------------------------------------


def _function_response(result: ir.ToolResult, name: str, media_inside: bool) -> list[dict[str, Any]]:
    """A tool result as a functionResponse part, its media beside it as Gemini CLI sends a tool's
    images: inline media inside the response (`parts`) for a model that takes them there
    (`media_inside`), else after it in the same turn; a file by URI after it always."""
    text = "".join(p.text for p in result.content if isinstance(p, ir.Text))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    if result.is_error:
        response = {"error": value}
    else:
        response = value if isinstance(value, dict) else {"result": value}
    out: dict[str, Any] = {"name": name, "response": response}
    if result.extra and result.extra.get("gemini_id"):
        out["id"] = result.call_id
    inside: list[dict[str, Any]] = []
    beside: list[dict[str, Any]] = []
    for part in result.content:
        if isinstance(part, (ir.Image, ir.File, ir.Audio)):
            media = _media_part(part)
            (inside if media_inside and "inlineData" in media else beside).append(media)
    if inside:
        out["parts"] = inside
    return [{"functionResponse": out}, *beside]


def _takes_media_in_responses(model: str) -> bool:
    """Gemini 3 and later models take a function response's images inside it; earlier ones beside it."""
    found = _GENERATION.search(model)
    return found is not None and int(found.group(1)) >= 3


_GENERATION = re.compile(r"gemini-(\d+)")


def _parts_out(message: ir.Message, names: dict[str, str], media_inside: bool) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    signatures = [p.signature for p in message.parts
                  if isinstance(p, ir.Reasoning) and p.provider == PROVIDER and p.signature]
    has_calls = any(isinstance(p, ir.ToolCall) for p in message.parts)
    for part in message.parts:
        if isinstance(part, ir.Text):
            parts.append({"text": part.text})
        elif isinstance(part, ir.Opaque) and part.dialect == PROVIDER:
            parts.append(part.data)
        elif isinstance(part, (ir.Image, ir.File, ir.Audio)):
            parts.append(_media_part(part))
        elif isinstance(part, ir.ToolCall):
            names[part.id] = part.name
            call: dict[str, Any] = {"name": part.name, "args": f.arguments_object(part.arguments)}
            if part.extra and part.extra.get("gemini_id"):
                call["id"] = part.id
            parts.append({"functionCall": call})
        elif isinstance(part, ir.ToolResult):
            parts.extend(_function_response(part, part.name or names.get(part.call_id, "tool"), media_inside))
        elif isinstance(part, ir.Refusal):
            parts.append({"text": part.text})
    if message.role == "assistant" and has_calls:
        first = next(p for p in parts if "functionCall" in p)
        first["thoughtSignature"] = signatures[0] if signatures else SKIP_SIGNATURE
    elif signatures and parts:
        parts[-1]["thoughtSignature"] = signatures[-1]
    return parts


def _media_part(part: ir.Image | ir.File | ir.Audio) -> dict[str, Any]:
    if isinstance(part, ir.Audio):
        return {"inlineData": {"mimeType": f"audio/{part.format}", "data": part.data}}
    mime = part.media_type or ("image/png" if isinstance(part, ir.Image) else "application/pdf")
    if part.url:
        return {"fileData": {"mimeType": mime, "fileUri": part.url}}
    return {"inlineData": {"mimeType": mime, "data": part.data}}


def _generation_config(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, value in (("temperature", req.temperature), ("topP", req.top_p), ("topK", req.top_k),
                       ("presencePenalty", req.presence_penalty), ("frequencyPenalty", req.frequency_penalty),
                       ("maxOutputTokens", req.max_tokens), ("stopSequences", req.stop),
                       ("candidateCount", req.n), ("seed", req.seed), ("responseLogprobs", req.logprobs),
                       ("logprobs", req.top_logprobs if req.logprobs else None)):
        if value is not None:
            config[key] = value
    fmt = req.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema is not None:
            config["responseJsonSchema"] = fmt.schema
    level = effort(req)
    if level is not None:
        if "gemini-3" in model:
            config["thinkingConfig"] = {"thinkingLevel": "low" if level in ("none", "minimal", "low") else "high",
                                        "includeThoughts": level != "none"}
        else:
            config["thinkingConfig"] = {"thinkingBudget": budget(req) or 0, "includeThoughts": level != "none"}
    return config


def _parameters(tool: ir.Tool) -> dict[str, Any]:
    """A function's parameters as Gemini's Schema, or whole as JSON Schema where that would not fit."""
    schema = tool.parameters or {"type": "object", "properties": {}}
    converted = to_gemini(schema)
    return {"parameters": converted} if converted is not None else {"parametersJsonSchema": schema}


def encode_generate_request(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    names: dict[str, str] = {}
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    media_inside = _takes_media_in_responses(model)
    for message in req.messages:
        if message.role in ("system", "developer"):
            system.extend(_parts_out(message, names, media_inside))
            continue
        parts = _parts_out(message, names, media_inside)
        if not parts:
            continue
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    wordiness = verbosity.instruction(req)
    if wordiness:
        system.append({"text": wordiness})
    if system:
        body["systemInstruction"] = {"parts": system}
    declarations = [{"name": t.name, **({"description": t.description} if t.description else {}), **_parameters(t)}
                    for t in req.tools or () if t.kind != "server"]
    servers = [t.extra["gemini"] for t in req.tools or () if t.kind == "server" and t.extra and "gemini" in t.extra]
    if declarations or servers:
        body["tools"] = ([{"functionDeclarations": declarations}] if declarations else []) + servers
    if req.tool_choice is not None and declarations:
        mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}[req.tool_choice.mode]
        if req.extra.get("gemini_mode") == "VALIDATED" and req.dialect == NAME:
            mode = "VALIDATED"
        calling: dict[str, Any] = {"mode": mode}
        if req.tool_choice.names and mode != "NONE":
            # AUTO takes no names: VALIDATED is "call one of these, or answer in text" (Gemini API reference,
            # FunctionCallingConfig).
            calling = {"mode": "VALIDATED" if mode == "AUTO" else mode, "allowedFunctionNames": req.tool_choice.names}
        body["toolConfig"] = {"functionCallingConfig": calling}
    config = _generation_config(req, model)
    if config:
        body["generationConfig"] = config
    return body
