"""Gemini generateContent (Google's Gemini API generateContent reference, streaming included), both directions.

Keys are camelCase on the wire, but google-genai sends some nested ones in snake_case, so reading
accepts both. Thought signatures ride on parts; in the IR each becomes a signature-only
`Reasoning` (provider "gemini") just before the part that carried it, and the encoder puts it back
on the first function call of the turn, where Gemini 3 demands it. A model turn with function
calls but no Gemini signature (history from another provider, or from before a restart) gets
Google's documented placeholder instead, so Gemini 3 accepts it. Function-call ids go to Gemini
only where Gemini minted them (`ToolCall.extra["gemini_id"]`); otherwise calls and responses are
matched by name and order, and the names of responses are recovered from the calls.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import gemini_embeddings as embeddings
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
from interlingua.adapters.dialects.reasoning import budget, effort
from interlingua.adapters.dialects.schema import from_gemini, to_gemini

PROVIDER = "gemini"
SKIP_SIGNATURE = base64.b64encode(b"skip_thought_signature_validator").decode()
_CRLF = b"\r\n\r\n"

_FINISH_IN: dict[str, ir.FinishReason] = {"STOP": "stop", "MAX_TOKENS": "length"}
FILTERED = frozenset({"SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                      "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER"})
_FINISH_OUT = {"stop": "STOP", "stop_sequence": "STOP", "tool_calls": "STOP", "pause": "STOP", "length": "MAX_TOKENS",
               "context_overflow": "MAX_TOKENS", "content_filter": "SAFETY"}
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 502: "UNAVAILABLE",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE"}
_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_DATA_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
                "codeExecutionResult")
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


def _new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


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
    """A functionResponse's object as tool-result text: its `result` or `output` alone if that is all."""
    if isinstance(response, dict) and len(response) == 1:
        (name, value), = response.items()
        if name in ("result", "output", "content"):
            return [ir.Text(value if isinstance(value, str) else orjson.dumps(value).decode())]
    return [ir.Text(orjson.dumps(response).decode())]


class _Calls:
    """Ids for function calls that came without one, so their responses can be paired by name."""

    def __init__(self) -> None:
        self.pending: dict[str, list[str]] = {}

    def call(self, name: str, given: str | None) -> str:
        call_id = given or _new_call_id()
        self.pending.setdefault(name, []).append(call_id)
        return call_id

    def response(self, name: str, given: str | None) -> str:
        queue = self.pending.get(name) or []
        if given:
            if given in queue:
                queue.remove(given)
            return given
        return queue.pop(0) if queue else _new_call_id()


def _part(raw: Any, path: str, calls: _Calls) -> list[ir.Part]:
    part = f.obj(raw, path)
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
        out.append(ir.ToolResult(calls.response(name, given), _response_content(body),
                                 is_error=isinstance(body, dict) and set(body) == {"error"}, name=name,
                                 extra={"gemini_id": True} if given else None))
    elif kind is None and not signature:
        raise ir.invalid(path, "a part needs a data field (text, inlineData, fileData, functionCall, ...)")
    elif kind is not None:
        out.append(ir.Opaque(PROVIDER, part))  # executable code and its results
    return out


def _parts(content: dict[str, Any], path: str, calls: _Calls, required: bool = True) -> list[ir.Part]:
    raw = f.array(content, "parts", path + ".", required=required) or []
    return [p for i, item in enumerate(raw) for p in _part(item, f"{path}.parts[{i}]", calls)]


def _contents(raw: list[Any], calls: _Calls) -> list[ir.Message]:
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
    calls = _Calls()
    messages: list[ir.Message] = []
    spelled = f.spelled(body, "systemInstruction")
    system = body.get(spelled)
    if system is not None:
        if isinstance(system, str):
            system = {"parts": [{"text": system}]}
        messages.append(ir.Message("system", _parts(f.obj(system, spelled), spelled, calls, required=False)))
    contents = f.array(body, "contents", required=True)
    messages.extend(_contents(contents, calls))
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
    return ir.ChatRequest(
        model=params.get("model", ""),
        messages=messages,
        dialect=CODEC.name,
        native=body,
        stream=params.get("method") == "streamGenerateContent",
        stream_usage=True,
        max_tokens=f.integer(config, f.spelled(config, "maxOutputTokens"), p, minimum=1),
        temperature=f.number(config, "temperature", p),
        top_p=f.number(config, f.spelled(config, "topP"), p),
        top_k=f.integer(config, f.spelled(config, "topK"), p, minimum=0),
        stop=f.strings(config, f.spelled(config, "stopSequences"), p) or None,
        n=f.integer(config, f.spelled(config, "candidateCount"), p, minimum=1),
        seed=f.integer(config, "seed", p),
        logprobs=f.boolean(config, f.spelled(config, "responseLogprobs"), p),
        top_logprobs=f.integer(config, "logprobs", p, minimum=0),
        tools=_tools(tools) if tools else None,
        tool_choice=choice,
        response_format=_response_format(config, p),
        reasoning_effort=reasoning_effort,
        reasoning_budget=reasoning_budget,
        params=dict(params),
        extra=extra,
    )


# Request: IR -> wire ------------------------------------------------------------------------------


def _function_response(result: ir.ToolResult, name: str) -> dict[str, Any]:
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
    return out


def _parts_out(message: ir.Message, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    signatures = [p.signature for p in message.parts
                  if isinstance(p, ir.Reasoning) and p.provider == PROVIDER and p.signature]
    has_calls = any(isinstance(p, ir.ToolCall) for p in message.parts)
    for part in message.parts:
        if isinstance(part, ir.Text):
            parts.append({"text": part.text})
        elif isinstance(part, ir.Opaque) and part.dialect == PROVIDER:
            parts.append(part.data)
        elif isinstance(part, ir.Image):
            parts.append(_media_out(part.url, part.data, part.media_type or "image/png"))
        elif isinstance(part, ir.File):
            parts.append(_media_out(part.url, part.data, part.media_type or "application/pdf"))
        elif isinstance(part, ir.Audio):
            parts.append({"inlineData": {"mimeType": f"audio/{part.format}", "data": part.data}})
        elif isinstance(part, ir.ToolCall):
            names[part.id] = part.name
            call: dict[str, Any] = {"name": part.name, "args": f.arguments_object(part.arguments)}
            if part.extra and part.extra.get("gemini_id"):
                call["id"] = part.id
            parts.append({"functionCall": call})
        elif isinstance(part, ir.ToolResult):
            parts.append({"functionResponse": _function_response(part, part.name or names.get(part.call_id, "tool"))})
        elif isinstance(part, ir.Refusal):
            parts.append({"text": part.text})
    if message.role == "assistant" and has_calls:
        first = next(p for p in parts if "functionCall" in p)
        first["thoughtSignature"] = signatures[0] if signatures else SKIP_SIGNATURE
    elif signatures and parts:
        parts[-1]["thoughtSignature"] = signatures[-1]
    return parts


def _media_out(url: str | None, data: str | None, mime: str) -> dict[str, Any]:
    if url:
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    return {"inlineData": {"mimeType": mime, "data": data}}


def _generation_config(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, value in (("temperature", req.temperature), ("topP", req.top_p), ("topK", req.top_k),
                       ("maxOutputTokens", req.max_tokens), ("stopSequences", req.stop),
                       ("candidateCount", req.n), ("seed", req.seed), ("responseLogprobs", req.logprobs),
                       ("logprobs", req.top_logprobs)):
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


def encode_generate_request(req: ir.ChatRequest, model: str) -> dict[str, Any]:
    names: dict[str, str] = {}
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for message in req.messages:
        if message.role in ("system", "developer"):
            system.extend(_parts_out(message, names))
            continue
        parts = _parts_out(message, names)
        if not parts:
            continue
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    declarations = [{"name": t.name, **({"description": t.description} if t.description else {}),
                     "parameters": to_gemini(t.parameters or {"type": "object", "properties": {}})}
                    for t in req.tools or () if t.kind != "server"]
    servers = [t.extra["gemini"] for t in req.tools or () if t.kind == "server" and t.extra and "gemini" in t.extra]
    if declarations or servers:
        body["tools"] = ([{"functionDeclarations": declarations}] if declarations else []) + servers
    if req.tool_choice is not None and declarations:
        mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}[req.tool_choice.mode]
        if req.extra.get("gemini_mode") == "VALIDATED" and req.dialect == CODEC.name:
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


# Response -----------------------------------------------------------------------------------------


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    thoughts = g(raw, "thoughtsTokenCount") or 0
    return ir.Usage(
        input_tokens=(g(raw, "promptTokenCount") or 0) + (g(raw, "toolUsePromptTokenCount") or 0),
        output_tokens=(g(raw, "candidatesTokenCount") or 0) + thoughts,
        cache_read_tokens=g(raw, "cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def encode_usage(usage: ir.Usage) -> dict[str, Any]:
    out = {"promptTokenCount": usage.input_tokens,
           "candidatesTokenCount": max(usage.output_tokens - usage.reasoning_tokens, 0),
           "totalTokenCount": usage.total_tokens}
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cache_read_tokens:
        out["cachedContentTokenCount"] = usage.cache_read_tokens
    return out


def _finish_in(reason: str | None, has_calls: bool) -> ir.FinishReason | None:
    if reason is None:
        return None
    if has_calls:
        return "tool_calls"
    if reason in FILTERED:
        return "content_filter"
    return _FINISH_IN.get(reason, "stop")


def decode_generate_response(body: Any) -> ir.ChatResponse:
    body = f.obj(body, "response")
    choices: list[ir.Choice] = []
    for candidate in body.get("candidates") or ():
        calls = _Calls()
        parts = [p for i, raw in enumerate((candidate.get("content") or {}).get("parts") or ())
                 for p in _part(raw, f"candidates.parts[{i}]", calls)]
        has_calls = any(isinstance(p, ir.ToolCall) for p in parts)
        choices.append(ir.Choice(candidate.get("index", len(choices)), ir.Message("assistant", parts),
                                 _finish_in(candidate.get("finishReason") or "STOP", has_calls)))
    if not choices and g(body, "promptFeedback"):
        choices.append(ir.Choice(0, ir.Message("assistant", []), "content_filter"))
    return ir.ChatResponse(id=g(body, "responseId") or "", model=g(body, "modelVersion") or "",
                           created=int(time.time()), choices=choices, usage=decode_usage(g(body, "usageMetadata")))


def _part_of(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return {"text": part.text}
    if isinstance(part, ir.Refusal):
        return {"text": part.text}
    if isinstance(part, ir.ToolCall):
        return {"functionCall": {"id": part.id, "name": part.name, "args": f.arguments_object(part.arguments)}}
    if isinstance(part, ir.Reasoning) and part.text:
        return {"text": part.text, "thought": True}
    return None


def encode_generate_response(resp: ir.ChatResponse) -> dict[str, Any]:
    candidates = []
    for choice in resp.choices:
        parts = [p for part in choice.message.parts if (p := _part_of(part)) is not None]
        candidates.append({"content": {"role": "model", "parts": parts or [{"text": ""}]},
                           "finishReason": _FINISH_OUT.get(choice.finish_reason or "stop", "STOP"),
                           "index": choice.index})
    body: dict[str, Any] = {"candidates": candidates}
    if resp.usage is not None:
        body["usageMetadata"] = encode_usage(resp.usage)
    body["modelVersion"] = resp.model
    body["responseId"] = resp.id
    return body


# Streams ------------------------------------------------------------------------------------------


class GenerateStreamDecoder(StreamDecoder):
    """Gemini SSE (CRLF or LF separated) to IR events; function calls arrive whole."""

    __slots__ = ("_started", "_tools", "_calls")

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._tools: dict[int, int] = {}
        self._calls: dict[int, bool] = {}

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for _, data in sse.events(block):
            payload = orjson.loads(data)
            if payload.get("error"):
                raise _error_of(502, payload)
            if not self._started:
                self._started = True
                out.append(ir.StreamStart(g(payload, "responseId") or "", g(payload, "modelVersion") or "",
                                          int(time.time())))
            candidates = payload.get("candidates") or ()
            for candidate in candidates:
                self._candidate(candidate, out)
            if not candidates and g(payload, "promptFeedback"):
                out.append(ir.Finish("content_filter"))
            usage = decode_usage(g(payload, "usageMetadata"))
            if usage is not None:
                out.append(ir.UsageReport(usage))

    def _candidate(self, candidate: dict[str, Any], out: list[ir.StreamEvent]) -> None:
        index = candidate.get("index", 0)
        for part in (candidate.get("content") or {}).get("parts") or ():
            signature = g(part, "thoughtSignature")
            if signature:
                out.append(ir.ReasoningDelta(signature=signature, choice=index))
            call = g(part, "functionCall")
            if call is not None:
                tool = self._tools.get(index, -1) + 1
                self._tools[index] = tool
                self._calls[index] = True
                out.append(ir.ToolCallDelta(tool, orjson.dumps(call.get("args") or {}).decode(),
                                            id=call.get("id") or _new_call_id(), name=call.get("name", ""),
                                            choice=index))
            elif part.get("text"):
                if part.get("thought"):
                    out.append(ir.ReasoningDelta(part["text"], choice=index))
                else:
                    out.append(ir.TextDelta(part["text"], index))
        reason = candidate.get("finishReason")
        if reason:
            out.append(ir.Finish(_finish_in(reason, self._calls.get(index, False)) or "stop", index))


class GenerateStreamEncoder(StreamEncoder):
    """IR events to Gemini chunks: SSE, or one streamed JSON array when the client did not ask for SSE.

    Tool-call fragments are held until the call is complete, since Gemini sends calls whole; the
    finish reason waits for the usage so that both ride on the last chunk, as Gemini sends them.
    """

    __slots__ = ("media_type", "_array", "_sent", "_id", "_model", "_calls", "_finish", "_usage")

    def __init__(self, array: bool) -> None:
        self._array = array
        self.media_type = "application/json" if array else "text/event-stream"
        self._sent = 0
        self._id = secrets.token_hex(12)
        self._model = ""
        self._calls: dict[tuple[int, int], dict[str, Any]] = {}
        self._finish: dict[int, str] = {}
        self._usage: ir.Usage | None = None

    def _frame(self, payload: dict[str, Any]) -> bytes:
        data = orjson.dumps(payload)
        self._sent += 1
        if self._array:
            return (b"[" if self._sent == 1 else b",\r\n") + data
        return b"data: " + data + _CRLF

    def _chunk(self, choice: int, parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": choice}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "modelVersion": self._model, "responseId": self._id}

    def _flush_calls(self, choice: int | None = None) -> bytes:
        if not self._calls:
            return b""
        ready = [key for key in self._calls if choice is None or key[0] == choice]
        out = b""
        for key in sorted(ready):
            call = self._calls.pop(key)
            args = f.arguments_object(call["arguments"])
            part = {"functionCall": {"id": call["id"], "name": call["name"], "args": args}}
            out += self._frame(self._chunk(key[0], [part]))
        return out

    def encode(self, event: ir.StreamEvent) -> bytes:
        if isinstance(event, ir.TextDelta):
            return self._flush_calls(event.choice) + self._frame(self._chunk(event.choice, [{"text": event.text}]))
        if isinstance(event, ir.ToolCallDelta):
            key = (event.choice, event.index)
            out = b""
            if key not in self._calls:
                out = self._flush_calls(event.choice)
                self._calls[key] = {"id": event.id or _new_call_id(), "name": event.name or "", "arguments": ""}
            self._calls[key]["arguments"] += event.arguments
            return out
        if isinstance(event, ir.ReasoningDelta):
            if not event.text:
                return b""
            return self._frame(self._chunk(event.choice, [{"text": event.text, "thought": True}]))
        if isinstance(event, ir.RefusalDelta):
            return self._frame(self._chunk(event.choice, [{"text": event.text}]))
        if isinstance(event, ir.Finish):
            self._finish[event.choice] = _FINISH_OUT.get(event.reason, "STOP")
            return self._flush_calls(event.choice)
        if isinstance(event, ir.UsageReport):
            self._usage = event.usage
        elif isinstance(event, ir.StreamStart):
            self._model = event.model
            self._id = event.id or self._id
        return b""

    def end(self) -> bytes:
        out = self._flush_calls()
        finishes = self._finish or {0: "STOP"}
        for i, (choice, reason) in enumerate(sorted(finishes.items())):
            chunk = self._chunk(choice, [{"text": ""}], reason)
            if self._usage is not None and i == len(finishes) - 1:
                chunk["usageMetadata"] = encode_usage(self._usage)
            out += self._frame(chunk)
        return out + (b"]" if self._array else b"")

    def error(self, error: ir.GatewayError) -> bytes:
        return self._frame(orjson.loads(encode_error_body(error))) + (b"]" if self._array else b"")

    def ping(self) -> bytes:
        return b"" if self._array else b": ping\r\n\r\n"


class GeneratePassthrough(Passthrough):
    """Forwards Gemini SSE, or re-frames it as the JSON array a client without `alt=sse` expects;
    reads the cumulative usage from the last chunk that has it."""

    __slots__ = ("_array", "_sent", "media_type")

    def __init__(self, array: bool) -> None:
        super().__init__()
        self._array = array
        self.media_type = "application/json" if array else "text/event-stream"
        self._sent = 0

    def forward(self, block: bytes) -> bytes:
        datas = [data for _, data in sse.events(block)]
        if not datas:  # comments only: nothing to forward, and no stray `[` in array mode
            return b"" if self._array else block
        self.events += len(datas)
        for data in reversed(datas):
            if b"usageMetadata" in data:
                self.usage = decode_usage(orjson.loads(data).get("usageMetadata")) or self.usage
                break
        if not self._array:
            return block
        out = b",\r\n".join(datas)
        prefix = b"[" if self._sent == 0 else b",\r\n"
        self._sent += len(datas)
        return prefix + out

    def close(self) -> bytes:
        tail = super().close()
        if self._array:
            return tail + (b"]" if self._sent else b"[]")
        return tail


# Errors and models --------------------------------------------------------------------------------


def encode_error_body(error: ir.GatewayError) -> bytes:
    status = CODEC.status_of(error)
    return orjson.dumps({"error": {"code": status, "message": error.message,
                                   "status": _STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")}})


def _error_of(status: int, payload: Any) -> ir.GatewayError:
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict):
        return f.upstream_error(status, f"upstream answered {status}")
    code = err.get("code")
    message = str(err.get("message") or err.get("status") or "upstream error")
    return f.upstream_error(code if isinstance(code, int) else status, message)


def _model_entry(card: ModelCard) -> dict[str, Any]:
    methods = ["generateContent", "streamGenerateContent", "countTokens"] if "chat" in card.capabilities else []
    if "embeddings" in card.capabilities:
        methods += ["embedContent", "batchEmbedContents"]
    return {"name": f"models/{card.id}", "baseModelId": card.id, "displayName": card.id,
            "supportedGenerationMethods": methods}


def _page(models: list[ModelCard], params: Mapping[str, str]) -> dict[str, Any]:
    size = f.natural(params.get("pageSize", "")) or 50
    start = f.natural(params.get("pageToken", "")) or 0
    page = models[start:start + max(size, 1)]
    out: dict[str, Any] = {"models": [_model_entry(m) for m in page]}
    if start + len(page) < len(models):
        out["nextPageToken"] = str(start + len(page))
    return out


# The codec ----------------------------------------------------------------------------------------

_METHODS = {"generateContent": ops.CHAT, "streamGenerateContent": ops.CHAT, "countTokens": ops.COUNT_TOKENS,
            "embedContent": ops.EMBEDDINGS, "batchEmbedContents": ops.EMBEDDINGS}

GeminiRequest = ir.ChatRequest | ir.EmbeddingRequest


class Gemini(ClientDialect[GeminiRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = "gemini"
    results = {
        ir.ChatResponse: lambda result, request: encode_generate_response(result),
        ir.TokenCount: lambda result, request: {"totalTokens": result.input_tokens},
        ir.EmbeddingResponse: embeddings.encode_embed_response,
        ModelList: lambda result, request: _page(result.models, result.query),
        ModelCard: lambda result, request: _model_entry(result),
    }

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        for prefix in ("/v1beta/models", "/v1/models"):
            if path == prefix or path.startswith(prefix + "/"):
                break
        else:
            return None
        rest = path[len(prefix):]
        params = dict(parse_qsl(query.decode("latin-1"))) if query else {}
        if method == "GET":
            if rest in ("", "/"):
                return Route(ops.MODELS_LIST, params)
            return Route(ops.MODELS_GET, {"model": rest[1:]})
        model, sep, verb = rest[1:].rpartition(":")
        if method != "POST" or not sep or verb not in _METHODS:
            return None
        model = model.removeprefix("models/")
        return Route(_METHODS[verb], {"model": model, "method": verb, "alt": params.get("alt", "")})

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> GeminiRequest:
        if operation is ops.EMBEDDINGS:
            return embeddings.decode_embed_request(body, params.get("model", ""),
                                                   params.get("method") == "batchEmbedContents", self.name)
        return decode_generate_request(body, params, count=operation is ops.COUNT_TOKENS)

    def stream_encoder(self, request: GeminiRequest) -> StreamEncoder:
        return GenerateStreamEncoder(array=not _wants_sse(request))

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return encode_error_body(error)

    def passthrough(self, request: GeminiRequest) -> Passthrough:
        return GeneratePassthrough(array=not _wants_sse(request))

    def usage_of(self, body: Any) -> ir.Usage | None:
        return decode_usage(g(body, "usageMetadata")) if isinstance(body, dict) else None

    def encode_request(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        return encode_generate_request(request, model)

    def decode_response(self, body: Any) -> ir.ChatResponse:
        return decode_generate_response(body)

    def stream_decoder(self) -> StreamDecoder:
        return GenerateStreamDecoder()

    def decode_error(self, status: int, body: bytes) -> ir.GatewayError:
        return f.error_from_body(status, body, _error_of)


def _wants_sse(request: Any) -> bool:
    return (getattr(request, "params", None) or {}).get("alt") == "sse"


CODEC = Gemini()
