"""A fake Anthropic Messages upstream, served over a real socket, for the gateway's tests.

Why a real server: streaming, pings, mid-stream errors and disconnects only show up on a real
connection, so this fake speaks Anthropic Messages byte for byte as Anthropic's Messages API
reference (streaming events) gives it: compact JSON, an `event:` line on every
SSE frame, no `[DONE]`. It also validates requests the way the real API does (a 400
`invalid_request_error`), so a gateway that translates a conversation badly fails its tests here
instead of in production.

    async with FakeAnthropic() as fake:
        fake.script(reply(thinking("Let me check"), call("get_weather", '{"city":', ' "Paris"}')))
        client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="sk-ant-test")
        ...
        assert fake.requests[0].json["model"] == "claude-x"

Scripted replies are consumed one per accepted `POST /v1/messages`, first in first out; a request
rejected by validation consumes nothing. When the queue is empty the fake answers
`text("Hello", " from", " fake")`, echoing the requested model.

Thinking signatures are minted as `sig_<random>` and remembered in `signatures`; a thinking block
sent back with any other signature is rejected, as the real API rejects a tampered or foreign one.

With `caching=True` the fake caches prompts as the API does (`PromptCache`), and a reply's default
usage becomes what that caching reports.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson
from aiohttp import web

from tests.fakes.pacing import GARBAGE, Streaming, abort, bearer, cut_body

Json = dict[str, Any]


#: `error.type` for each HTTP status, as the real API sends them (reference section 3.7).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_-]+")
_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
#: The real API's ping frame has a space after the colon, unlike every other frame.
_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it, so tests can assert on what the gateway sent upstream."""

    method: str
    path: str
    query: str  # the raw query string, e.g. "beta=true"; routing ignores it
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    json: Any  # the parsed body, or None when the body is empty or not JSON
    body: bytes

    @property
    def api_key(self) -> str | None:
        """The `x-api-key` credential, if the request used that one."""
        return self.headers.get("x-api-key")

    @property
    def auth_token(self) -> str | None:
        """The `Authorization: Bearer` credential, if the request used that one."""
        return bearer(self.headers)


@dataclass(slots=True, frozen=True)
class Usage:
    """Token counts for a reply. As on the wire, `input_tokens` excludes both cache counts."""

    input_tokens: int = 10
    output_tokens: int = 5
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def at_start(self) -> Json:
        """`message_start.usage`: the input counts, and one output token so far."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": 1,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }

    def cumulative(self) -> Json:
        """`message_delta.usage`: totals, not increments, input and cache counts included."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
        }

    def whole(self) -> Json:
        """The non-streamed `usage` object, with the breakdowns the real API adds."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": "standard",
        }


def _tool_use_id() -> str:
    return "toolu_" + secrets.token_hex(12)


@dataclass(slots=True, frozen=True)
class Text:
    """A text block; streamed, each piece is one `text_delta`, after a `citations_delta` for each
    citation, as Claude sends a cited block."""

    pieces: tuple[str, ...]
    citations: tuple[Json, ...] = ()


@dataclass(slots=True, frozen=True)
class Thinking:
    """A thinking block; streamed, each piece is one `thinking_delta`. Its signature is minted per reply."""

    pieces: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class RedactedThinking:
    """A redacted thinking block: opaque `data`, streamed whole in its `content_block_start`."""

    data: str


@dataclass(slots=True, frozen=True)
class ToolUse:
    """A tool call whose input streams as `fragments` of JSON; an empty concatenation means `{}`."""

    name: str
    fragments: tuple[str, ...] = ("",)
    id: str = field(default_factory=_tool_use_id)

    @property
    def input(self) -> Json:
        joined = "".join(self.fragments)
        return orjson.loads(joined) if joined else {}


@dataclass(slots=True, frozen=True)
class ServerToolUse:
    """Claude's call of one of its own tools (`web_search`, `web_fetch`); streamed, its input as one
    `input_json_delta`."""

    name: str
    input: Json
    id: str


@dataclass(slots=True, frozen=True)
class SearchResult:
    """The pages (url, title) Claude's web search found for the call `tool_use_id`; streamed whole."""

    tool_use_id: str
    pages: tuple[tuple[str, str], ...]


@dataclass(slots=True, frozen=True)
class FetchResult:
    """The page (url, its text, title) Claude's web fetch read for the call `tool_use_id`; streamed whole."""

    tool_use_id: str
    url: str
    text: str
    title: str


Block = Text | Thinking | RedactedThinking | ToolUse | ServerToolUse | SearchResult | FetchResult


@dataclass(slots=True, kw_only=True)
class Reply:
    """A successful message: `blocks` in order, each streamed at its index (0, 1, ...).

    Stream order: message_start, ping, then per block content_block_start / deltas (a thinking
    block ends with one signature_delta) / content_block_stop, then message_delta, message_stop.

    - `stop_reason`: defaults to "stop_sequence" when `stop_sequence` is set, else "tool_use" when
      there is a tool call, else "end_turn". "refusal" also sets `stop_details`.
    - `stop_sequence`: the custom stop sequence the reply "matched".
    - `model`: overrides the echoed request model.
    - `pings`: extra ping events before every content_block_delta (the one after message_start is
      always sent), so tests can check the gateway tolerates them anywhere.
    - `head_delay`: seconds to wait before the response headers (for timeout tests).
    - `chunk_delay`: seconds to wait before every event after message_start (a slow upstream).
    - `gate`: awaited before every event after message_start. The fake never clears it, so a test
      can check an event reached the client while the upstream still holds the next, then `set()` it.
    - `fail`: end a stream after the deltas of the last block, before its content_block_stop:
      "error" writes an `event: error` frame (overloaded_error, `fail_message`) and ends; "drop"
      aborts the TCP connection; "cut" ends cleanly without message_stop;
      "empty" and "junk" (`pacing.BEFORE_ANY_EVENT`) fail before any event; "garbage" sends an event
      that is not JSON, then ends so. A non-streamed request gets a 529 for "error", an aborted
      connection for "drop", and half of its body for "cut" and "garbage" (`pacing.cut_body`).
    """

    blocks: Sequence[Block] = ()
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    pings: int = 0
    head_delay: float = 0.0
    chunk_delay: float = 0.0
    gate: asyncio.Event | None = None
    fail: Literal["error", "drop", "cut", "garbage", "empty", "junk"] | None = None
    fail_message: str = "Overloaded"


@dataclass(slots=True, kw_only=True)
class ErrorReply:
    """An HTTP error in Anthropic's shape, sent instead of a message (streamed or not)."""

    status: int
    message: str
    type: str
    headers: dict[str, str] = field(default_factory=dict)  # e.g. retry-after, x-should-retry
    head_delay: float = 0.0


def say(*pieces: str, citations: tuple[Json, ...] = ()) -> Text:
    """A text block for `reply`; each piece is one text_delta."""
    return Text(pieces, citations)


def web_search(query: str, *pages: tuple[str, str]) -> tuple[ServerToolUse, SearchResult]:
    """The pair of blocks of a search Claude's `web_search` tool made, for `reply`."""
    use = ServerToolUse("web_search", {"query": query}, "srvtoolu_" + secrets.token_hex(12))
    return use, SearchResult(use.id, pages)


def web_fetch(url: str, text: str, title: str) -> tuple[ServerToolUse, FetchResult]:
    """The pair of blocks of a page Claude's `web_fetch` tool read, for `reply`."""
    use = ServerToolUse("web_fetch", {"url": url}, "srvtoolu_" + secrets.token_hex(12))
    return use, FetchResult(use.id, url, text, title)


def cited(url: str, title: str, quote: str) -> Json:
    """A citation of a page Claude's web search found, as it words one on a text block."""
    return {"type": "web_search_result_location", "url": url, "title": title, "cited_text": quote,
            "encrypted_index": "Eo8BCioIAhgBIiQ"}


def thinking(*pieces: str) -> Thinking:
    """A thinking block for `reply`; each piece is one thinking_delta."""
    return Thinking(pieces)


def redacted(data: str | None = None) -> RedactedThinking:
    """A redacted_thinking block for `reply`, with random opaque data unless given."""
    return RedactedThinking(data or "EmwKAhgB" + secrets.token_urlsafe(24))


def call(name: str, *fragments: str, id: str | None = None) -> ToolUse:
    """A tool_use block whose input streams as `fragments` (default one empty fragment: `{}`)."""
    return ToolUse(name, fragments or ("",), id or _tool_use_id())


def reply(*blocks: Block, **options: Any) -> Reply:
    """A message made of `blocks`, e.g. `reply(thinking("Hmm"), call("f", '{"a":1}'))`.

    Options are `Reply` fields.
    """
    return Reply(blocks=blocks, **options)


def text(*pieces: str, **options: Any) -> Reply:
    """A message of one text block; each piece is one text_delta. Options are `Reply` fields."""
    return Reply(blocks=(Text(pieces),), **options)


def tool_use(*calls: ToolUse, **options: Any) -> Reply:
    """A message of parallel tool calls (indexes 0, 1, ...). Options are `Reply` fields."""
    return Reply(blocks=calls, **options)


def error(
    status: int,
    message: str,
    *,
    type: str | None = None,
    headers: dict[str, str] | None = None,
    head_delay: float = 0.0,
) -> ErrorReply:
    """An HTTP error reply; `type` defaults to the real API's type for the status (`ERROR_TYPES`)."""
    return ErrorReply(
        status=status,
        message=message,
        type=type or ERROR_TYPES.get(status, "api_error"),
        headers=headers or {},
        head_delay=head_delay,
    )


def fail_mid_stream(*pieces: str, drop: bool = False, message: str | None = None, **options: Any) -> Reply:
    """A text stream that sends `pieces`, then an `event: error` frame, or drops the connection."""
    if message is not None:
        options["fail_message"] = message
    return Reply(blocks=(Text(pieces),), fail="drop" if drop else "error", **options)


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers)


def _event(payload: Json) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class _Message:
    """Renders one reply for one request: the id, model and minted signatures all events share."""

    def __init__(self, reply: Reply, body: Json, mint: Callable[[], str]) -> None:
        self.reply = reply
        self.id = "msg_" + secrets.token_hex(12)
        self.model = reply.model or body.get("model") or "claude-fake"
        self.signatures = {i: mint() for i, block in enumerate(reply.blocks) if isinstance(block, Thinking)}
        has_calls = any(isinstance(block, ToolUse) for block in reply.blocks)
        self.stop_reason = reply.stop_reason or (
            "stop_sequence" if reply.stop_sequence else "tool_use" if has_calls else "end_turn"
        )
        self.stop_details = (
            {"type": "refusal", "category": None, "explanation": None} if self.stop_reason == "refusal" else None
        )

    def _whole_block(self, index: int, block: Block) -> Json:
        match block:
            case Text(pieces, citations):
                return {"type": "text", "text": "".join(pieces), "citations": list(citations) or None}
            case Thinking(pieces):
                return {"type": "thinking", "thinking": "".join(pieces), "signature": self.signatures[index]}
            case RedactedThinking(data):
                return {"type": "redacted_thinking", "data": data}
            case ToolUse():
                return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            case ServerToolUse(name, tool_input, use_id):
                return {"type": "server_tool_use", "id": use_id, "name": name, "input": tool_input}
            case SearchResult(use_id, pages):
                return {"type": "web_search_tool_result", "tool_use_id": use_id, "content": [
                    {"type": "web_search_result", "url": url, "title": title, "encrypted_content": "EqgfCioIARgBIiQ",
                     "page_age": None} for url, title in pages]}
            case FetchResult(use_id, url, text, title):
                return {"type": "web_fetch_tool_result", "tool_use_id": use_id, "content": {
                    "type": "web_fetch_result", "url": url, "retrieved_at": "2026-12-08T03:00:00.000000+00:00",
                    "content": {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                                                "data": text},
                                "title": title, "citations": None}}}

    def _streamed_block(self, index: int, block: Block) -> tuple[Json, list[Json]]:
        """The `content_block` of content_block_start, and the deltas that follow it."""
        match block:
            case Text(pieces, citations):
                return {"type": "text", "text": ""}, [*({"type": "citations_delta", "citation": c} for c in citations),
                                                      *({"type": "text_delta", "text": p} for p in pieces)]
            case Thinking(pieces):
                deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces]
                deltas.append({"type": "signature_delta", "signature": self.signatures[index]})
                return {"type": "thinking", "thinking": "", "signature": ""}, deltas
            case RedactedThinking(data):
                return {"type": "redacted_thinking", "data": data}, []
            case ToolUse():
                start = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
                return start, [{"type": "input_json_delta", "partial_json": f} for f in block.fragments]
            case ServerToolUse(name, tool_input, use_id):
                start = {"type": "server_tool_use", "id": use_id, "name": name, "input": {}}
                return start, [{"type": "input_json_delta", "partial_json": orjson.dumps(tool_input).decode()}]
            case SearchResult() | FetchResult():
                return self._whole_block(index, block), []

    def whole(self) -> Json:
        """The non-streamed `message` object."""
        r = self.reply
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [self._whole_block(i, b) for i, b in enumerate(r.blocks)],
            "stop_reason": self.stop_reason,
            "stop_sequence": r.stop_sequence,
            "stop_details": self.stop_details,
            "usage": r.usage.whole(),
        }

    def frames(self) -> list[bytes]:
        """Every SSE frame of the stream, ending as `reply.fail` says."""
        r = self.reply
        start = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": r.usage.at_start(),
        }
        frames = [_event({"type": "message_start", "message": start}), _PING]
        for index, block in enumerate(r.blocks):
            content_block, deltas = self._streamed_block(index, block)
            frames.append(_event({"type": "content_block_start", "index": index, "content_block": content_block}))
            for delta in deltas:
                frames += [_PING] * r.pings
                frames.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
            if r.fail is None or index < len(r.blocks) - 1:
                frames.append(_event({"type": "content_block_stop", "index": index}))
        if r.fail == "error":
            frames.append(_event({"type": "error", "error": {"type": "overloaded_error", "message": r.fail_message}}))
        elif r.fail == "garbage":
            frames.append(b"event: content_block_delta\ndata: " + GARBAGE + b"\n\n")
        elif r.fail is None:
            ending: Json = {"stop_reason": self.stop_reason, "stop_sequence": r.stop_sequence}
            if self.stop_details is not None:
                ending["stop_details"] = self.stop_details
            frames.append(_event({"type": "message_delta", "delta": ending, "usage": r.usage.cumulative()}))
            frames.append(_event({"type": "message_stop"}))
        return frames


def _blocks(content: Any) -> list[Json]:
    """A message's content as a list of blocks: a plain string is one text block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def count_tokens(body: Json) -> int:
    """The fake's deterministic token count: characters of all text // 4 + 1.

    "All text" is a string `system`, every string `content`, and every `text` and `thinking` field
    at any depth (tool_result contents included) of `system` and `messages`; tool definitions and
    tool_use inputs are not counted.
    """

    def chars(value: Any, key: str = "") -> int:
        if isinstance(value, str):
            return len(value) if key in ("text", "thinking", "content", "system") else 0
        if isinstance(value, dict):
            return sum(chars(v, k) for k, v in value.items() if k != "input")
        if isinstance(value, list):
            return sum(chars(v, key) for v in value)
        return 0

    return (chars(body.get("system"), "system") + chars(body.get("messages"))) // 4 + 1


class _Validator:
    """The real API's checks that a gateway's translation can get wrong; each returns a 400 message or None."""

    def __init__(self, body: Json, signatures: set[str], *, counting: bool, require_thinking: bool) -> None:
        self.body = body
        self.signatures = signatures
        self.counting = counting  # count_tokens takes no max_tokens
        self.require_thinking = require_thinking
        thinking = body.get("thinking")
        self.thinking = thinking.get("type") if isinstance(thinking, dict) else None

    def problem(self) -> str | None:
        return (self._fields() or self._sampling() or self._system() or self._tools() or self._messages()
                or self._tool_turn() or self._breakpoints())

    def _breakpoints(self) -> str | None:
        """At most four `cache_control` marks, the top-level one included, and none of an hour after
        a shorter one."""
        body = self.body
        blocks = [*(body.get("tools") or ()), *_blocks(body.get("system") or [])]
        for message in body["messages"]:
            for block in _blocks(message.get("content")):
                blocks.append(block)
                if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                    blocks.extend(b for b in block["content"] if isinstance(b, dict))
        marks = [b["cache_control"] for b in blocks if isinstance(b, dict) and b.get("cache_control")]
        if isinstance(body.get("cache_control"), dict):
            marks.append(body["cache_control"])
        if len(marks) > 4:
            return f"A maximum of 4 blocks with cache_control may be provided. Found {len(marks)}."
        ttls = [mark.get("ttl", "5m") for mark in marks]
        short = ttls.index("5m") if "5m" in ttls else len(ttls)
        if "1h" in ttls[short:]:
            return ("a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that "
                    "blocks are processed in the following order: `tools`, `system`, `messages`.")
        return None

    def _fields(self) -> str | None:
        required = ("model", "messages") if self.counting else ("model", "max_tokens", "messages")
        for name in required:
            if name not in self.body:
                return f"{name}: Field required"
        if not isinstance(self.body["messages"], list):
            return "messages: Input should be a valid list"
        if not self.counting and not isinstance(self.body["max_tokens"], int):
            return "max_tokens: Input should be a valid integer"
        return None

    def _sampling(self) -> str | None:
        body = self.body
        temperature = body.get("temperature")
        if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 1):
            return "temperature: Input should be less than or equal to 1"
        if self.thinking == "enabled":
            budget = body["thinking"].get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            if not self.counting and budget >= body["max_tokens"]:
                return (
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
                    f"at {_THINKING_DOCS}#max-tokens-and-context-window-size"
                )
        if self.thinking in ("enabled", "adaptive"):
            if temperature is not None and temperature != 1:
                return (
                    "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation "
                    f"at {_THINKING_DOCS}#feature-compatibility"
                )
            if body.get("top_k") is not None:
                return "`top_k` is not supported when thinking is enabled"
            if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
                return "Thinking may not be enabled when tool_choice forces tool use."
        return None

    def _system(self) -> str | None:
        system = self.body.get("system")
        if isinstance(system, list):
            for j, block in enumerate(system):
                if isinstance(block, dict) and block.get("type") == "text" and not block.get("text"):
                    return f"system.{j}.text: text content blocks must be non-empty"
        return None

    def _tools(self) -> str | None:
        """A tool is a custom one (no `type`, or "custom"), which needs a name and an input_schema, or
        a server tool named by its versioned `type` (web_search_20250305...), which needs a name."""
        tools = self.body.get("tools")
        if tools is None:
            return None
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for n, tool in enumerate(tools):
            if not isinstance(tool, dict):
                return f"tools.{n}: Input should be a valid dictionary"
            kind = tool.get("type") or "custom"
            for name in ("name", "input_schema") if kind == "custom" else ("name",):
                if name not in tool:
                    return f"tools.{n}.{kind}.{name}: Field required"
        return None

    def _messages(self) -> str | None:
        messages: list[Any] = self.body["messages"]
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                return f"messages.{i}: Input should be a valid dictionary"
            role = message.get("role")
            if role not in ("user", "assistant"):
                return f"messages.{i}.role: Input should be 'user' or 'assistant'"
            if i and messages[i - 1].get("role") == role:
                return (
                    'messages: roles must alternate between "user" and "assistant", '
                    f'but found multiple "{role}" roles in a row'
                )
            content = message.get("content")
            if content in ("", []) and not (role == "assistant" and i == len(messages) - 1):
                return (
                    f"messages.{i}: all messages must have non-empty content except for the optional final "
                    "assistant message"
                )
            blocks = _blocks(content)
            problem = self._blocks(i, role, blocks)
            if not problem and role == "user":
                problem = self._tool_results(i, blocks, _blocks(messages[i - 1].get("content")) if i else [])
            if problem:
                return problem
        return None

    def _blocks(self, i: int, role: str, blocks: list[Json]) -> str | None:
        for j, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "text" and not block.get("text"):
                return f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
            if kind == "tool_use" and not _TOOL_USE_ID.fullmatch(str(block.get("id", ""))):
                return f"messages.{i}.content.{j}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
            if kind == "thinking" and role == "assistant" and block.get("signature") not in self.signatures:
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
        return None

    def _tool_results(self, i: int, blocks: list[Json], previous: list[Json]) -> str | None:
        """Tool results answer exactly the previous turn's calls, and come before anything else."""
        kinds = [b.get("type") for b in blocks]
        if "tool_result" in kinds[kinds.count("tool_result") :]:
            return f"messages.{i}: `tool_result` blocks must come first in the content of a user message"
        calls = [b.get("id") for b in previous if b.get("type") == "tool_use"]
        answered = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        for j, tool_use_id in enumerate(answered):
            if tool_use_id not in calls:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. "
                    "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                )
        unanswered = [c for c in calls if c not in answered]
        if unanswered:
            return (
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(map(str, unanswered))}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
            )
        return None

    def _tool_turn(self) -> str | None:
        """With thinking on, the last assistant turn that calls tools must open with its thinking."""
        if not self.require_thinking or self.thinking not in ("enabled", "adaptive"):
            return None
        messages: list[Json] = self.body["messages"]
        turns = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
        if not turns:
            return None
        blocks = _blocks(messages[turns[-1]].get("content"))
        first = blocks[0].get("type") if blocks else None
        if any(b.get("type") == "tool_use" for b in blocks) and first not in ("thinking", "redacted_thinking"):
            return (
                f"messages.{turns[-1]}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking "
                "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you "
                "include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. "
                f"Please consult our documentation at {_THINKING_DOCS}"
            )
        return None


_RECORDED = web.RequestKey("recorded", RecordedRequest)
_REQUEST_ID = web.RequestKey("request_id", str)
CACHE_MIN_TOKENS = 1024  # the shortest prefix Claude Sonnet and Opus cache


class PromptCache:
    """Anthropic's prompt caching as the API reports it. A request marked for caching (a top-level
    `cache_control`, whose breakpoint is the prompt's last block, or one on a block: the last such)
    reads the longest prefix, up to its breakpoint, that an earlier request wrote
    (`cache_read_input_tokens`), and writes the prefix to its breakpoint when that is long enough
    to cache (`cache_creation_input_tokens`); `input_tokens` is the rest. The prompt runs tools,
    system, then every message's blocks; a block's tokens are its JSON's length over four."""

    def __init__(self) -> None:
        self.written: set[bytes] = set()

    def usage(self, body: Json, usage: Usage) -> Usage:
        blocks = [*(body.get("tools") or ()), *_blocks(body.get("system") or []),
                  *(block | {"role": m.get("role")} for m in body["messages"] for block in _blocks(m.get("content")))]
        marked = [i for i, block in enumerate(blocks) if isinstance(block, dict) and "cache_control" in block]
        if body.get("cache_control") is not None and blocks:
            marked.append(len(blocks) - 1)
        if not marked:
            return usage
        end = max(marked) + 1
        digest, digests, tokens = hashlib.sha256(), [b""], [0]
        for block in blocks:
            raw = orjson.dumps({k: v for k, v in block.items() if k != "cache_control"}, option=orjson.OPT_SORT_KEYS)
            digest.update(raw)
            digests.append(digest.copy().digest())
            tokens.append(tokens[-1] + len(raw) // 4)
        read = next((tokens[k] for k in range(end, 0, -1) if digests[k] in self.written), 0)
        written = 0
        if tokens[end] >= CACHE_MIN_TOKENS and digests[end] not in self.written:
            self.written.add(digests[end])
            written = tokens[end] - read
        return Usage(input_tokens=tokens[-1] - read - written, output_tokens=usage.output_tokens,
                     cache_read_input_tokens=read, cache_creation_input_tokens=written)


class FakeAnthropic(Streaming):
    """An Anthropic Messages server on 127.0.0.1 (ephemeral port), run in the caller's event loop.

    Attributes: `url` (base URL without /v1, as the SDK's `base_url` expects; set on entry),
    `requests` (every `RecordedRequest`, rejected ones and models calls included), `disconnects`
    (streams whose client left before the stream ended), `signatures` (every thinking signature
    minted), `models` (ids served by /v1/models), `default` (the reply used when the script is empty),
    `require_thinking_in_tool_turns` (enforce that, with thinking on, the last assistant turn with
    tool_use starts with a thinking block; switch it off to test a gateway that cannot keep thinking).

    Every request needs an `anthropic-version` header (else 400) and a credential in `x-api-key`
    or `Authorization: Bearer` (else 401); any value is accepted. Every response has a
    `request-id` header, equal to the `request_id` of an error body.
    """

    def __init__(
        self,
        models: Sequence[str] = ("claude-fake",),
        *,
        default: Reply | ErrorReply | None = None,
        require_thinking_in_tool_turns: bool = True,
        caching: bool = False,
    ) -> None:
        self.models = list(models)
        self.cache = PromptCache() if caching else None
        self.default = default or text("Hello", " from", " fake")
        self.require_thinking_in_tool_turns = require_thinking_in_tool_turns
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.signatures: set[str] = set()
        self._script: deque[Reply | ErrorReply] = deque()

    def script(self, *replies: Reply | ErrorReply) -> None:
        """Queue replies for the next accepted messages requests, one each, in order."""
        self._script.extend(replies)

    async def __aenter__(self) -> FakeAnthropic:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        app.on_response_prepare.append(self._stamp)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{id:.+}", self._get_model)
        self.url = await self.serve(app)
        return self

    def _mint(self) -> str:
        signature = "sig_" + secrets.token_urlsafe(24)
        self.signatures.add(signature)
        return signature

    @web.middleware
    async def _record(self, request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        """Record the request, then refuse it as the real API would without version or credential."""
        body = await request.read()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        recorded = RecordedRequest(request.method, request.path, request.query_string, headers, parsed, body)
        request[_RECORDED] = recorded
        request[_REQUEST_ID] = "req_" + secrets.token_hex(12)
        self.requests.append(recorded)
        if "anthropic-version" not in headers:
            return _error(request, 400, "anthropic-version: header is required")
        if recorded.api_key is None and recorded.auth_token is None:
            return _error(request, 401, "x-api-key header is required")
        return await handler(request)

    async def _stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["request-id"] = request[_REQUEST_ID]

    def _model_object(self, model_id: str) -> Json:
        return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2025-01-01T00:00:00Z"}

    async def _list_models(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "data": [self._model_object(m) for m in self.models],
                "has_more": False,
                "first_id": self.models[0] if self.models else None,
                "last_id": self.models[-1] if self.models else None,
            }
        )

    async def _get_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["id"]
        if model_id not in self.models:
            return _error(request, 404, f"model: {model_id}")
        return _json_response(self._model_object(model_id))

    def _invalid(self, request: web.Request, *, counting: bool) -> web.Response | None:
        """The 400 the real API would send for this body, or None if it is acceptable."""
        body = request[_RECORDED].json
        if not isinstance(body, dict):
            return _error(request, 400, "There was an error parsing the body of your request.")
        validator = _Validator(
            body, self.signatures, counting=counting, require_thinking=self.require_thinking_in_tool_turns
        )
        problem = validator.problem()
        return _error(request, 400, problem) if problem else None

    async def _count_tokens(self, request: web.Request) -> web.Response:
        return self._invalid(request, counting=True) or _json_response(
            {"input_tokens": count_tokens(request[_RECORDED].json)}
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        rejected = self._invalid(request, counting=False)
        if rejected:
            return rejected
        body: Json = request[_RECORDED].json
        reply = self._script.popleft() if self._script else self.default
        await asyncio.sleep(reply.head_delay)
        if isinstance(reply, ErrorReply):
            return _error(request, reply.status, reply.message, type=reply.type, headers=reply.headers)
        if self.cache is not None and reply.usage == Usage():
            reply = replace(reply, usage=self.cache.usage(body, reply.usage))
        message = _Message(reply, body, self._mint)
        if body.get("stream"):
            return await self._stream(request, message)
        if reply.fail == "drop":
            abort(request)
            return web.Response()  # never reaches the client: the connection is gone
        if reply.fail == "error":
            return _error(request, 529, reply.fail_message)
        if reply.fail is not None:
            return await cut_body(request, orjson.dumps(message.whole()), reply.fail)
        return _json_response(message.whole())

    async def _stream(self, request: web.Request, message: _Message) -> web.StreamResponse:
        reply = message.reply
        return await self.stream(request, message.frames(), reply, "text/event-stream; charset=utf-8",
                                 reply.fail == "drop")


def _error(
    request: web.Request, status: int, message: str, *, type: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """An error response in Anthropic's shape, carrying the request's id."""
    error = {"type": type or ERROR_TYPES.get(status, "api_error"), "message": message}
    return _json_response({"type": "error", "error": error, "request_id": request[_REQUEST_ID]}, status, headers)
