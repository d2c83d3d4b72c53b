"""Gemini generateContent (Google's Gemini API generateContent reference, streaming included), both
directions: answers, streams, errors and the codec here, requests in `gemini_request.py`.

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

import re
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import (
    citations,
    code_runs,
    gemini_batches,
    gemini_caches,
    gemini_file_search,
    gemini_files,
    logprobs,
    sse,
    tools,
    web_fetch,
    web_search,
)
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import gemini_embeddings as embeddings
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
from interlingua.adapters.dialects.gemini_request import (
    NAME,
    PROVIDER,
    CallIds,
    decode_generate_request,
    decode_part,
    encode_generate_request,
    g,
)
from interlingua.adapters.dialects.ids import new_call_id

_CRLF = b"\r\n\r\n"

_FINISH_IN: dict[str, ir.FinishReason] = {"STOP": "stop", "MAX_TOKENS": "length"}
FILTERED = frozenset({"SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                      "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER"})
_FINISH_OUT = {"stop": "STOP", "stop_sequence": "STOP", "tool_calls": "STOP", "pause": "STOP", "length": "MAX_TOKENS",
               "context_overflow": "MAX_TOKENS", "content_filter": "SAFETY"}
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 502: "UNAVAILABLE",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE"}


# Response -----------------------------------------------------------------------------------------


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    def count(camel: str) -> int:
        return f.count(raw, f.spelled(raw, camel))

    thoughts = count("thoughtsTokenCount")
    return ir.Usage(
        input_tokens=count("promptTokenCount") + count("toolUsePromptTokenCount"),
        output_tokens=count("candidatesTokenCount") + thoughts,
        cache_read_tokens=count("cachedContentTokenCount"),
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
    for n, raw_candidate in enumerate(f.array(body, "candidates") or ()):
        at = f"candidates[{n}]"
        candidate = f.obj(raw_candidate, at)
        calls = CallIds()
        parts = [p for i, raw in enumerate(_candidate_parts(candidate, at))
                 for p in decode_part(raw, f"{at}.content.parts[{i}]", calls)]
        has_calls = any(isinstance(p, ir.ToolCall) for p in parts)
        grounding = g(candidate, "groundingMetadata")  # Google Search grounding, for other dialects' clients
        if isinstance(grounding, dict):
            citations.place(parts, citations.from_gemini(grounding, "".join(
                p.text for p in parts if isinstance(p, ir.Text))))
        index = f.integer(candidate, "index", at + ".", minimum=0)
        reason = f.string(candidate, f.spelled(candidate, "finishReason"), at + ".")
        choices.append(ir.Choice(len(choices) if index is None else index, ir.Message("assistant", parts),
                                 _finish_in(reason or "STOP", has_calls),
                                 logprobs.from_gemini(g(candidate, "logprobsResult")),
                                 extra={"grounding": grounding} if isinstance(grounding, dict) else None))
    if not choices and g(body, "promptFeedback"):
        choices.append(ir.Choice(0, ir.Message("assistant", []), "content_filter"))
    return ir.ChatResponse(id=_label(body, "responseId"), model=_label(body, "modelVersion"),
                           created=int(time.time()), choices=choices, usage=decode_usage(g(body, "usageMetadata")))


def _candidate_parts(candidate: dict[str, Any], path: str) -> list[Any]:
    content = f.obj(candidate.get("content") or {}, path + ".content")
    return f.array(content, "parts", path + ".content.") or []


def _label(body: dict[str, Any], camel: str) -> str:
    return f.label(body, f.spelled(body, camel)) or ""


def _part_of(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return {"text": part.text}
    if isinstance(part, ir.Refusal):
        return {"text": part.text}
    if isinstance(part, ir.ToolCall):
        return {"functionCall": {"id": part.id, "name": part.name, "args": f.arguments_object(part.arguments)}}
    if isinstance(part, ir.Reasoning) and part.text:
        return {"text": part.text, "thought": True}
    if isinstance(part, ir.Opaque) and part.dialect == PROVIDER:  # code run, by Gemini or another upstream
        return dict(part.data)
    return None


def _parts_of(message: ir.Message) -> list[dict[str, Any]]:
    """A message's parts, each Gemini signature on the part after it, as Gemini places them (on
    a function call, or the text that follows the thinking); one with no part of its own to ride
    on goes on an empty text part."""
    out: list[dict[str, Any]] = []
    pending: str | None = None
    for part in code_runs.foreign(message.parts, PROVIDER):
        if isinstance(part, ir.Reasoning) and part.provider == PROVIDER and part.signature:
            if part.text:
                out.append({"text": part.text, "thought": True})
            if pending:
                out.append({"text": "", "thoughtSignature": pending})
            pending = part.signature
            continue
        rendered = _part_of(part)
        if rendered is None:
            continue
        if pending:
            rendered["thoughtSignature"], pending = pending, None
        out.append(rendered)
    if pending:
        out.append({"text": "", "thoughtSignature": pending})
    return out


def encode_generate_response(resp: ir.ChatResponse) -> dict[str, Any]:
    candidates = []
    for choice in resp.choices:
        parts = _parts_of(choice.message)
        candidate = {"content": {"role": "model", "parts": parts or [{"text": ""}]},
                     "finishReason": _FINISH_OUT.get(choice.finish_reason or "stop", "STOP"), "index": choice.index}
        # Google Search's, or the gateway's file search; else another upstream's searches and citations
        grounding = (choice.extra or {}).get("grounding") or citations.to_gemini(
            choice.message.parts, web_search.grounding_of(choice.message.parts))
        if grounding:
            candidate["groundingMetadata"] = grounding
        if fetched := web_fetch.url_context(choice.message.parts, NAME):  # another upstream's fetches
            candidate["urlContextMetadata"] = fetched
        if choice.logprobs is not None:
            result = candidate["logprobsResult"] = logprobs.to_gemini(choice.logprobs)
            if choice.logprobs:
                candidate["avgLogprobs"] = result["logProbabilitySum"] / len(choice.logprobs)
        candidates.append(candidate)
    body: dict[str, Any] = {"candidates": candidates}
    if resp.usage is not None:
        body["usageMetadata"] = encode_usage(resp.usage)
    body["modelVersion"] = resp.model
    body["responseId"] = resp.id
    return body


# Streams ------------------------------------------------------------------------------------------


class GenerateStreamDecoder(StreamDecoder):
    """Gemini SSE (CRLF or LF separated) to IR events; function calls arrive whole."""

    __slots__ = ("_started", "_tools", "_calls", "_texts")

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._tools: dict[int, int] = {}
        self._calls: dict[int, bool] = {}
        self._texts: dict[int, list[str]] = {}  # each candidate's, which grounding supports count in

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for _, data in sse.events(block):
            payload = event_json(data)
            if payload.get("error"):
                raise _error_of(502, payload)
            if not self._started:
                self._started = True
                out.append(ir.StreamStart(_label(payload, "responseId"), _label(payload, "modelVersion"),
                                          int(time.time())))
            candidates = payload.get("candidates")
            if candidates:
                if type(candidates) is not list:
                    raise ir.invalid("candidates", "must be an array")
                for candidate in candidates:
                    self._candidate(f.obj(candidate, "candidates"), out)
            elif g(payload, "promptFeedback"):
                self.terminated = True  # a blocked prompt ends with no candidate at all
                out.append(ir.Finish("content_filter"))
            usage = decode_usage(g(payload, "usageMetadata"))
            if usage is not None:
                out.append(ir.UsageReport(usage))

    def _candidate(self, candidate: dict[str, Any], out: list[ir.StreamEvent]) -> None:
        """One candidate of a chunk. Every chunk passes here, so a value is checked only where it is."""
        index = candidate.get("index") or 0
        if type(index) is not int or index < 0:
            raise ir.invalid("candidates.index", "must be a whole number")
        tokens = logprobs.from_gemini(g(candidate, "logprobsResult"))  # the chunk's, for its text
        for part in _candidate_parts(candidate, "candidates"):
            if type(part) is not dict:
                raise ir.invalid("candidates.content.parts", "must hold objects")
            signature = g(part, "thoughtSignature")
            if signature:
                out.append(ir.ReasoningDelta(signature=f.text(signature, "parts.thoughtSignature"), choice=index))
            call = g(part, "functionCall")
            if call is not None:
                self._call(f.obj(call, "parts.functionCall"), index, out)
            elif g(part, "executableCode") is not None or g(part, "codeExecutionResult") is not None:
                out.append(ir.OpaqueBlock(NAME, part))  # code it ran, for any client to show
            elif text := part.get("text"):
                text = f.text(text, "parts.text")
                if part.get("thought") is True:
                    out.append(ir.ReasoningDelta(text, choice=index))
                else:
                    self._texts.setdefault(index, []).append(text)
                    out.append(ir.TextDelta(text, index, tokens))
                    tokens = None
        grounding = g(candidate, "groundingMetadata")
        if isinstance(grounding, dict):  # for another dialect's client to show, or this one's
            if grounding.get("groundingSupports") and (  # while the text it cites is open
                    cited := citations.from_gemini(grounding, "".join(self._texts.get(index, ())))):
                out.append(ir.CitationDelta(cited, index))
            out.append(ir.OpaqueBlock(NAME, {"groundingMetadata": grounding}))
        reason = g(candidate, "finishReason")
        if reason:
            reason = f.text(reason, "candidates.finishReason")
            self.terminated = True
            out.append(ir.Finish(_finish_in(reason, self._calls.get(index, False)) or "stop", index))

    def _call(self, call: dict[str, Any], index: int, out: list[ir.StreamEvent]) -> None:
        tool = self._tools.get(index, -1) + 1
        self._tools[index] = tool
        self._calls[index] = True
        out.append(ir.ToolCallDelta(tool, orjson.dumps(f.mapping(call, "args", "functionCall.") or {}).decode(),
                                    id=f.string(call, "id", "functionCall.") or new_call_id(),
                                    name=f.string(call, "name", "functionCall.", required=True), choice=index))


class GenerateStreamEncoder(StreamEncoder):
    """IR events to Gemini chunks: SSE, or one streamed JSON array when the client did not ask for SSE.

    Tool-call fragments are held until the call is complete, since Gemini sends calls whole; the
    finish reason waits for the usage so that both ride on the last chunk, as Gemini sends them.
    """

    __slots__ = ("media_type", "_array", "_sent", "_id", "_model", "_calls", "_finish", "_usage", "_signatures",
                 "_grounding", "_searches", "_searched", "_text", "_cited", "_runs", "_fetches", "_fetched")

    def __init__(self, array: bool) -> None:
        self._array = array
        self.media_type = "application/json" if array else "text/event-stream"
        self._sent = 0
        self._id = secrets.token_hex(12)
        self._model = ""
        self._calls: dict[tuple[int, int], dict[str, Any]] = {}
        self._finish: dict[int, str] = {}
        self._usage: ir.Usage | None = None
        self._signatures: dict[int, str] = {}  # per candidate, a signature waiting for its part
        self._grounding: dict[str, Any] | None = None  # the gateway's file search's, for the last chunk
        self._searches = web_search.Reader()
        self._searched: list[web_search.Search] = []  # another upstream's web searches, for the last chunk
        self._text: list[str] = []  # the first candidate's, which its supports count in, in UTF-8 bytes
        self._cited: list[ir.Citation] = []  # another upstream's citations of it, for the last chunk
        self._runs = code_runs.Reader()
        self._fetches = web_fetch.Reader()
        self._fetched: list[web_fetch.Fetch] = []  # another upstream's fetches, for the last chunk

    def _frame(self, payload: dict[str, Any]) -> bytes:
        data = orjson.dumps(payload)
        self._sent += 1
        if self._array:
            return (b"[" if self._sent == 1 else b",\r\n") + data
        return b"data: " + data + _CRLF

    def _chunk(self, choice: int, parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
        signature = self._signatures.pop(choice, None)
        if signature:
            parts[0]["thoughtSignature"] = signature
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
            args = f.arguments_object("".join(call["arguments"]))
            part = {"functionCall": {"id": call["id"], "name": call["name"], "args": args}}
            out += self._frame(self._chunk(key[0], [part]))
        return out

    def encode(self, event: ir.StreamEvent) -> bytes:
        if isinstance(event, ir.TextDelta):
            if not event.choice:
                self._text.append(event.text)
            chunk = self._chunk(event.choice, [{"text": event.text}])
            if event.logprobs is not None:
                chunk["candidates"][0]["logprobsResult"] = logprobs.to_gemini(event.logprobs)
            return self._flush_calls(event.choice) + self._frame(chunk)
        if isinstance(event, ir.ToolCallDelta):
            key = (event.choice, event.index)
            out = b""
            if key not in self._calls:
                if event.name is None:  # a call's first delta names it
                    raise tools.interleaved()
                out = self._flush_calls(event.choice)
                self._calls[key] = {"id": event.id or new_call_id(), "name": event.name or "", "arguments": []}
            self._calls[key]["arguments"].append(event.arguments)  # joined once whole: Gemini sends calls whole
            return out
        if isinstance(event, ir.ReasoningDelta):
            # A signature rides on the next part of its candidate (see `_parts_of`).
            out = self._frame(self._chunk(event.choice, [{"text": event.text, "thought": True}])) if event.text else b""
            if event.signature and event.provider == PROVIDER:
                if event.choice in self._signatures:
                    out += self._frame(self._chunk(event.choice, [{"text": ""}]))
                self._signatures[event.choice] = event.signature
            return out
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
        elif isinstance(event, ir.CitationDelta) and not event.choice:
            self._cited += event.citations
        elif isinstance(event, ir.OpaqueBlock) and event.dialect == NAME and "groundingMetadata" in event.data:
            self._grounding = event.data["groundingMetadata"]
        elif isinstance(event, ir.OpaqueBlock) and event.dialect == NAME:  # code run: a part of the candidate
            return self._flush_calls(0) + self._frame(self._chunk(0, [dict(event.data)]))
        elif isinstance(event, ir.OpaqueBlock) and (search := self._searches.foreign(event, NAME)) is not None:
            self._searched.append(search)  # another upstream's search
        elif isinstance(event, ir.OpaqueBlock) and (run := self._runs.foreign(event, NAME)) is not None:
            return self._flush_calls(0) + self._frame(self._chunk(0, code_runs.to_gemini(run)))
        elif isinstance(event, ir.OpaqueBlock) and (fetch := self._fetches.foreign(event, NAME)) is not None:
            self._fetched.append(fetch)
        return b""

    def end(self) -> bytes:
        out = self._flush_calls()
        finishes = self._finish or {0: "STOP"}
        grounding = self._grounding or self._foreign_grounding()
        for i, (choice, reason) in enumerate(sorted(finishes.items())):
            chunk = self._chunk(choice, [{"text": ""}], reason)
            if grounding and choice == 0:
                chunk["candidates"][0]["groundingMetadata"] = grounding
            if self._fetched and choice == 0:
                chunk["candidates"][0]["urlContextMetadata"] = web_fetch.to_url_context(self._fetched)
            if self._usage is not None and i == len(finishes) - 1:
                chunk["usageMetadata"] = encode_usage(self._usage)
            out += self._frame(chunk)
        return out + (b"]" if self._array else b"")

    def _foreign_grounding(self) -> dict[str, Any] | None:
        """Another upstream's searches and citations as the grounding of the last chunk."""
        grounding = web_search.to_grounding(self._searched) if self._searched or self._cited else None
        if grounding is not None and self._cited:
            grounding["groundingSupports"] = citations.supports("".join(self._text), self._cited,
                                                                grounding["groundingChunks"])
        return grounding

    def error(self, error: ir.GatewayError) -> bytes:
        return self._frame(orjson.loads(encode_error_body(error))) + (b"]" if self._array else b"")

    def ping(self) -> bytes:
        return b"" if self._array else b": ping\r\n\r\n"


class GeneratePassthrough(Passthrough):
    """Forwards Gemini SSE, or re-frames it as the JSON array a client without `alt=sse` expects;
    reads the cumulative usage from the last chunk that has it."""

    __slots__ = ("_array", "_sent", "media_type")
    terminators = (b'"finishReason"', b'"blockReason"')  # a blocked prompt has no candidate to finish
    error_marker = re.compile(rb'^data: ?\{\s*"error"', re.MULTILINE)

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
                self.usage = decode_usage(g(event_json(data), "usageMetadata")) or self.usage
                break
        if not self._array:
            return block
        out = b",\r\n".join(datas)
        prefix = b"[" if self._sent == 0 else b",\r\n"
        self._sent += len(datas)
        return prefix + out

    def close(self) -> bytes:
        tail = super().close()
        if self._array and self.terminated:  # else `error` closes the array
            return tail + (b"]" if self._sent else b"[]")
        return tail

    def upstream_error(self, name: str | None, data: bytes) -> ir.GatewayError | None:
        payload = event_json(data) if data.lstrip().startswith(b'{') else {}
        return _error_of(502, payload) if payload.get("error") else None

    def error(self, error: ir.GatewayError) -> bytes | None:
        """In the JSON array, the error is its last element: a fresh encoder would open another."""
        if not self._array:
            return None
        return (b",\r\n" if self._sent else b"[") + encode_error_body(error) + b"]"


# Errors and models --------------------------------------------------------------------------------


def encode_error_body(error: ir.GatewayError) -> bytes:
    status = CODEC.status_of(error)
    named = "FAILED_PRECONDITION" if error.code == "failed_precondition" else _STATUS.get(
        status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return orjson.dumps({"error": {"code": status, "message": error.message, "status": named}})


def _error_of(status: int, payload: Any) -> ir.GatewayError:
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict):
        return f.upstream_error(status, f"upstream answered {status}")
    code = err.get("code")  # what an in-stream error (HTTP 200) has for a status
    message = str(err.get("message") or err.get("status") or "upstream error")
    return f.upstream_error(code if type(code) is int and 400 <= code <= 599 else status, message)


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
            "embedContent": ops.EMBEDDINGS, "batchEmbedContents": ops.EMBEDDINGS,
            "batchGenerateContent": ops.BATCHES_CREATE}

GeminiRequest = (ir.ChatRequest | ir.EmbeddingRequest | gemini_files.UploadStart | gemini_caches.CacheAsk
                 | gemini_caches.CacheUpdate | gemini_file_search.FileSearchRequest)


class Gemini(ClientDialect[GeminiRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = NAME
    results = {
        ir.ChatResponse: lambda result, request: encode_generate_response(result),
        ir.TokenCount: lambda result, request: {"totalTokens": result.input_tokens},
        ir.EmbeddingResponse: embeddings.encode_embed_response,
        ModelList: lambda result, request: _page(result.models, result.query),
        ModelCard: lambda result, request: _model_entry(result),
    }

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        if path.startswith((gemini_files.UPLOAD, gemini_files.PREFIX)):
            return gemini_files.match(method, path, query)
        if path.startswith((gemini_file_search.PREFIX, gemini_file_search.UPLOAD)):
            return gemini_file_search.match(method, path, query)
        if path.startswith(gemini_batches.PREFIX):
            return gemini_batches.match(method, path)
        if path.startswith(gemini_caches.PREFIX):
            return gemini_caches.match(method, path)
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
        if operation is ops.FILES_CREATE:
            return gemini_files.decode_start(body, headers)
        if operation in ops.FILE_SEARCH_STORES:
            return gemini_file_search.decode(operation, body, headers)
        if operation is ops.CACHES_CREATE:
            return gemini_caches.decode_create(body)
        if operation is ops.CACHES_UPDATE:
            return gemini_caches.decode_update(body)
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
