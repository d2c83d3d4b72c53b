"""OpenAI Responses (OpenAI's Responses API reference, streaming events included), both directions:
answers, streams, errors and the codec here, requests in `openai_responses_request.py`.

Items map onto IR messages: consecutive assistant output (message, reasoning and function_call
items) becomes one assistant message, each function_call_output one tool message. A reasoning
item's `encrypted_content` is opaque state bound to OpenAI (`Reasoning.signature`, provider
"openai"), sent back only to Responses upstreams. Items only this dialect knows (item references,
compactions, hosted-tool calls) travel as `Opaque` parts. Conversation state (`store`,
`previous_response_id`) is not the codec's business: `middleware/responses_state.py` keeps it.
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
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import sse, tools
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
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.dialects.openai_responses_request import (
    NAME,
    PROVIDER,
    decode_items,
    decode_responses_request,
    encode_responses_request,
    summary_items,
)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


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


def call_item(call: ir.ToolCall, request: ir.ChatRequest | None) -> dict[str, Any]:
    """A tool call as the item of the client's own kind of tool (`tools.call_item`)."""
    kind = tools.call_item(request, call.name, call.kind)
    if kind == "custom_tool_call":
        return {"type": kind, "id": _new_id("ctc"), "call_id": call.id, "name": call.name, "input": call.arguments,
                "status": "completed"}
    if kind in tools.CLIENT_OUTPUTS:  # tool_search_call, shell_call...
        return tools.client_call_item(kind, call.id, call.arguments, _new_id("tc"))
    return {"type": kind, "id": _new_id("fc"), "call_id": call.id, "name": call.name, "arguments": call.arguments,
            "status": "completed"}


def _output_items(parts: list[ir.Part], request: ir.ChatRequest | None = None,
                  grounding: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """IR output as Responses items, with the ids a client echoes back on the next turn; another
    provider's web search (Anthropic's server tool, Gemini's grounding) as `web_search_call` items
    and `url_citation` annotations."""
    items: list[dict[str, Any]] = [tools.grounding_call(grounding, _new_id("ws"))] if grounding else []
    message: dict[str, Any] | None = None
    for part in parts:
        if isinstance(part, (ir.Text, ir.Refusal)):
            if message is None:
                message = {"type": "message", "id": _new_id("msg"), "role": "assistant", "status": "completed",
                           "content": []}
                items.append(message)
            message["content"].append({"type": "output_text", "text": part.text,
                                       "annotations": tools.url_citations(part), "logprobs": []}
                                      if isinstance(part, ir.Text) else {"type": "refusal", "refusal": part.text})
            continue
        message = None
        if isinstance(part, ir.ToolCall):
            items.append(call_item(part, request))
        elif isinstance(part, ir.Reasoning) and (part.text or part.provider == PROVIDER):
            item = {"type": "reasoning", "id": (part.extra or {}).get("id") or _new_id("rs"),
                    "summary": summary_items(part.text)}
            if part.provider == PROVIDER and part.signature:
                item["encrypted_content"] = part.signature
            items.append(item)
        elif isinstance(part, ir.Opaque):
            _opaque_item(part, items)
    if grounding:
        _cite(items, grounding)
    return items


def _opaque_item(part: ir.Opaque, items: list[dict[str, Any]]) -> None:
    """A block only one dialect knows: this dialect's items as they are; another provider's web
    search as a `web_search_call`, its results as the call's sources."""
    if part.dialect == CODEC.name:
        items.append(part.data)
    elif (search := tools.web_search_call(part, _new_id("ws"))) is not None:
        items.append(search)
    elif (sources := tools.web_search_sources(part)) is not None:
        calls = [i for i in items if i.get("type") == "web_search_call"]
        if calls:
            calls[-1]["action"]["sources"] = sources


def _cite(items: list[dict[str, Any]], grounding: dict[str, Any]) -> None:
    """Gemini's grounding supports as annotations on the first text of the answer."""
    for item in items:
        if item.get("type") == "message":
            for content in item["content"]:
                if content.get("type") == "output_text":
                    content["annotations"] = tools.grounding_citations(grounding, content["text"])
                    return


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
                           _output_items(choice.message.parts, request, (choice.extra or {}).get("grounding")),
                           resp.usage, request, incomplete=incomplete)


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
            event = event_json(data)
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
                self.terminated = True
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
            if part["type"] == "refusal":
                part["refusal"] = self._text
                out += self._event("response.refusal.done", item_id=item["id"], output_index=index, content_index=0,
                                   refusal=self._text)
            else:
                part["text"] = self._text
                out += self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                   content_index=0, text=self._text, logprobs=[])
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
        elif item["type"] == "custom_tool_call":
            out += self._event("response.custom_tool_call_input.done", item_id=item["id"], output_index=index,
                               input=item["input"])
        elif item["type"] in tools.CLIENT_OUTPUTS:  # its arguments are an object, known when whole
            item.update(tools.client_call_item(item["type"], item["call_id"], self._text, item["id"]))
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

    def _encrypted(self, event: ir.ReasoningDelta) -> bytes:
        """The open reasoning item (or a new one) with its `encrypted_content`, then done."""
        out = self.encode(ir.ReasoningDelta(event.text)) if event.text else b""
        if self._open is None or self._open["type"] != "reasoning":
            out += self._add({"type": "reasoning", "id": _new_id("rs"), "summary": []})
        self._open["encrypted_content"] = event.signature  # type: ignore[index]  # the item opened above
        return out + self._close()

    def _message_delta(self, event: ir.TextDelta | ir.RefusalDelta) -> bytes:
        """Text or a refusal, each in its own content part type (a message item holds one part)."""
        refusal = isinstance(event, ir.RefusalDelta)
        part: dict[str, Any] = ({"type": "refusal", "refusal": ""} if refusal else
                                {"type": "output_text", "text": "", "annotations": []})
        out = b""
        if self._open is None or self._open["type"] != "message" or self._open["content"][0]["type"] != part["type"]:
            item = {"type": "message", "id": _new_id("msg"), "role": "assistant", "status": "in_progress",
                    "content": [dict(part) if refusal else {**part, "logprobs": []}]}
            out = self._add(item)
            out += self._event("response.content_part.added", item_id=item["id"], output_index=len(self._items),
                               content_index=0, part=part)
        self._text += event.text
        at = {"item_id": self._open["id"], "output_index": len(self._items), "content_index": 0}  # type: ignore[index]  # the item opened above
        if refusal:
            return out + self._event("response.refusal.delta", **at, delta=event.text)
        return out + self._event("response.output_text.delta", **at, delta=event.text, logprobs=[])

    def _call_delta(self, event: ir.ToolCallDelta) -> bytes:
        """A call as the item of the client's own kind of tool: function_call, custom_tool_call
        (raw input streamed), or a client-run tool's call (tool_search_call, shell_call...: arguments
        an object, given whole when done)."""
        out = b""
        if self._tool_index != event.index:
            kind = tools.call_item(self._request, event.name, event.kind)
            call_id = event.id or _new_id("call")
            item: dict[str, Any]
            if kind == "custom_tool_call":
                item = {"type": kind, "id": _new_id("ctc"), "call_id": call_id, "name": event.name or "",
                        "input": "", "status": "in_progress"}
            elif kind in tools.CLIENT_OUTPUTS:
                item = {**tools.client_call_item(kind, call_id, "", _new_id("tc")), "status": "in_progress"}
            else:
                item = {"type": kind, "id": _new_id("fc"), "call_id": call_id, "name": event.name or "",
                        "arguments": "", "status": "in_progress"}
            out = self._add(item)
            self._tool_index = event.index
        if not event.arguments:
            return out
        item = self._open  # type: ignore[assignment]  # the item opened above
        at = {"item_id": item["id"], "output_index": len(self._items), "delta": event.arguments}
        if item["type"] == "custom_tool_call":
            item["input"] += event.arguments
            return out + self._event("response.custom_tool_call_input.delta", **at)
        if item["type"] in tools.CLIENT_OUTPUTS:
            self._text += event.arguments
            return out
        item["arguments"] += event.arguments
        return out + self._event("response.function_call_arguments.delta", **at)

    def encode(self, event: ir.StreamEvent) -> bytes:
        if getattr(event, "choice", 0):
            return b""
        if isinstance(event, (ir.TextDelta, ir.RefusalDelta)):
            return self._message_delta(event) if event.text else b""
        if isinstance(event, ir.ToolCallDelta):
            return self._call_delta(event)
        if isinstance(event, ir.ReasoningDelta):
            if event.signature and event.provider == PROVIDER:  # state for this slot (see providers/slots.py)
                return self._encrypted(event)
            if not event.text:
                return b""
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

    def resume(self, response: dict[str, Any], sequence: int) -> None:
        """Continue a stream that someone else began (a pass-through that breaks): its
        response's id, model and creation time, and the next sequence number."""
        self._seq = sequence
        self._id = str(response.get("id") or self._id)
        self._model = str(response.get("model") or self._model)
        created = response.get("created_at")
        self._created = float(created) if isinstance(created, (int, float)) else self._created

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
    """Forwards Responses SSE unchanged; usage comes with the terminal event.

    `response.created` is parsed too (one event a stream), so that an error ending the stream can
    fail the upstream's own response, numbered after the events forwarded.
    """

    __slots__ = ("_request", "_created")
    terminators = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')
    error_marker = re.compile(rb"^event: ?(?:error|response\.failed)\r?$", re.MULTILINE)

    def __init__(self, request: ir.ChatRequest | None = None) -> None:
        super().__init__()
        self._request = request
        self._created: dict[str, Any] | None = None

    def forward(self, block: bytes) -> bytes:
        if self._created is None and b'"response.created"' in block:
            for _, data in sse.events(block):
                if b'"response.created"' in data:
                    response = event_json(data).get("response")
                    self._created = response if isinstance(response, dict) else {}
                    break
        self.events += block.count(b"\ndata:")
        response = final_response(block)
        if response is not None and "usage" in response:
            self.usage = decode_usage(response.get("usage"))
        return block


    def upstream_error(self, name: str | None, data: bytes) -> ir.GatewayError | None:
        if name not in ("error", "response.failed"):
            return None
        return _stream_error(event_json(data))

    def error(self, error: ir.GatewayError) -> bytes:
        """`response.failed` for the upstream's response, then `error`, numbered on from the
        events forwarded (one `data:` line each), not a second `response.created`."""
        encoder = ResponsesStreamEncoder(self._request)
        encoder.resume(self._created or {}, self.events)
        return encoder.error(error)


_TERMINAL = (b'"response.completed"', b'"response.incomplete"')


def final_response(block: bytes) -> dict[str, Any] | None:
    """The Response of a terminal event (`response.completed` or `response.incomplete`) among the
    whole SSE events of `block`; only such an event is parsed."""
    if not any(marker in block for marker in _TERMINAL):
        return None
    for _, data in sse.events(block):
        if any(marker in data for marker in _TERMINAL):
            response = event_json(data).get("response")
            return response if isinstance(response, dict) else {}
    return None


# The codec ----------------------------------------------------------------------------------------


class OpenAIResponses(ClientDialect[ir.ChatRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = NAME
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
        return ResponsesPassthrough(request)

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
