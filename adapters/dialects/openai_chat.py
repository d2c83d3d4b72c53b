"""OpenAI Chat Completions (OpenAI's Chat Completions API reference, streaming included), both
directions: answers, streams, errors and the codec here, requests in `openai_chat_request.py`.

Reasoning text from OpenAI-compatible servers arrives as `reasoning_content` (DeepSeek, vLLM) or
`reasoning` (OpenRouter); both decode to IR reasoning, and the encoder writes `reasoning_content`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import citations, files, logprobs, openai_files, sse
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import openai_batches as batches
from interlingua.adapters.dialects import openai_chat_store as chat_store
from interlingua.adapters.dialects import openai_embeddings as embeddings
from interlingua.adapters.dialects import openai_media as media
from interlingua.adapters.dialects import openai_uploads as uploads
from interlingua.adapters.dialects import openai_vector_stores as vector_stores
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
from interlingua.adapters.dialects.ids import new_call_id
from interlingua.adapters.dialects.openai_chat_request import (
    MESSAGE_KEYS,
    NAME,
    decode_chat_request,
    decode_reasoning,
    decode_text_parts,
    decode_tool_call,
    encode_chat_request,
    encode_tool_call,
)
from interlingua.adapters.dialects.openai_moderations import ModerationRequest, decode_moderation_request

_FINISH_IN: dict[str, ir.FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
FINISH_OUT = {
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


# Response -----------------------------------------------------------------------------------------


_DETAILS = ("prompt_tokens_details", "completion_tokens_details")
_NEUTRAL_DETAILS = frozenset({"cached_tokens", "cache_write_tokens", "reasoning_tokens"})


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = f.sub(raw, "prompt_tokens_details"), f.sub(raw, "completion_tokens_details")
    # Detail counts with no neutral slot (audio_tokens, accepted_prediction_tokens...) ride in `extra`.
    extra = {key: dict(details) for key, details in zip(_DETAILS, (prompt, completion), strict=True)
             if details.keys() - _NEUTRAL_DETAILS}
    return ir.Usage(
        input_tokens=f.count(raw, "prompt_tokens"),
        output_tokens=f.count(raw, "completion_tokens"),
        cache_read_tokens=f.count(prompt, "cached_tokens"),
        cache_write_tokens=f.count(prompt, "cache_write_tokens"),
        reasoning_tokens=f.count(completion, "reasoning_tokens"),
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


def _decode_choice(raw: Any, path: str) -> ir.Choice:
    choice = f.obj(raw, path)
    at = path + ".message"
    message = f.obj(choice.get("message") or {}, at)
    parts = decode_reasoning(message, at)
    content = message.get("content")
    if isinstance(content, str):
        parts.append(ir.Text(content))
    elif isinstance(content, list):
        parts.extend(decode_text_parts(content, at + ".content"))
    refusal = f.string(message, "refusal", at + ".")
    if refusal:
        parts.append(ir.Refusal(refusal))
    citations.place(parts, citations.from_openai(message.get("annotations")) or ())
    calls = f.array(message, "tool_calls", at + ".") or ()
    parts.extend(decode_tool_call(c, f"{at}.tool_calls[{i}]") for i, c in enumerate(calls))
    extra = f.rest(message, _ANSWER_KEYS)
    reason = f.string(choice, "finish_reason", path + ".")
    return ir.Choice(
        index=f.integer(choice, "index", path + ".", minimum=0) or 0,
        message=ir.Message("assistant", parts, extra=extra),
        finish_reason=_FINISH_IN.get(reason, "stop") if reason else None,
        logprobs=_logprobs_in(choice),
    )


def _logprobs_in(choice: dict[str, Any]) -> list[ir.TokenLogprob] | None:
    given = choice.get("logprobs")
    return logprobs.from_openai(given.get("content")) if isinstance(given, dict) else None


def _logprobs_out(tokens: list[ir.TokenLogprob] | None) -> dict[str, Any] | None:
    return None if tokens is None else {"content": logprobs.to_openai(tokens), "refusal": None}


_RESPONSE_KEYS = frozenset({"id", "object", "created", "model", "choices", "usage"})
_ANSWER_KEYS = MESSAGE_KEYS | {"annotations"}  # an answer's message: its citations are the text's


def decode_chat_response(body: Any) -> ir.ChatResponse:
    body = f.obj(body, "response")
    return ir.ChatResponse(
        id=f.label(body, "id") or "",
        model=f.label(body, "model") or "",
        created=f.timestamp(body, "created"),
        choices=[_decode_choice(c, f"choices[{i}]") for i, c in enumerate(f.array(body, "choices") or ())],
        usage=decode_usage(body.get("usage")),
        extra=f.rest(body, _RESPONSE_KEYS),
    )


def _encode_choice(choice: ir.Choice) -> dict[str, Any]:
    text = "".join(p.text for p in choice.message.parts if isinstance(p, ir.Text))
    has_text = any(isinstance(p, ir.Text) for p in choice.message.parts)
    refusal = next((p.text for p in choice.message.parts if isinstance(p, ir.Refusal)), None)
    reasoning = [p for p in choice.message.parts if isinstance(p, ir.Reasoning)]
    calls = [encode_tool_call(p) for p in choice.message.parts if isinstance(p, ir.ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": text if has_text else None, "refusal": refusal,
                               "annotations": citations.chat_annotations(choice.message.parts)}
    if reasoning:
        message["reasoning_content"] = "".join(p.text for p in reasoning)
    if calls:
        message["tool_calls"] = calls
    if choice.message.extra:
        message.update(choice.message.extra)
    return {
        "index": choice.index,
        "message": message,
        "finish_reason": FINISH_OUT.get(choice.finish_reason or "stop", "stop"),  # never null in a whole answer
        "logprobs": _logprobs_out(choice.logprobs),
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
    __slots__ = ("_started", "_calls")

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._calls = _Calls()

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for _, data in sse.events(block):
            if data == b"[DONE]":
                self.terminated = True
                continue
            payload = event_json(data)
            if payload.get("error"):
                raise _error_from_payload(502, payload)
            choices = payload.get("choices")
            if not self._started and (choices or payload.get("id")):  # Azure's first chunk has neither
                self._started = True
                out.append(ir.StreamStart(f.label(payload, "id") or "", f.label(payload, "model") or "",
                                          f.timestamp(payload, "created")))
            if choices:
                if type(choices) is not list:
                    raise ir.invalid("choices", "must be an array")
                for choice in choices:
                    _decode_delta(choice, out, self._calls)
            usage = decode_usage(payload.get("usage"))
            if usage is not None:
                out.append(ir.UsageReport(usage))


_NO_DELTA: dict[str, Any] = {}


def _decode_delta(choice: Any, out: list[ir.StreamEvent], calls: _Calls) -> None:
    """One choice of a chunk. Every chunk passes here, so a value is checked only where it is there."""
    if type(choice) is not dict:
        raise ir.invalid("choices", "must hold objects")
    index = choice.get("index") or 0
    if type(index) is not int or index < 0:
        raise ir.invalid("choices.index", "must be a whole number")
    delta = choice.get("delta") or _NO_DELTA
    if type(delta) is not dict:
        raise ir.invalid("choices.delta", "must be an object")
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if reasoning:
        out.append(ir.ReasoningDelta(f.text(reasoning, "delta.reasoning_content"), choice=index))
    content = delta.get("content")
    if content:
        out.append(ir.TextDelta(f.text(content, "delta.content"), index, _logprobs_in(choice)))
    if delta.get("annotations"):  # a search model's citations, their spans in the content so far
        cited = [ir.Citation(c.url, c.title, c.start or 0, c.end or 0)
                 for c in citations.from_openai(delta["annotations"]) or ()]
        if cited:
            out.append(ir.CitationDelta(cited, index))
    refusal = delta.get("refusal")
    if refusal:
        out.append(ir.RefusalDelta(f.text(refusal, "delta.refusal"), index))
    if delta.get("tool_calls"):
        _decode_calls(f.array(delta, "tool_calls", "delta.") or [], index, out, calls)
    reason = choice.get("finish_reason")
    if reason:
        out.append(ir.Finish(_FINISH_IN.get(f.text(reason, "choices.finish_reason"), "stop"), index))


class _Calls:
    """The tool calls a stream has begun, per choice. OpenAI numbers a call's deltas with `index`;
    some OpenAI-compatible servers leave it out and send each call whole with its id, so there a
    new id is the next call and a delta without one continues the last."""

    __slots__ = ("begun", "by_id", "last")

    def __init__(self) -> None:
        self.begun: dict[int, set[int]] = {}  # choice -> the indexes of its calls
        self.by_id: dict[tuple[int, str], int] = {}
        self.last: dict[int, int] = {}

    def place(self, choice: int, call: dict[str, Any], call_id: str | None) -> tuple[int, bool]:
        """The call's index, and whether this delta begins it (and so must name it)."""
        begun = self.begun.setdefault(choice, set())
        index = f.integer(call, "index", "delta.tool_calls.", minimum=0)
        if index is None:
            known = self.by_id.get((choice, call_id)) if call_id is not None else self.last.get(choice)
            index = known if known is not None else len(begun)
        first = index not in begun
        begun.add(index)
        self.last[choice] = index
        if call_id is not None:
            self.by_id[(choice, call_id)] = index
        return index, first


def _decode_calls(raw_calls: list[Any], choice: int, out: list[ir.StreamEvent], calls: _Calls) -> None:
    for raw in raw_calls:
        call = f.obj(raw, "delta.tool_calls")
        custom = "custom" in call or call.get("type") == "custom"
        at = "delta.tool_calls.custom." if custom else "delta.tool_calls.function."
        fn = f.obj(call.get("custom" if custom else "function") or {}, at[:-1])
        given = f.string(call, "id", "delta.tool_calls.")
        index, first = calls.place(choice, call, given)
        out.append(ir.ToolCallDelta(
            index=index,
            arguments=f.string(fn, "input" if custom else "arguments", at) or "",
            id=given or (new_call_id() if first else None),  # a call's first delta names it, and ids it on most servers
            name=f.string(fn, "name", at, required=first),
            kind="custom" if custom else "function",
            choice=choice,
        ))


def _chunk_head(id: str, model: str, created: int, kind: str) -> bytes:
    """The fields every chunk repeats, as an open JSON object that each chunk completes."""
    head = {"id": id, "object": kind, "created": created, "model": model}
    return orjson.dumps(head)[:-1] + b","


class ChatStreamEncoder(StreamEncoder):
    """IR events to `chat.completion.chunk` SSE, with the usage chunk only when asked for."""

    __slots__ = ("_head", "_usage_wanted", "_usage", "_roles_sent")
    chunk_object = "chat.completion.chunk"

    def __init__(self, stream_usage: bool) -> None:
        self._head = _chunk_head("chatcmpl-interlingua", "", int(time.time()), self.chunk_object)  # until StreamStart
        self._usage_wanted = stream_usage
        self._usage: ir.Usage | None = None
        self._roles_sent: set[int] = set()

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        tail: dict[str, Any] = {"choices": choices}
        if self._usage_wanted:
            tail["usage"] = usage
        return sse.frame(self._head + orjson.dumps(tail)[1:])

    def _delta(self, index: int, delta: dict[str, Any], tokens: list[ir.TokenLogprob] | None = None) -> bytes:
        if index not in self._roles_sent:
            self._roles_sent.add(index)
            delta = {"role": "assistant", **delta}
        choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
        if tokens is not None:
            choice["logprobs"] = _logprobs_out(tokens)
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
        if isinstance(event, ir.CitationDelta):
            return self._delta(event.choice, {"annotations": [citations.to_chat(c, c.start or 0, c.end or 0)
                                                              for c in event.citations]})
        if isinstance(event, ir.RefusalDelta):
            return self._delta(event.choice, {"refusal": event.text})
        if isinstance(event, ir.Finish):
            first = b"" if event.choice in self._roles_sent else self._delta(event.choice, {})
            reason = FINISH_OUT.get(event.reason, "stop")
            return first + self._chunk([{"index": event.choice, "delta": {}, "finish_reason": reason}])
        if isinstance(event, ir.UsageReport):
            self._usage = event.usage
            return b""
        if isinstance(event, ir.StreamStart):
            self._head = _chunk_head(event.id, event.model, event.created, self.chunk_object)
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
# `[DONE]` at the start of a line: a JSON string cannot hold a raw line break, so this is the
# terminating event and not a model that wrote `data: [DONE]` in its answer.
_DONE = re.compile(rb"^data: ?\[DONE\]", re.MULTILINE)
# An error chunk, by the same reasoning: `{"error"` right after `data:` at the start of a line.
_ERROR_CHUNK = re.compile(rb'^data: ?\{\s*"error"', re.MULTILINE)


class ChatPassthrough(Passthrough):
    """Forwards upstream chunks whole; strips the usage chunk the gateway asked for on its own."""

    __slots__ = ("_keep_usage",)
    terminators = (b"[DONE]",)

    def __init__(self, keep_usage: bool) -> None:
        super().__init__()
        self._keep_usage = keep_usage

    error_marker = _ERROR_CHUNK

    def ends(self, block: bytes) -> bool:
        return b"[DONE]" in block and _DONE.search(block) is not None

    def upstream_error(self, name: str | None, data: bytes) -> ir.GatewayError | None:
        payload = event_json(data) if data.lstrip().startswith(b'{') else {}
        return _error_from_payload(502, payload) if payload.get("error") else None

    def forward(self, block: bytes) -> bytes:
        self.events += block.count(b"data:")
        if _USAGE_OBJECT.search(block) is None:
            return block
        out: list[bytes] = []
        for _, data in sse.events(block):
            if _USAGE_OBJECT.search(data):
                payload = event_json(data)
                self.usage = decode_usage(payload.get("usage")) or self.usage
                if not self._keep_usage:
                    if not payload.get("choices"):
                        continue
                    payload["usage"] = None
                    data = orjson.dumps(payload)
            out.append(sse.frame(data))
        return b"".join(out)


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
_MEDIA_ROUTES = {"/v1/audio/speech": ops.SPEECH, "/v1/audio/transcriptions": ops.TRANSCRIPTIONS,
                 "/v1/images/generations": ops.IMAGE_GENERATIONS, "/v1/images/edits": ops.IMAGE_EDITS}

OpenAIRequest = (ir.ChatRequest | ir.EmbeddingRequest | media.MediaRequest | ModerationRequest | files.FileUpload
                 | chat_store.MetadataUpdate | uploads.UploadAsk | ir.Upload | uploads.Completion
                 | vector_stores.VectorRequest)


class OpenAIChat(ClientDialect[OpenAIRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = NAME
    results = {
        ir.ChatResponse: lambda result, request: encode_chat_response(result),
        ir.EmbeddingResponse: embeddings.encode_embedding_response,
        ir.ImageResponse: media.encode_image_response,
        ModelList: lambda result, request: {"object": "list", "data": [_card(m) for m in result.models]},
        ModelCard: lambda result, request: _card(result),
    }

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        if path == chat_store.PREFIX and method == "POST":  # the turn itself, first: the usual request
            return Route(ops.CHAT, {})
        if path.startswith(chat_store.PREFIX):
            return chat_store.match(method, path)
        if path == "/v1/embeddings":
            return Route(ops.EMBEDDINGS, {}) if method == "POST" else None
        if path == "/v1/moderations":
            return Route(ops.MODERATIONS, {}) if method == "POST" else None
        if path in _MEDIA_ROUTES:
            return Route(_MEDIA_ROUTES[path], {}) if method == "POST" else None
        if path.startswith(files.PREFIX):
            return files.route(method, path)
        if path.startswith(uploads.PREFIX):
            return uploads.match(method, path)
        if path == batches.PREFIX or path.startswith(batches.PREFIX + "/"):
            return batches.match(method, path)
        if path.startswith(vector_stores.PREFIX):
            return vector_stores.match(method, path)
        if method == "GET" and path.startswith("/v1/models"):
            if path in ("/v1/models", "/v1/models/"):
                return Route(ops.MODELS_LIST, {})
            if path.startswith("/v1/models/") and len(path) > 11:
                return Route(ops.MODELS_GET, {"model": path[11:]})
        return None

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> OpenAIRequest:
        if operation is ops.EMBEDDINGS:
            return embeddings.decode_embedding_request(body, self.name)
        if operation is ops.MODERATIONS:
            return decode_moderation_request(body, self.name)
        if operation is ops.FILES_CREATE:
            return openai_files.decode_upload(body)
        if operation is ops.CHAT_COMPLETIONS_UPDATE:
            return chat_store.decode_update(body)
        if operation in ops.VECTOR_STORES:
            return vector_stores.decode(operation, body)
        if operation is ops.UPLOADS_CREATE:
            return uploads.decode_create(body)
        if operation is ops.UPLOADS_PART:
            return uploads.decode_part(body)
        if operation is ops.UPLOADS_COMPLETE:
            return uploads.decode_complete(body)
        if operation is ops.SPEECH:
            return media.decode_speech_request(body, self.name)
        if operation is ops.TRANSCRIPTIONS:
            return media.decode_transcription_request(body, self.name)
        if operation is ops.IMAGE_GENERATIONS or operation is ops.IMAGE_EDITS:
            return media.decode_image_request(body, self.name, edit=operation is ops.IMAGE_EDITS)
        return decode_chat_request(body)

    def stream_encoder(self, request: OpenAIRequest) -> StreamEncoder:
        if isinstance(request, media.REQUESTS):
            return media.MediaStreamEncoder(request, encode_error_body)
        assert isinstance(request, ir.ChatRequest), "embeddings do not stream"
        return ChatStreamEncoder(bool(request.stream_usage))

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return encode_error_body(error)

    def passthrough(self, request: OpenAIRequest) -> Passthrough:
        if isinstance(request, media.REQUESTS):
            return media.MediaPassthrough(request)
        assert isinstance(request, ir.ChatRequest), "embeddings do not stream"
        return ChatPassthrough(bool(request.stream_usage))

    def usage_of(self, body: Any) -> ir.Usage | None:
        return decode_usage(body.get("usage")) if isinstance(body, dict) else None

    def encode_request(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        return encode_chat_request(request, model)

    def decode_response(self, body: Any) -> ir.ChatResponse:
        return decode_chat_response(body)

    def stream_decoder(self) -> StreamDecoder:
        return ChatStreamDecoder()

    def decode_error(self, status: int, body: bytes) -> ir.GatewayError:
        return f.error_from_body(status, body, _error_from_payload)


def _card(card: ModelCard) -> dict[str, Any]:
    return {"id": card.id, "object": "model", "created": card.created, "owned_by": card.owned_by,
            "capabilities": list(card.capabilities)}


CODEC = OpenAIChat()
