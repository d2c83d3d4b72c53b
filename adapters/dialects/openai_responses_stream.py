"""OpenAI Responses streams (section 2.5 of the reference), both directions: upstream SSE to IR
events, IR events to the client's event sequence, and the pass-through that forwards a Responses
upstream's events unchanged while it reads their usage and ending.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import citations, code_runs, logprobs, sse, tools, web_search
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Passthrough, StreamDecoder, StreamEncoder, event_json
from interlingua.adapters.dialects.openai_responses_request import NAME, PROVIDER, new_id
from interlingua.adapters.dialects.openai_responses_response import decode_usage, response_object

# The events a hosted tool's call goes through between its item's `added` and `done`.
_PHASES = {"file_search_call": ("in_progress", "searching", "completed"),
           "code_interpreter_call": ("in_progress", "interpreting", "completed"),
           "web_search_call": ("in_progress", "searching", "completed"),
           "mcp_list_tools": ("in_progress", "completed"), "mcp_call": ("in_progress", "completed")}
_TOLD_FAILING = frozenset({"mcp_list_tools", "mcp_call"})  # the items whose failure has an event of its own
_TEXT_DELTA = "response.output_text.delta"


class ResponsesStreamDecoder(StreamDecoder):
    """Responses SSE to IR events; a function call's index is its position among the call items."""

    __slots__ = ("_tools", "_calls", "_chars", "_part", "_base")

    def __init__(self) -> None:
        super().__init__()
        self._tools: dict[str, int] = {}
        self._calls = False
        self._chars = 0  # of text so far, which the IR's citations count in
        self._part: tuple[Any, Any] = (None, None)  # the text part (item, content index) being streamed
        self._base = 0  # where it began, which its annotations count in

    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        for _, data in sse.events(block):
            if data == b"[DONE]":
                continue
            event = event_json(data)
            kind = event.get("type")
            if kind == "response.output_text.delta":
                text = _delta(event)
                part = (event.get("item_id"), event.get("content_index"))
                if part != self._part:
                    self._part, self._base = part, self._chars
                self._chars += len(text)
                out.append(ir.TextDelta(text, 0, logprobs.from_openai(event.get("logprobs")) or None))
            elif kind == "response.output_text.annotation.added":
                streamed = (event.get("item_id"), event.get("content_index")) == self._part
                base = self._base if streamed else self._chars  # annotations of a part with no text yet
                cited = citations.from_openai([event.get("annotation")]) or ()
                if cited:
                    out.append(ir.CitationDelta([ir.Citation(c.url, c.title, base + (c.start or 0),
                                                             self._chars if c.end is None else base + c.end)
                                                 for c in cited]))
            elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
                out.append(ir.ReasoningDelta(_delta(event)))
            elif kind == "response.refusal.delta":
                out.append(ir.RefusalDelta(_delta(event)))
            elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
                index = self._tools.get(f.label(event, "item_id") or "")
                if index is not None:
                    out.append(ir.ToolCallDelta(index, _delta(event)))
            elif kind == "response.output_item.added":
                self._item_added(f.obj(event.get("item") or {}, "item"), out)
            elif kind == "response.output_item.done":
                item = f.obj(event.get("item") or {}, "item")
                if item.get("type") == "reasoning" and (signature := f.string(item, "encrypted_content", "item.")):
                    out.append(ir.ReasoningDelta(signature=signature))
                elif item.get("type") in ("web_search_call", "code_interpreter_call"):  # for another dialect's client
                    out.append(ir.OpaqueBlock(NAME, item))
            elif kind == "response.created":
                response = f.obj(event.get("response") or {}, "response")
                out.append(ir.StreamStart(f.label(response, "id") or "", f.label(response, "model") or "",
                                          f.timestamp(response, "created_at")))
            elif kind in ("response.completed", "response.incomplete"):
                self.terminated = True
                response = f.obj(event.get("response") or {}, "response")
                reason: ir.FinishReason = "tool_calls" if self._calls else "stop"
                if kind == "response.incomplete":
                    why = f.sub(response, "incomplete_details").get("reason")
                    reason = "content_filter" if why == "content_filter" else "length"
                out.append(ir.Finish(reason))
                usage = decode_usage(response.get("usage"))
                if usage is not None:
                    out.append(ir.UsageReport(usage))
            elif kind in ("response.failed", "error"):
                raise stream_error(event)

    def _item_added(self, item: dict[str, Any], out: list[ir.StreamEvent]) -> None:
        kind = item.get("type")
        if kind in ("function_call", "custom_tool_call"):
            index = len(self._tools)
            self._tools[f.label(item, "id") or str(index)] = index
            self._calls = True
            custom = kind == "custom_tool_call"
            out.append(ir.ToolCallDelta(index, f.string(item, "input" if custom else "arguments", "item.") or "",
                                        id=f.string(item, "call_id", "item.", required=True),
                                        name=f.string(item, "name", "item.", required=True),
                                        kind="custom" if custom else "function"))


def _delta(event: dict[str, Any]) -> str:
    return f.string(event, "delta", "event.") or ""


def stream_error(event: dict[str, Any]) -> ir.GatewayError:
    error = event.get("error") or f.sub(event, "response").get("error") or event
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

    __slots__ = ("_request", "_seq", "_id", "_model", "_created", "_items", "_open", "_pieces", "_usage",
                 "_reason", "_tool_index", "_searches", "_runs", "_chars", "_part_base", "_text")

    def __init__(self, request: ir.ChatRequest | None) -> None:
        self._request = request
        self._seq = 0
        self._id = new_id("resp")
        self._model = request.model if request is not None else ""
        self._created = time.time()
        self._items: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._pieces: list[str] = []  # the open item's text, arguments or input so far, joined when it closes
        self._usage: ir.Usage | None = None
        self._reason: ir.FinishReason = "stop"
        self._tool_index: int | None = None
        self._searches = web_search.Reader()
        self._runs = code_runs.Reader()
        self._chars = 0  # of text so far, which the IR's citations count in
        self._part_base = 0  # where the open text part began
        self._text: tuple[str, int] | None = None  # the open text part's item id and output index

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
        response = self._response("in_progress")
        return (self._event("response.created", response=response)
                + self._event("response.in_progress", response=response))

    def _close(self) -> bytes:
        item = self._open
        if item is None:
            return b""
        self._open = self._text = None
        index = len(self._items)
        text = "".join(self._pieces)
        self._pieces.clear()
        out = b""
        if item["type"] == "message":
            part = item["content"][0]
            if part["type"] == "refusal":
                part["refusal"] = text
                out += self._event("response.refusal.done", item_id=item["id"], output_index=index, content_index=0,
                                   refusal=text)
            else:
                part["text"] = text
                out += self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                   content_index=0, text=text, logprobs=part["logprobs"])
            out += self._event("response.content_part.done", item_id=item["id"], output_index=index,
                               content_index=0, part=part)
        elif item["type"] == "reasoning":
            if item["summary"]:
                item["summary"][0]["text"] = text
                out += self._event("response.reasoning_summary_text.done", item_id=item["id"], output_index=index,
                                   summary_index=0, text=text)
                out += self._event("response.reasoning_summary_part.done", item_id=item["id"], output_index=index,
                                   summary_index=0, part=item["summary"][0])
        elif item["type"] == "function_call":
            item["arguments"] = text
            out += self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                               arguments=text, name=item["name"])
        elif item["type"] == "custom_tool_call":
            item["input"] = text
            out += self._event("response.custom_tool_call_input.done", item_id=item["id"], output_index=index,
                               input=text)
        elif item["type"] in tools.CLIENT_OUTPUTS:  # its arguments are an object, known when whole
            item.update(tools.client_call_item(item["type"], item["call_id"], text, item["id"]))
        if item["type"] != "reasoning" and item.get("status") != "failed" and not item.get("error"):
            item["status"] = "completed"
        self._items.append(item)
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
            out += self._add({"type": "reasoning", "id": new_id("rs"), "summary": []})
        self._open["encrypted_content"] = event.signature  # type: ignore[index]  # the item opened above
        return out + self._close()

    def _message_delta(self, event: ir.TextDelta | ir.RefusalDelta) -> bytes:
        """Text or a refusal, each in its own content part type (a message item holds one part)."""
        refusal = isinstance(event, ir.RefusalDelta)
        part: dict[str, Any] = ({"type": "refusal", "refusal": ""} if refusal else
                                {"type": "output_text", "text": "", "annotations": []})
        out = b""
        if self._open is None or self._open["type"] != "message" or self._open["content"][0]["type"] != part["type"]:
            item_id = new_id("msg")
            item = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress",
                    "content": [dict(part) if refusal else {**part, "logprobs": []}]}
            out = self._add(item)
            out += self._event("response.content_part.added", item_id=item_id, output_index=len(self._items),
                               content_index=0, part=part)
            self._part_base = self._chars
            self._text = None if refusal else (item_id, len(self._items))
        self._pieces.append(event.text)
        at = {"item_id": self._open["id"], "output_index": len(self._items), "content_index": 0}  # type: ignore[index]  # the item opened above
        if isinstance(event, ir.RefusalDelta):
            return out + self._event("response.refusal.delta", **at, delta=event.text)
        self._chars += len(event.text)
        tokens = logprobs.to_openai(event.logprobs or [])
        self._open["content"][0]["logprobs"] += tokens  # type: ignore[index]  # the item opened above
        return out + self._event(_TEXT_DELTA, **at, delta=event.text, logprobs=[logprobs.streamed(t) for t in tokens])

    def _plain_text(self, text: str) -> bytes:
        """A delta of the open text part without log probabilities: the event a stream sends per
        token, so written with no more than it needs (the same bytes `_message_delta` writes)."""
        item_id, index = self._text  # type: ignore[misc]  # a text part is open
        self._pieces.append(text)
        self._chars += len(text)
        self._seq += 1
        return sse.frame(orjson.dumps({"type": _TEXT_DELTA, "sequence_number": self._seq - 1, "item_id": item_id,
                                       "output_index": index, "content_index": 0, "delta": text, "logprobs": []}),
                         _TEXT_DELTA)

    def _cite(self, event: ir.CitationDelta) -> bytes:
        """Annotations of the open text part (the one a citation of text streamed can land on)."""
        item = self._open
        if item is None or item["type"] != "message" or item["content"][0]["type"] != "output_text":
            return b""
        notes = item["content"][0]["annotations"]
        out = b""
        for citation in event.citations:
            note = citations.to_responses(citation, self._chars - self._part_base, self._part_base)
            out += self._event("response.output_text.annotation.added", item_id=item["id"],
                               output_index=len(self._items), content_index=0, annotation_index=len(notes),
                               annotation=note)
            notes.append(note)
        return out

    def _call_delta(self, event: ir.ToolCallDelta) -> bytes:
        """A call as the item of the client's own kind of tool: function_call, custom_tool_call
        (raw input streamed), or a client-run tool's call (tool_search_call, shell_call...: arguments
        an object, given whole when done)."""
        out = b""
        if self._tool_index != event.index:
            if event.name is None:  # a call's first delta names it
                raise tools.interleaved()
            kind = tools.call_item(self._request, event.name, event.kind)
            call_id = event.id or new_id("call")
            item: dict[str, Any]
            if kind == "custom_tool_call":
                item = {"type": kind, "id": new_id("ctc"), "call_id": call_id, "name": event.name or "",
                        "input": "", "status": "in_progress"}
            elif kind in tools.CLIENT_OUTPUTS:
                item = {**tools.client_call_item(kind, call_id, "", new_id("tc")), "status": "in_progress"}
            else:
                item = {"type": kind, "id": new_id("fc"), "call_id": call_id, "name": event.name or "",
                        "arguments": "", "status": "in_progress"}
            out = self._add(item)
            self._tool_index = event.index
        if not event.arguments:
            return out
        item = self._open  # type: ignore[assignment]  # the item opened above
        at = {"item_id": item["id"], "output_index": len(self._items), "delta": event.arguments}
        self._pieces.append(event.arguments)
        if item["type"] == "custom_tool_call":
            return out + self._event("response.custom_tool_call_input.delta", **at)
        if item["type"] in tools.CLIENT_OUTPUTS:
            return out
        return out + self._event("response.function_call_arguments.delta", **at)

    def _opaque(self, event: ir.OpaqueBlock) -> bytes:
        """An item the gateway made whole (a hosted tool's call it ran), added, through its phases
        (a file search's `in_progress`, `searching`, `completed`), and done. One that failed stops
        before `completed`: an MCP call's `failed` event takes its place; the other kinds have none
        (the SDK reads no `web_search_call.failed`), their done item says `failed`."""
        item = dict(event.data)
        out = self._add({**item, "status": "in_progress"} if "status" in item else item)
        at = {"item_id": item["id"], "output_index": len(self._items)}
        phases = _PHASES.get(item["type"], ())
        if item.get("status") == "failed" or item.get("error"):
            phases = (*phases[:-1], "failed") if item["type"] in _TOLD_FAILING else phases[:-1]
        for phase in phases:
            out += self._event(f"response.{item['type']}.{phase}", **at)
        self._open = item
        return out + self._close()

    def encode(self, event: ir.StreamEvent) -> bytes:
        # A text part's deltas after its first (which opens it below) take the short way.
        if type(event) is ir.TextDelta and self._text is not None and not event.logprobs and not event.choice:
            return self._plain_text(event.text) if event.text else b""
        if getattr(event, "choice", 0):
            return b""
        if isinstance(event, (ir.TextDelta, ir.RefusalDelta)):
            return self._message_delta(event) if event.text else b""
        if isinstance(event, ir.ToolCallDelta):
            return self._call_delta(event)
        if isinstance(event, ir.CitationDelta):
            return self._cite(event)
        if isinstance(event, ir.ReasoningDelta):
            if event.signature and event.provider == PROVIDER:  # state for this slot (see providers/slots.py)
                return self._encrypted(event)
            if not event.text:
                return b""
            out = b""
            if self._open is None or self._open["type"] != "reasoning":
                item = {"type": "reasoning", "id": new_id("rs"), "summary": [{"type": "summary_text", "text": ""}]}
                out = self._add(item)
                out += self._event("response.reasoning_summary_part.added", item_id=item["id"],
                                   output_index=len(self._items), summary_index=0,
                                   part={"type": "summary_text", "text": ""})
            self._pieces.append(event.text)
            return out + self._event("response.reasoning_summary_text.delta", item_id=self._open["id"],  # type: ignore[index]  # the item opened above
                                     output_index=len(self._items), summary_index=0, delta=event.text)
        if isinstance(event, ir.OpaqueBlock):
            if event.dialect == NAME:
                return self._opaque(event)
            search = self._searches.foreign(event, NAME)  # another upstream's
            run = self._runs.foreign(event, NAME)
            made = web_search.to_responses(search) if search else code_runs.to_responses(run) if run else None
            return self._opaque(ir.OpaqueBlock(NAME, made)) if made else b""
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
        return stream_error(event_json(data))

    def error(self, error: ir.GatewayError) -> bytes:
        """`response.failed` for the upstream's response, then `error`, numbered on from the
        events forwarded (one `data:` line each), not a second `response.created`."""
        encoder = ResponsesStreamEncoder(self._request)
        encoder.resume(self._created or {}, self.events)
        return encoder.error(error)


TERMINAL = (b'"response.completed"', b'"response.incomplete"')  # the events a stream's Response ends in


def snapshot_data(block: bytes, kinds: tuple[bytes, ...]) -> Iterator[tuple[bytes, bytes]]:
    """The data of each event of `kinds` among the whole SSE events of `block`, with its kind,
    unparsed; a block that names none of them is not split."""
    if not any(kind in block for kind in kinds):
        return
    for _, data in sse.events(block):
        kind = next((kind for kind in kinds if kind in data), None)
        if kind is not None:
            yield kind, data


def snapshots(block: bytes, kinds: tuple[bytes, ...] = TERMINAL) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """The Response each event of `kinds` among the whole SSE events of `block` carries ({} where
    it is no object), with its kind; only such events are parsed."""
    for kind, data in snapshot_data(block, kinds):
        response = event_json(data).get("response")
        yield kind, response if isinstance(response, dict) else {}


def final_response(block: bytes) -> dict[str, Any] | None:
    """The Response of a terminal event (`response.completed` or `response.incomplete`) among the
    whole SSE events of `block`; only such an event is parsed."""
    return next((response for _, response in snapshots(block)), None)
