"""A fake OpenAI Responses API upstream, served over a real socket, for the gateway's tests.

Why a real server: streaming, sequence numbers, mid-stream errors and disconnects only show up on a
real connection, so this fake speaks the Responses API byte for byte as OpenAI's Responses API
reference (streaming events) gives it: compact JSON; streams as SSE frames with
an `event:` line equal to the payload's `type`, `sequence_number` from 0 rising by 1, and no
`[DONE]`. Like the real API it keeps state and rejects what the real API rejects, in OpenAI's error
shape, so a gateway that translates a conversation badly fails its tests here instead of in
production.

    async with FakeResponses() as fake:
        fake.script(reply(reasoning("Checking"), call("get_weather", '{"city":', '"Paris"}')), text("Sunny"))
        client = openai.AsyncOpenAI(base_url=fake.url, api_key="sk-test")
        ...
        assert fake.requests[0].json["model"] == "gpt-x"

`FakeResponses(azure=True)` is an Azure OpenAI resource's v1 API instead: the same endpoints under
`/openai/v1`, the key taken from the `api-key` header or an Entra ID token from `authorization`.

Scripted replies are consumed one per accepted `POST /v1/responses`, first in first out; a request
rejected by validation, and a token count, consume nothing. When the queue is empty the fake answers
`text("Hello", " from", " fake")`, echoing the requested model.

State. A request with `store` (default true) is kept in `stored` as soon as it is accepted, in its
final state; a reply that fails mid-stream is not kept. `previous_response_id` continues a kept
response: the inputs and outputs of its whole chain (never its `instructions`) come before this
request's input when the fake validates or counts it. `GET`/`DELETE /v1/responses/{id}` and
`GET /v1/responses/{id}/input_items` work on kept responses only, as on the real API.

Validation. A 400 `invalid_request_error` whose `param` names the field, when: `model` or `input`
is missing; an input item has a type outside `ITEM_TYPES` or a message has an unknown role; a
`function_call_output` (or `custom_tool_call_output`) answers a `call_id` that no `function_call`
(or `custom_tool_call`) in the chain or the input has; a reasoning item carries `encrypted_content`
the fake did not mint (it mints `enc_<random>` when `include` asks for
`reasoning.encrypted_content`, and remembers them in `encrypted`); a function tool has no `name`; a
`json_schema` text format lacks `name` or `schema`. A 404 for an unknown `previous_response_id`, and
for a reasoning item without `encrypted_content` or an `item_reference` whose id no kept response has
(the real API's answer when the item was never stored). A 401 without an `Authorization: Bearer`
credential. Anything else is accepted, ids the fake never issued included: Codex echoes `msg_`/`ctc_`
ids of its own. Compaction items are accepted unchecked: the fake never mints them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

from tests.fakes.openai_upstream import AZURE_DENIED
from tests.fakes.openai_upstream import ErrorReply as ErrorReply
from tests.fakes.openai_upstream import error as error
from tests.fakes.pacing import GARBAGE, Streaming, abort, bearer, cut_body

Json = dict[str, Any]

#: Input item types the real API accepts: reference section 2.2 and the SDK's `ResponseInputItemParam`.
ITEM_TYPES = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "item_reference",
        "compaction",
        "compaction_trigger",
        "custom_tool_call",
        "custom_tool_call_output",
        "file_search_call",
        "web_search_call",
        "computer_call",
        "computer_call_output",
        "tool_search_call",
        "tool_search_output",
        "additional_tools",
        "configuration_update",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "program",
        "program_output",
    }
)
_ROLES = ("assistant", "system", "developer", "user")
#: Each tool-output item type, and the call item type whose `call_id` it must answer.
_ANSWERS = {"function_call_output": "function_call", "custom_tool_call_output": "custom_tool_call"}
_CALLS = frozenset(_ANSWERS.values())
#: Id prefixes for input items sent without an id: the real API gives every kept item one.
_ID_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
}
#: Request settings a Response echoes, with the value the real API shows when the request left one out.
_SETTINGS: Json = {
    "background": False,
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "safety_identifier": None,
    "store": True,
    "temperature": 1.0,
    "tool_choice": "auto",
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}
#: Defaults the real API fills in inside `text`, `reasoning` and each function tool.
_TEXT: Json = {"format": {"type": "text"}, "verbosity": "medium"}
_REASONING: Json = {"effort": None, "summary": None}
_FUNCTION_TOOL: Json = {"description": None, "parameters": None, "strict": True}
#: Keys whose string values `count_tokens` counts.
_COUNTED = frozenset({"text", "content", "output", "arguments", "input", "instructions"})


def _hex_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it, so tests can assert on what the gateway sent upstream."""

    method: str
    path: str
    query: str  # the raw query string, e.g. "order=asc&limit=1"
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    json: Any  # the parsed body, or None when the body is empty or not JSON
    body: bytes

    @property
    def api_key(self) -> str | None:
        """The `Authorization: Bearer` credential, so tests can check which key the gateway forwarded."""
        return bearer(self.headers)


@dataclass(slots=True, frozen=True)
class Usage:
    """Token counts for a reply. As on the wire, cached and reasoning tokens are sub-counts."""

    input_tokens: int = 10
    output_tokens: int = 5
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def to_json(self) -> Json:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }


@dataclass(slots=True, frozen=True)
class Reasoning:
    """A reasoning item: one summary part per entry of `parts`, each streamed as its pieces."""

    parts: tuple[tuple[str, ...], ...]


@dataclass(slots=True, frozen=True)
class Message:
    """An assistant message of one output_text part; streamed, each piece is one text delta, and
    each annotation an `annotation.added` after them."""

    pieces: tuple[str, ...]
    annotations: tuple[Json, ...] = ()


@dataclass(slots=True, frozen=True)
class FunctionCall:
    """A function call whose arguments stream as `fragments`. `id` (fc_...) is minted per reply unless given."""

    name: str
    fragments: tuple[str, ...] = ("{}",)
    call_id: str = field(default_factory=lambda: _hex_id("call"))
    id: str | None = None

    @property
    def arguments(self) -> str:
        return "".join(self.fragments)


@dataclass(slots=True, frozen=True)
class CustomToolCall:
    """A call of a `custom` (freeform) tool, such as Codex's `apply_patch`: its raw `input` text
    streams as `pieces`. `id` (ctc_...) is minted per reply unless given."""

    name: str
    pieces: tuple[str, ...] = ("",)
    call_id: str = field(default_factory=lambda: _hex_id("call"))
    id: str | None = None

    @property
    def input(self) -> str:
        return "".join(self.pieces)


@dataclass(slots=True, frozen=True)
class WebSearchCall:
    """A search the model's hosted `web_search` tool made, with the pages it found (its
    `action.sources`, where the request's `include` asks for them); streamed, through its
    in_progress, searching and completed events."""

    query: str
    urls: tuple[str, ...] = ()


Item = Reasoning | Message | FunctionCall | CustomToolCall | WebSearchCall


@dataclass(slots=True, kw_only=True)
class Reply:
    """A response: `items` in order, each at its `output_index` (0, 1, ...).

    Stream order: response.created, response.in_progress, then per item output_item.added, its
    parts and deltas and their done events, output_item.done; then the terminal event.

    - `incomplete`: end with status "incomplete" and this `incomplete_details.reason` (the last item
      is marked incomplete too); streamed, the terminal event is response.incomplete.
    - `failure`: (code, message) — end with status "failed" and this `error`; streamed, the terminal
      event is response.failed. Not streamed, it is still HTTP 200, as the status is in the body.
    - `model`: overrides the echoed request model.
    - `head_delay`: seconds to wait before the response headers (for timeout tests).
    - `chunk_delay`: seconds to wait before every event after response.created (a slow upstream).
    - `gate`: awaited before every event after response.created. The fake never clears it, so a test
      can check an event reached the client while the upstream still holds the next, then `set()` it.
    - `fail`: end a stream after the last item's deltas, before its done events and the terminal
      event: "error" writes an `error` event nested as real captures show it
      (`{"type":"error","error":{...}}`, which the Python SDK raises); "flat_error" writes it flat,
      as the SDK types it (which the SDK yields as an event); "drop" aborts the TCP connection;
      "cut" ends cleanly there;
      "empty" and "junk" (`pacing.BEFORE_ANY_EVENT`) fail before any event;
      "garbage" sends an event that is not JSON, then ends so.
      A non-streamed request gets a 500 error body for either error, an aborted connection for
      "drop", and half of its body for "cut" and "garbage" (`pacing.cut_body`). A reply that
      fails this way is never kept.
    """

    items: Sequence[Item] = ()
    incomplete: Literal["max_output_tokens", "content_filter"] | None = None
    failure: tuple[str, str] | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    head_delay: float = 0.0
    chunk_delay: float = 0.0
    gate: asyncio.Event | None = None
    fail: Literal["error", "flat_error", "drop", "cut", "garbage", "empty", "junk"] | None = None
    fail_message: str = "An error occurred while processing your request."


def reasoning(*pieces: str) -> Reasoning:
    """A reasoning item for `reply` with one summary part; each piece is one summary_text delta."""
    return Reasoning((pieces,))


def say(*pieces: str, annotations: tuple[Json, ...] = ()) -> Message:
    """A message item for `reply`; each piece is one output_text delta."""
    return Message(pieces, annotations)


def web_search(query: str, *urls: str) -> WebSearchCall:
    """A web_search_call item for `reply`: a search for `query` that found `urls`."""
    return WebSearchCall(query, urls)


def url_citation(url: str, title: str, start: int, end: int) -> Json:
    """An annotation of the text's characters `start` to `end`, citing a page its web search found."""
    return {"type": "url_citation", "url": url, "title": title, "start_index": start, "end_index": end}


def call(name: str, *fragments: str, call_id: str | None = None, id: str | None = None) -> FunctionCall:
    """A function_call item whose arguments stream as `fragments` (default `{}`)."""
    return FunctionCall(name, fragments or ("{}",), call_id or _hex_id("call"), id)


def custom_call(name: str, *pieces: str, call_id: str | None = None, id: str | None = None) -> CustomToolCall:
    """A custom_tool_call item whose freeform input streams as `pieces`."""
    return CustomToolCall(name, pieces or ("",), call_id or _hex_id("call"), id)


def reply(*items: Item, **options: Any) -> Reply:
    """A response made of `items`, e.g. `reply(reasoning("Hmm"), call("f", '{"a":1}'))`.

    Options are `Reply` fields.
    """
    return Reply(items=items, **options)


def text(*pieces: str, **options: Any) -> Reply:
    """A response of one message; each piece is one output_text delta. Options are `Reply` fields."""
    return Reply(items=(Message(pieces),), **options)


def function_calls(*calls: FunctionCall, **options: Any) -> Reply:
    """A response of parallel function calls (output indexes 0, 1, ...). Options are `Reply` fields."""
    return Reply(items=calls, **options)


def incomplete(
    *pieces: str, reason: Literal["max_output_tokens", "content_filter"] = "max_output_tokens", **options: Any
) -> Reply:
    """A message cut short: status "incomplete" for `reason`. Options are `Reply` fields."""
    return Reply(items=(Message(pieces),), incomplete=reason, **options)


def failed(code: str, message: str, *items: Item, **options: Any) -> Reply:
    """A response that ends with status "failed" and `error: {code, message}` after `items`."""
    return Reply(items=items, failure=(code, message), **options)


def fail_mid_stream(
    *pieces: str, drop: bool = False, flat: bool = False, message: str | None = None, **options: Any
) -> Reply:
    """A message stream that sends `pieces`, then an `error` event (nested, or `flat`), or drops the connection."""
    if message is not None:
        options["fail_message"] = message
    return Reply(items=(Message(pieces),), fail="drop" if drop else "flat_error" if flat else "error", **options)


def count_tokens(items: Sequence[Any], instructions: Any = None) -> int:
    """The fake's deterministic input-token count: characters // 4 + 1.

    The characters are those of a string `instructions` and of every string under a `text`,
    `content`, `output`, `arguments` or `input` key at any depth of `items` (message text, reasoning
    summaries, function arguments and results, custom tool input). Ids, names, types,
    `encrypted_content` and tool definitions are not counted.
    """

    def chars(value: Any, key: str) -> int:
        if isinstance(value, str):
            return len(value) if key in _COUNTED else 0
        if isinstance(value, dict):
            return sum(chars(v, k) for k, v in value.items())
        if isinstance(value, list):
            return sum(chars(v, key) for v in value)
        return 0

    return (chars(list(items), "") + chars(instructions, "instructions")) // 4 + 1


@dataclass(slots=True)
class Stored:
    """A kept response: what GET returns, what input_items lists, and what previous_response_id continues."""

    response: Json
    input: list[Json]  # this request's input items, typed and with ids, string content as one part
    context: list[Json]  # the chain's input and output items through this response's output


def _output_text(value: str) -> Json:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": value}


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers)


def _event(payload: Json) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class _Render:
    """Renders one reply for one accepted request: the ids, timestamps and minted blobs its events share."""

    def __init__(self, reply: Reply, body: Json, mint: Callable[[], str]) -> None:
        self.reply = reply
        self.id = _hex_id("resp")
        self.created_at = int(time.time())
        self.model = reply.model or body["model"]
        self.status = "failed" if reply.failure else "incomplete" if reply.incomplete else "completed"
        self.settings = {name: body[name] if body.get(name) is not None else d for name, d in _SETTINGS.items()}
        self.settings["text"] = {**_TEXT, **(body.get("text") or {})}
        self.settings["reasoning"] = {**_REASONING, **(body.get("reasoning") or {})}
        self.settings["tools"] = [
            {"type": "function", **_FUNCTION_TOOL, **t} if isinstance(t, dict) and t.get("type") == "function" else t
            for t in body.get("tools") or []
        ]
        encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
        self.logprobs = "message.output_text.logprobs" in (body.get("include") or [])
        self.sources = "web_search_call.action.sources" in (body.get("include") or [])
        self.top_logprobs = body.get("top_logprobs") or 0
        last = len(reply.items) - 1
        #: Each item as its output_item.done event and the final `output` show it.
        self.output = [
            self._done(item, "incomplete" if reply.incomplete and i == last else "completed", encrypted, mint)
            for i, item in enumerate(reply.items)
        ]

    def _tokens(self, pieces: Sequence[str]) -> list[Json]:
        """Each piece one token (and `alt1`... below it), where `include` asks for logprobs."""
        if not self.logprobs:
            return []
        return [{"token": p, "logprob": -0.5, "bytes": list(p.encode()), "top_logprobs": [
            {"token": t, "logprob": -0.5 * (k + 1), "bytes": list(t.encode())}
            for k, t in enumerate([p] + [f"alt{k}" for k in range(1, self.top_logprobs)])][: self.top_logprobs]}
            for p in pieces]

    def _done(self, item: Item, status: str, encrypted: bool, mint: Callable[[], str]) -> Json:
        match item:
            case Reasoning(parts):
                done: Json = {
                    "id": _hex_id("rs"),
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "".join(p)} for p in parts],
                }
                if encrypted:
                    done["encrypted_content"] = mint()
                return done
            case Message(pieces, annotations):
                return {
                    "id": _hex_id("msg"),
                    "type": "message",
                    "status": status,
                    "content": [{**_output_text("".join(pieces)), "logprobs": self._tokens(pieces),
                                 "annotations": list(annotations)}],
                    "role": "assistant",
                }
            case FunctionCall():
                return {
                    "id": item.id or _hex_id("fc"),
                    "type": "function_call",
                    "status": status,
                    "arguments": item.arguments,
                    "call_id": item.call_id,
                    "name": item.name,
                }
            case WebSearchCall(query, urls):
                action: Json = {"type": "search", "query": query}
                if self.sources:  # only where `include` asks for them, as the API gives them
                    action["sources"] = [{"type": "url", "url": u} for u in urls]
                return {"id": _hex_id("ws"), "type": "web_search_call", "status": status, "action": action}
            case CustomToolCall():
                return {
                    "id": item.id or _hex_id("ctc"),
                    "type": "custom_tool_call",
                    "status": status,
                    "call_id": item.call_id,
                    "input": item.input,
                    "name": item.name,
                }

    def response(self, status: str | None = None) -> Json:
        """The Response object: final unless `status` is "in_progress" (no output, usage or end yet)."""
        status = status or self.status
        final = status != "in_progress"
        failure = self.reply.failure
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": self.created_at if status == "completed" else None,
            "error": {"code": failure[0], "message": failure[1]} if failure and final else None,
            "incomplete_details": {"reason": self.reply.incomplete} if status == "incomplete" else None,
            "model": self.model,
            "output": self.output if final else [],
            "usage": self.reply.usage.to_json() if final else None,
            **self.settings,
            "service_tier": "default",
        }

    def _item_events(self, index: int, item: Item, done: Json) -> list[Json]:
        """The events of one output item, from output_item.added to output_item.done."""
        at = {"item_id": done["id"], "output_index": index}
        match item:
            case Reasoning(parts):
                # Only the done item carries the encrypted blob: the added one may hold a partial one.
                added = {k: v for k, v in done.items() if k != "encrypted_content"} | {"summary": []}
                events = [{"type": "response.output_item.added", "output_index": index, "item": added}]
                for k, pieces in enumerate(parts):
                    where = {**at, "summary_index": k}
                    part = done["summary"][k]
                    events += [
                        {"type": "response.reasoning_summary_part.added", **where, "part": {**part, "text": ""}},
                        *({"type": "response.reasoning_summary_text.delta", **where, "delta": p} for p in pieces),
                        {"type": "response.reasoning_summary_text.done", **where, "text": part["text"]},
                        {"type": "response.reasoning_summary_part.done", **where, "part": part},
                    ]
            case Message(pieces, annotations):
                added = {**done, "status": "in_progress", "content": []}
                where = {**at, "content_index": 0}
                part = done["content"][0]
                events = [
                    {"type": "response.output_item.added", "output_index": index, "item": added},
                    {"type": "response.content_part.added", **where, "part": _output_text("")},
                    *({"type": "response.output_text.delta", **where, "delta": p, "logprobs": [
                        {"token": t["token"], "logprob": t["logprob"], "top_logprobs": [
                            {"token": top["token"], "logprob": top["logprob"]} for top in t["top_logprobs"]]}
                        for t in self._tokens([p])]} for p in pieces),
                    *({"type": "response.output_text.annotation.added", **where, "annotation_index": i,
                       "annotation": note} for i, note in enumerate(annotations)),
                    {"type": "response.output_text.done", **where, "text": part["text"], "logprobs": part["logprobs"]},
                    {"type": "response.content_part.done", **where, "part": part},
                ]
            case FunctionCall():
                added = {**done, "status": "in_progress", "arguments": ""}
                arguments = {"arguments": item.arguments, "name": item.name}
                events = [
                    {"type": "response.output_item.added", "output_index": index, "item": added},
                    *({"type": "response.function_call_arguments.delta", **at, "delta": f} for f in item.fragments),
                    {"type": "response.function_call_arguments.done", **at, **arguments},
                ]
            case WebSearchCall():
                events = [{"type": "response.output_item.added", "output_index": index,
                           "item": {**done, "status": "in_progress"}},
                          *({"type": f"response.web_search_call.{phase}", **at}
                            for phase in ("in_progress", "searching", "completed"))]
            case CustomToolCall():
                added = {**done, "status": "in_progress", "input": ""}
                events = [
                    {"type": "response.output_item.added", "output_index": index, "item": added},
                    *({"type": "response.custom_tool_call_input.delta", **at, "delta": p} for p in item.pieces),
                    {"type": "response.custom_tool_call_input.done", **at, "input": item.input},
                ]
        events.append({"type": "response.output_item.done", "output_index": index, "item": done})
        return events

    def frames(self) -> list[bytes]:
        """Every SSE frame of the stream, numbered from 0, ending as `reply.fail` says."""
        r = self.reply
        events = [
            {"type": "response.created", "response": self.response("in_progress")},
            {"type": "response.in_progress", "response": self.response("in_progress")},
        ]
        for index, (item, done) in enumerate(zip(r.items, self.output, strict=True)):
            events += self._item_events(index, item, done)
        if r.fail is None:
            events.append({"type": f"response.{self.status}", "response": self.response()})
        else:
            # Cut after the last delta: drop the trailing done events of the last item.
            while events[-1]["type"].endswith(".done"):
                events.pop()
            problem = {"code": "server_error", "message": r.fail_message, "param": None}
            if r.fail == "error":
                events.append({"type": "error", "error": {"type": "server_error", **problem}})
            elif r.fail == "flat_error":
                events.append({"type": "error", **problem})
        frames = [_event({"type": e["type"], "sequence_number": n, **e}) for n, e in enumerate(events)]
        if r.fail == "garbage":
            frames.append(b"event: response.output_text.delta\ndata: " + GARBAGE + b"\n\n")
        return frames


class _Rejected(Exception):
    """A request the real API refuses; carries the error reply to send instead."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.message)
        self.reply = reply

    def response(self) -> web.Response:
        return _json_response(self.reply.to_json(), self.reply.status)


def _missing(param: str) -> _Rejected:
    message = f"Missing required parameter: '{param}'."
    return _Rejected(error(400, message, param=param, code="missing_required_parameter"))


def _invalid_value(param: str, value: Any, supported: Sequence[str]) -> _Rejected:
    listed = ", ".join(f"'{s}'" for s in supported)
    message = f"Invalid value: '{value}'. Supported values are: {listed}."
    return _Rejected(error(400, message, param=param, code="invalid_value"))


_OUTPUT_PARTS = ("input_text", "input_image", "input_file")


def _check_output(output: Any, where: str) -> None:
    """A tool's output: a string, or a list of input text, images and files."""
    if output is None:
        raise _missing(where)
    if isinstance(output, str):
        return
    if not isinstance(output, list):
        message = (f"Invalid type for '{where}': expected one of a string or array of input content, but got "
                   f"{type(output).__name__} instead.")
        raise _Rejected(error(400, message, param=where, code="invalid_type"))
    for m, part in enumerate(output):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _OUTPUT_PARTS:
            raise _invalid_value(f"{where}[{m}].type", kind, _OUTPUT_PARTS)


def _check_string(item: Json, name: str, where: str) -> None:
    """An item's field that must be a string when present, refused as the real API refuses it."""
    value = item.get(name, "")
    if not isinstance(value, str):
        message = f"Invalid type for '{where}.{name}': expected a string, but got {type(value).__name__} instead."
        raise _Rejected(error(400, message, param=f"{where}.{name}", code="invalid_type"))


def _kind(item: Json) -> str | None:
    """An input item's type; the SDK lets a message omit it (it has a role) and an item_reference too."""
    return item.get("type") or ("message" if "role" in item else "item_reference" if "id" in item else None)


def _kept(item: Json) -> Json:
    """An input item as the real API keeps and lists it: typed, with an id, a string content as one part."""
    kind = _kind(item)
    kept: Json = {"type": kind, **item}
    if not kept.get("id"):
        kept["id"] = _hex_id(_ID_PREFIXES.get(str(kind), "item"))
    if kind == "message":
        content = item.get("content")
        if isinstance(content, str):
            kept["content"] = [
                {"type": "output_text", "text": content, "annotations": []}
                if item.get("role") == "assistant"
                else {"type": "input_text", "text": content}
            ]
        kept.setdefault("status", "completed")
    return kept


def _check_tools(tools: Any) -> None:
    """A function tool needs a top-level name: Chat's nested `function: {name}` shape has none here."""
    for n, tool in enumerate(tools if isinstance(tools, list) else []):
        if isinstance(tool, dict) and tool.get("type") == "function" and not tool.get("name"):
            raise _missing(f"tools[{n}].name")


def _check_text_format(text_config: Any) -> None:
    """A json_schema format is flat here: `name` and `schema` sit directly under `format`, unlike Chat."""
    form = text_config.get("format") if isinstance(text_config, dict) else None
    if isinstance(form, dict) and form.get("type") == "json_schema":
        for name in ("name", "schema"):
            if name not in form:
                raise _missing(f"text.format.{name}")


_RECORDED = web.RequestKey("recorded", RecordedRequest)


class FakeResponses(Streaming):
    """An OpenAI Responses API server on 127.0.0.1 (ephemeral port), run in the caller's event loop.

    Attributes: `url` (base URL ending in /v1, set on entry), `requests` (every `RecordedRequest`,
    rejected ones included), `disconnects` (streams whose client left before the stream ended),
    `stored` (kept responses by id), `encrypted` (every `encrypted_content` minted), `default` (the
    reply used when the script is empty).
    """

    def __init__(self, *, default: Reply | ErrorReply | None = None, azure: bool = False) -> None:
        self.azure = azure
        self.default = default or text("Hello", " from", " fake")
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.stored: dict[str, Stored] = {}
        self.encrypted: set[str] = set()
        self._script: deque[Reply | ErrorReply] = deque()

    def script(self, *replies: Reply | ErrorReply) -> None:
        """Queue replies for the next accepted create requests, one each, in order."""
        self._script.extend(replies)

    async def __aenter__(self) -> FakeResponses:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        base = "/openai/v1" if self.azure else "/v1"
        app.router.add_post(f"{base}/responses", self._create)
        app.router.add_post(f"{base}/responses/input_tokens", self._count)
        app.router.add_post(f"{base}/responses/compact", self._compact)
        app.router.add_get(base + "/responses/{id}", self._retrieve)
        app.router.add_delete(base + "/responses/{id}", self._delete)
        app.router.add_get(base + "/responses/{id}/input_items", self._input_items)
        self.url = await self.serve(app) + base
        return self

    def _mint(self) -> str:
        blob = "enc_" + secrets.token_urlsafe(24)
        self.encrypted.add(blob)
        return blob

    @web.middleware
    async def _record(self, request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        """Record the request, then refuse it as the real API would without a credential."""
        body = await request.read()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        recorded = RecordedRequest(request.method, request.path, request.query_string, headers, parsed, body)
        request[_RECORDED] = recorded
        self.requests.append(recorded)
        if self.azure and recorded.api_key is None and not headers.get("api-key"):
            return _json_response({"error": {"code": "401", "message": AZURE_DENIED}}, 401)
        if recorded.api_key is None and not self.azure:
            message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
            return _json_response(error(401, message).to_json(), 401)
        try:
            return await handler(request)
        except _Rejected as rejected:
            return rejected.response()

    def _accept(self, body: Any, *, counting: bool) -> tuple[list[Json], list[Json]]:
        """The chain of `previous_response_id` and this request's input items as kept; or raise `_Rejected`."""
        if not isinstance(body, dict):
            raise _Rejected(error(400, "We could not parse the JSON body of your request."))
        if not counting:  # input_tokens takes neither as required
            for name in ("model", "input"):
                if body.get(name) is None:
                    raise _missing(name)
        chain = self._chain(body.get("previous_response_id"))
        raw = body.get("input")
        items = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw or []
        if not isinstance(items, list):
            raise _Rejected(error(400, "Invalid type for 'input': expected a string or an array.", param="input"))
        self._check_items(items, chain)
        _check_tools(body.get("tools"))
        _check_text_format(body.get("text"))
        return chain, [_kept(item) for item in items]

    def _chain(self, previous: Any) -> list[Json]:
        if previous is None:
            return []
        stored = self.stored.get(previous)
        if stored is None:
            message = f"Previous response with id '{previous}' not found."
            raise _Rejected(error(404, message, param="previous_response_id", code="previous_response_not_found"))
        return stored.context

    def _check_items(self, items: list[Any], chain: list[Json]) -> None:
        calls = {(_kind(i), i.get("call_id")) for i in [*chain, *items]
                 if isinstance(i, dict) and isinstance(i.get("type", ""), str) and isinstance(i.get("call_id"), str)}
        for n, item in enumerate(items):
            where = f"input[{n}]"
            if not isinstance(item, dict):
                message = f"Invalid type for '{where}': expected an object, but got {type(item).__name__} instead."
                raise _Rejected(error(400, message, param=where, code="invalid_type"))
            _check_string(item, "type", where)
            kind = _kind(item)
            if kind is None:
                raise _missing(f"{where}.type")
            if kind not in ITEM_TYPES:
                raise _invalid_value(f"{where}.type", kind, sorted(ITEM_TYPES))
            if kind in _ANSWERS or kind in _CALLS:
                if item.get("call_id") is None:
                    raise _missing(f"{where}.call_id")
                _check_string(item, "call_id", where)
            if kind == "message" and item.get("role") not in _ROLES:
                raise _invalid_value(f"{where}.role", item.get("role"), _ROLES)
            if kind in _ANSWERS:
                _check_output(item.get("output"), f"{where}.output")
            if kind in _ANSWERS and (_ANSWERS[kind], item.get("call_id")) not in calls:
                message = f"No tool call found for {kind.replace('_', ' ')} with call_id {item.get('call_id')}."
                raise _Rejected(error(400, message, param="input"))
            if kind in ("reasoning", "item_reference"):
                self._check_reference(where, item)

    def _check_reference(self, where: str, item: Json) -> None:
        """Reasoning travels as a blob the fake minted, or by the id of an item a kept response holds."""
        blob = item.get("encrypted_content")
        if _kind(item) == "reasoning" and blob is not None:
            if blob not in self.encrypted:
                message = f"The encrypted content for item {item.get('id')} could not be verified."
                raise _Rejected(
                    error(400, message, param=f"{where}.encrypted_content", code="invalid_encrypted_content")
                )
            return
        item_id = item.get("id")
        if not item_id:
            raise _missing(f"{where}.id")
        if not any(kept.get("id") == item_id for stored in self.stored.values() for kept in stored.context):
            message = (
                f"Item with id '{item_id}' not found. Items are not persisted when `store` is set to false. "
                "Try again with `store` set to true, or remove this item from your input."
            )
            raise _Rejected(error(404, message, param="input"))

    def _lookup(self, request: web.Request) -> Stored:
        response_id = request.match_info["id"]
        stored = self.stored.get(response_id)
        if stored is None:
            raise _Rejected(error(404, f"Response with id '{response_id}' not found."))
        return stored

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = request[_RECORDED].json
        chain, items = self._accept(body, counting=False)
        reply = self._script.popleft() if self._script else self.default
        await asyncio.sleep(reply.head_delay)
        if isinstance(reply, ErrorReply):
            return _json_response(reply.to_json(), reply.status, reply.headers)
        render = _Render(reply, body, self._mint)
        if body.get("store") is not False and reply.fail is None:
            self.stored[render.id] = Stored(render.response(), items, [*chain, *items, *render.output])
        if body.get("stream"):
            return await self._stream(request, render)
        if reply.fail == "drop":
            abort(request)
            return web.Response()  # never reaches the client: the connection is gone
        if reply.fail in ("cut", "garbage"):
            return await cut_body(request, orjson.dumps(render.response()), reply.fail)
        if reply.fail is not None:
            return _json_response(error(500, reply.fail_message).to_json(), 500)
        return _json_response(render.response())

    async def _stream(self, request: web.Request, render: _Render) -> web.StreamResponse:
        reply = render.reply
        return await self.stream(request, render.frames(), reply, "text/event-stream; charset=utf-8",
                                 reply.fail == "drop")

    async def _count(self, request: web.Request) -> web.Response:
        body = request[_RECORDED].json
        chain, items = self._accept(body, counting=True)
        tokens = count_tokens([*chain, *items], body.get("instructions"))
        return _json_response({"object": "response.input_tokens", "input_tokens": tokens})

    async def _compact(self, request: web.Request) -> web.Response:
        """`POST /v1/responses/compact`: every user message of the conversation, then one compaction
        item whose `encrypted_content` the fake mints (the SDK's `CompactedResponse`)."""
        body = request[_RECORDED].json
        chain, items = self._accept(body, counting=True)
        if body.get("model") is None:
            raise _missing("model")
        users = [item for item in [*chain, *items] if item.get("type") == "message" and item.get("role") == "user"]
        compaction = {"type": "compaction", "id": _hex_id("cmp"), "encrypted_content": self._mint()}
        usage = Usage(input_tokens=count_tokens([*chain, *items], body.get("instructions")), output_tokens=20)
        return _json_response({"id": _hex_id("resp"), "object": "response.compaction", "created_at": int(time.time()),
                               "output": [*users, compaction], "usage": usage.to_json()})

    async def _retrieve(self, request: web.Request) -> web.Response:
        return _json_response(self._lookup(request).response)

    async def _delete(self, request: web.Request) -> web.Response:
        response_id = self._lookup(request).response["id"]
        del self.stored[response_id]
        return _json_response({"id": response_id, "object": "response.deleted", "deleted": True})

    async def _input_items(self, request: web.Request) -> web.Response:
        """A cursor page of the response's own input items: `order` (default desc), `limit` (20), `after`."""
        items = self._lookup(request).input
        query = request.query
        if query.get("order", "desc") == "desc":
            items = items[::-1]
        after = query.get("after")
        start = next((n + 1 for n, item in enumerate(items) if item["id"] == after), 0) if after else 0
        limit = int(query.get("limit", "20"))
        page = items[start : start + limit]
        return _json_response(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": start + limit < len(items),
            }
        )
