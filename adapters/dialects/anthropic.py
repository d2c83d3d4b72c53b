"""Anthropic Messages (Anthropic's Messages API reference, streaming events included), both
directions: answers, streams, errors and the codec here, requests in `anthropic_request.py`.

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
from interlingua.adapters.dialects import (
    anthropic_batches,
    anthropic_files,
    citations,
    code_runs,
    files,
    sse,
    tools,
    web_search,
)
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.anthropic_request import (
    NAME,
    PROVIDER,
    decode_messages_request,
    encode_messages_request,
    own_fields,
)
from interlingua.adapters.dialects.base import (
    ClientDialect,
    ModelCard,
    ModelList,
    Passthrough,
    Route,
    StreamDecoder,
    StreamEncoder,
    UpstreamDialect,
    event_json,
)
from interlingua.adapters.dialects.files import FileUpload
from interlingua.adapters.dialects.ids import safe_id

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


# Response -----------------------------------------------------------------------------------------


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    read = f.count(raw, "cache_read_input_tokens")
    write = f.count(raw, "cache_creation_input_tokens")
    return ir.Usage(
        input_tokens=f.count(raw, "input_tokens") + read + write,
        output_tokens=f.count(raw, "output_tokens"),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=f.count(f.sub(raw, "output_tokens_details"), "thinking_tokens"),
    )


def encode_usage(usage: ir.Usage) -> dict[str, Any]:
    return {
        "input_tokens": max(usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def _part_of_block(raw: Any, path: str, model: str | None) -> ir.Part | None:
    block = f.obj(raw, path)
    at = path + "."
    kind = f.string(block, "type", at)
    if kind == "text":
        cited = f.array(block, "citations", at)
        return ir.Text(f.string(block, "text", at) or "", {"citations": cited} if cited else None,
                       citations.from_anthropic(cited))
    if kind == "thinking":
        return ir.Reasoning(text=f.string(block, "thinking", at) or "", signature=f.string(block, "signature", at),
                            provider=PROVIDER, model=model)
    if kind == "redacted_thinking":
        return ir.Reasoning(redacted=f.string(block, "data", at, required=True), provider=PROVIDER, model=model)
    if kind == "tool_use":
        return ir.ToolCall(id=f.string(block, "id", at, required=True), name=f.string(block, "name", at, required=True),
                           arguments=orjson.dumps(f.mapping(block, "input", at) or {}).decode())
    return ir.Opaque(PROVIDER, block) if kind else None


def decode_messages_response(body: Any) -> ir.ChatResponse:
    body = f.obj(body, "response")
    model = f.label(body, "model") or ""
    content = f.array(body, "content") or ()
    parts = [p for i, b in enumerate(content) if (p := _part_of_block(b, f"content[{i}]", model)) is not None]
    reason = f.string(body, "stop_reason")
    stop_sequence = f.string(body, "stop_sequence")
    return ir.ChatResponse(
        id=f.label(body, "id") or "",
        model=model,
        created=int(time.time()),
        choices=[ir.Choice(0, ir.Message("assistant", parts), _STOP_IN.get(reason, "stop") if reason else None,
                           extra={"stop_sequence": stop_sequence} if stop_sequence else None)],
        usage=decode_usage(body.get("usage")),
    )


def _blocks_of_part(part: ir.Part) -> list[dict[str, Any]]:
    """A part's blocks: a text that cites pages in another dialect's words is cut into Claude's
    cited blocks; any other part is one block, or none."""
    if isinstance(part, ir.Text) and part.citations and not (part.extra or {}).get("citations"):
        return [{"type": "text", "text": text, "citations": cited or None, **own_fields(part.extra)}
                for text, cited in citations.anthropic_blocks(part)]
    block = _block_of_part(part)
    return [] if block is None else [block]


def _block_of_part(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return {"type": "text", "text": part.text, **own_fields(part.extra)}
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


def encode_context_management(applied: list[ir.AppliedEdit]) -> dict[str, Any]:
    """The edits the gateway made, as Anthropic reports its own (`context_management` of a message
    and of the `message_delta` event)."""
    count = {"clear_tool_uses_20250919": "cleared_tool_uses", "clear_thinking_20251015": "cleared_thinking_turns"}
    return {"applied_edits": [{"type": e.type, count[e.type]: e.cleared, "cleared_input_tokens": e.cleared_input_tokens}
                              for e in applied]}


def encode_messages_response(resp: ir.ChatResponse) -> dict[str, Any]:
    choice = resp.choices[0] if resp.choices else ir.Choice(0, ir.Message("assistant", []), "stop")
    grounding = (choice.extra or {}).get("grounding")
    grounded = web_search.of_grounding(grounding) if isinstance(grounding, dict) else None
    content = [*(web_search.to_anthropic(grounded) if grounded else ()),  # Gemini's search, ahead of its text
               *(b for p in code_runs.foreign(web_search.foreign(choice.message.parts, PROVIDER), PROVIDER)
                 for b in _blocks_of_part(p))]
    edits = resp.applied_edits
    context = {} if edits is None else {"context_management": encode_context_management(edits)}
    return {
        "id": _message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": _STOP_OUT.get(choice.finish_reason or "stop", "end_turn"),
        "stop_sequence": (choice.extra or {}).get("stop_sequence"),
        "usage": encode_usage(resp.usage or ir.Usage()),
        **context,
    }


def _message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else "msg_" + (upstream_id or secrets.token_hex(12))


# Streams ------------------------------------------------------------------------------------------


class MessagesStreamDecoder(StreamDecoder):
    """Anthropic SSE to IR events; `message_delta` usage is cumulative, merged with message_start's."""

    __slots__ = ("_usage", "_tool_index", "_model", "_whole", "_input", "_chars", "_block_start", "_cited")

    def __init__(self) -> None:
        super().__init__()
        self._usage: dict[str, Any] = {}
        self._tool_index = -1
        self._model = ""
        self._whole: dict[str, Any] | None = None  # an open block of a server tool, passed on whole when done
        self._input: list[str] = []  # its input's JSON so far
        self._chars = 0  # of text so far, where a text block's citations begin
        self._block_start = 0
        self._cited: list[Any] = []  # the open text block's citations, told when it ends

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for name, data in sse.events(block):
            payload = event_json(data)
            kind = payload.get("type") or name
            if kind == "content_block_delta":  # most events: a value is checked only where it is
                delta = payload.get("delta")
                if type(delta) is not dict:
                    raise ir.invalid("delta", "must be an object")
                dtype = delta.get("type")
                if dtype == "text_delta":
                    text = f.text(delta.get("text") or "", "delta.text")
                    self._chars += len(text)
                    out.append(ir.TextDelta(text))
                elif dtype == "input_json_delta" and self._whole is not None:
                    self._input.append(f.text(delta.get("partial_json") or "", "delta.partial_json"))
                elif dtype == "input_json_delta":
                    if self._tool_index < 0:
                        raise ir.invalid("delta", "input_json_delta before any tool_use block started")
                    out.append(ir.ToolCallDelta(self._tool_index, f.text(delta.get("partial_json") or "",
                                                                         "delta.partial_json")))
                elif dtype == "thinking_delta":
                    out.append(ir.ReasoningDelta(f.text(delta.get("thinking") or "", "delta.thinking")))
                elif dtype == "signature_delta":
                    out.append(ir.ReasoningDelta(signature=f.string(delta, "signature", "delta.")))
                elif dtype == "citations_delta":
                    self._cited.append(delta.get("citation"))
            elif kind == "content_block_start":
                block_ = f.obj(payload.get("content_block") or {}, "content_block")
                btype = block_.get("type")
                if btype == "tool_use":
                    self._tool_index += 1
                    out.append(ir.ToolCallDelta(self._tool_index, "",
                                                id=f.string(block_, "id", "content_block.", required=True),
                                                name=f.string(block_, "name", "content_block.", required=True)))
                elif btype == "redacted_thinking":
                    out.append(ir.ReasoningDelta(redacted=f.string(block_, "data", "content_block.", required=True)))
                elif btype == "text":
                    self._block_start = self._chars
                    if opening := f.string(block_, "text", "content_block."):
                        self._chars += len(opening)
                        out.append(ir.TextDelta(opening))
                elif btype not in _STREAMED:  # a server tool's call or result (a web search's)
                    self._whole, self._input = dict(block_), []
            elif kind == "content_block_stop" and self._cited:
                cited = citations.from_anthropic(self._cited) or ()
                self._cited = []
                if cited:
                    out.append(ir.CitationDelta([ir.Citation(c.url, c.title, self._block_start, self._chars, c.quote)
                                                 for c in cited]))
            elif kind == "content_block_stop" and self._whole is not None:
                whole, self._whole = self._whole, None
                if self._input:
                    whole["input"] = f.arguments_object("".join(self._input))
                out.append(ir.OpaqueBlock(PROVIDER, whole))
            elif kind == "message_start":
                message = f.obj(payload.get("message") or {}, "message")
                self._model = f.label(message, "model") or ""
                _merge_usage(self._usage, message.get("usage"))
                out.append(ir.StreamStart(f.label(message, "id") or "", self._model, int(time.time())))
            elif kind == "message_delta":
                delta = f.obj(payload.get("delta") or {}, "delta")
                _merge_usage(self._usage, payload.get("usage"))
                reason = f.string(delta, "stop_reason", "delta.")
                if reason:
                    out.append(ir.Finish(_STOP_IN.get(reason, "stop"),
                                         stop_sequence=f.string(delta, "stop_sequence", "delta.")))
                out.append(ir.UsageReport(decode_usage(self._usage) or ir.Usage()))
            elif kind == "message_stop":
                self.terminated = True
            elif kind == "error":
                err = payload.get("error")
                err = err if isinstance(err, dict) else {}
                raise _error_of(_STATUS_OF_TYPE.get(str(err.get("type")), 500), payload)


_STREAMED = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})  # blocks the stream tells piece by piece


def _merge_usage(usage: dict[str, Any], reported: Any) -> None:
    """Usage reported mid-stream: `message_delta`'s counts are cumulative and replace
    `message_start`'s, its nulls do not."""
    if isinstance(reported, dict):
        usage.update({k: v for k, v in reported.items() if v is not None})


class MessagesStreamEncoder(StreamEncoder):
    """IR events to Anthropic SSE: one content block per run of text, thinking or one tool call."""

    __slots__ = ("_id", "_model", "_started", "_index", "_open", "_tool", "_stop", "_stop_sequence", "_usage",
                 "_context", "_searches", "_runs")

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
        self._context: dict[str, Any] = {}
        self._searches = web_search.Reader()
        self._runs = code_runs.Reader()

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
                if event.name is None:  # a call's first delta names it
                    raise tools.interleaved()
                block = {"type": "tool_use", "id": safe_id(event.id or f"toolu_{event.index}"),
                         "name": event.name or "", "input": {}}
                head = self._open_block("tool_use", block)
                self._tool = event.index
            if not event.arguments:
                return head
            return head + self._delta({"type": "input_json_delta", "partial_json": event.arguments})
        if isinstance(event, ir.ReasoningDelta):
            # Only state labelled for this slot is written (another upstream's arrives sealed by
            # the gateway, see `providers/slots.py`); a signature or a redacted block ends its block.
            if event.provider != PROVIDER:
                event = ir.ReasoningDelta(event.text)
            if event.redacted:
                return (self._open_block("redacted_thinking", {"type": "redacted_thinking", "data": event.redacted})
                        + self._close())
            if not event.text and not event.signature:
                return b""
            out = b"" if self._open == "thinking" else self._open_block(
                "thinking", {"type": "thinking", "thinking": "", "signature": ""})
            if event.text:
                out += self._delta({"type": "thinking_delta", "thinking": event.text})
            if event.signature:
                out += self._delta({"type": "signature_delta", "signature": event.signature}) + self._close()
            return out
        if isinstance(event, ir.RefusalDelta):
            return self.encode(ir.TextDelta(event.text))
        if isinstance(event, ir.CitationDelta):  # of the text block still open, the one it can cite
            return b"".join(self._delta({"type": "citations_delta", "citation": citations.to_anthropic(c, "")})
                            for c in event.citations) if self._open == "text" else b""
        if isinstance(event, ir.OpaqueBlock):  # a block made whole (a server tool's, a remote MCP call the gateway ran)
            if event.dialect == PROVIDER:
                return self._open_block("opaque", event.data) + self._close()
            search = self._searches.foreign(event, PROVIDER)  # another upstream's
            run = self._runs.foreign(event, PROVIDER)
            blocks = web_search.to_anthropic(search) if search else code_runs.to_anthropic(run) if run else []
            return b"".join(self._open_block("opaque", block) + self._close() for block in blocks)
        if isinstance(event, ir.Finish):
            self._stop = _STOP_OUT.get(event.reason, "end_turn")
            self._stop_sequence = event.stop_sequence
            return self._start() + self._close()
        if isinstance(event, ir.UsageReport):
            self._usage = event.usage
            return b""
        if isinstance(event, ir.EditsApplied):
            self._context = {"context_management": encode_context_management(event.edits)}
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
                + _event("message_delta", {"type": "message_delta", "delta": delta, "usage": encode_usage(self._usage),
                                           **self._context})
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
    terminators = (b'"message_stop"',)
    error_marker = re.compile(rb"^event: ?error\r?$", re.MULTILINE)

    def __init__(self) -> None:
        super().__init__()
        self._usage: dict[str, Any] = {}

    def forward(self, block: bytes) -> bytes:
        self.events += block.count(b"\ndata:")
        if _USAGE_EVENT.search(block):
            for _, data in sse.events(block):
                if b'"message_start"' in data:
                    _merge_usage(self._usage, f.sub(event_json(data), "message").get("usage"))
                elif b'"message_delta"' in data:
                    _merge_usage(self._usage, event_json(data).get("usage"))
            self.usage = decode_usage(self._usage)
        return block

    def upstream_error(self, name: str | None, data: bytes) -> ir.GatewayError | None:
        if name != "error":
            return None
        payload = event_json(data)
        err = payload.get("error")
        return _error_of(_STATUS_OF_TYPE.get(str(err.get("type") if isinstance(err, dict) else None), 500), payload)


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
    return {"type": "model", "id": card.id, "display_name": card.id, "created_at": f.rfc3339(card.created)}


# The codec ----------------------------------------------------------------------------------------


AnthropicRequest = ir.ChatRequest | FileUpload


class AnthropicMessages(ClientDialect[AnthropicRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = NAME
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
        if path == anthropic_batches.PREFIX or path.startswith(anthropic_batches.PREFIX + "/"):
            return anthropic_batches.match(method, path)
        if b"anthropic-version" in headers and path.startswith(files.PREFIX):
            return files.route(method, path)
        if method == "GET" and b"anthropic-version" in headers and path.startswith("/v1/models"):
            if path in ("/v1/models", "/v1/models/"):
                return Route(ops.MODELS_LIST, {})
            if path.startswith("/v1/models/"):
                return Route(ops.MODELS_GET, {"model": path[11:]})
        return None

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> AnthropicRequest:
        if operation is ops.FILES_CREATE:
            return anthropic_files.decode_upload(body)
        return decode_messages_request(body, headers, count=operation is ops.COUNT_TOKENS)

    def stream_encoder(self, request: AnthropicRequest) -> StreamEncoder:
        return MessagesStreamEncoder()

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return encode_error_body(error)

    def status_of(self, error: ir.GatewayError) -> int:
        return error.status  # 529 overloaded is this dialect's own

    def passthrough(self, request: AnthropicRequest) -> Passthrough:
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
