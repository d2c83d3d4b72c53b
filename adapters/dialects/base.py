"""What a wire dialect provides: a client side and an upstream side, two contracts.

A codec does no I/O. Client side (`ClientDialect`): match a request to an operation, parse its
body into the IR, render IR results, streams and errors back, and pass its own stream through
untouched while reading the usage out of it. Upstream side (`UpstreamDialect`): render the IR as
that dialect's request, parse its responses, streams and errors into the IR. The four chat dialects
are both; the utility dialect is a client side only.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import sse
from interlingua.adapters.operations import Operation

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


@dataclass(slots=True)
class ModelCard:
    """One entry of a models list, in neutral form."""

    id: str
    owned_by: str
    created: int = 0
    capabilities: tuple[str, ...] = ("chat",)


@dataclass(slots=True)
class ModelList:
    models: list[ModelCard]
    query: dict[str, str] = field(default_factory=dict)  # paging parameters, in the client's words


@dataclass(slots=True)
class Route:
    operation: Operation
    params: dict[str, str]  # from the path and query: the model id, Gemini's method and `alt`...


Operations = Mapping[Any, Operation]  # a method, or (action, method) for `resource`'s actions


def resource(method: str, path: str, prefix: str, collection: Operations, item: Operations,
             actions: Operations | None = None) -> Route | None:
    """The route of a REST resource the gateway keeps (files, batches): `prefix` itself (the
    collection), `prefix/{id}` (one item) or `prefix/{id}/{action}`, each operation found by the
    request's method (an action's by `(action, method)`); None for any other path or method."""
    if path != prefix and not path.startswith(prefix + "/"):
        return None
    rest = path[len(prefix):].strip("/")
    if not rest:
        operation = collection.get(method)
        return Route(operation, {}) if operation is not None else None
    item_id, _, action = rest.partition("/")
    operation = (actions or {}).get((action, method)) if action else item.get(method)
    return Route(operation, {"id": item_id}) if operation is not None else None


class StreamDecoder(ABC):
    """Upstream SSE bytes in, IR events out; raises GatewayError on an in-stream error.

    Events decoded before an error in the same read are returned first and the error raised on
    the next call, so that a client sees everything the upstream managed to send.

    A stream that stops without its dialect's terminating event, or sends an event that is not a
    JSON object, would otherwise reach the client as a clean, complete-looking answer: the
    dialect's `decode` sets `terminated` when it meets the terminator and parses events with
    `event_json`, and `close` raises a retryable `upstream` error when the terminator never came
    (retryable, so a target whose stream ended before anything reached the client falls back).
    """

    __slots__ = ("_splitter", "_failure", "terminated")

    def __init__(self) -> None:
        self._splitter = sse.Splitter(sse.MAX_EVENT_BYTES)
        self._failure: ir.GatewayError | None = None
        self.terminated = False

    def feed(self, chunk: bytes) -> list[ir.StreamEvent]:
        return self._run(self._splitter.feed(chunk))

    def close(self) -> list[ir.StreamEvent]:
        """The events of an unfinished last event. Raises when the stream ended wrongly; if there
        are such events, they are returned and the error is raised by the next call (`close`)."""
        out = self._run(self._splitter.flush())
        if not self.terminated and self._failure is None:
            failure = ir.GatewayError("upstream", "upstream stream ended before its terminator", retryable=True)
            if not out:
                raise failure
            self._failure = failure
        return out

    def _run(self, block: bytes) -> list[ir.StreamEvent]:
        if self._failure is not None:
            raise self._failure
        out: list[ir.StreamEvent] = []
        if block:
            try:
                self.decode(block, out)
            except ir.GatewayError as error:
                if not out:
                    raise
                self._failure = error
        return out

    @abstractmethod
    def decode(self, block: bytes, out: list[ir.StreamEvent]) -> None:
        """Append the events of `block`, which holds whole SSE events only; set `terminated` on
        the dialect's terminating event."""


def event_json(data: bytes) -> dict[str, Any]:
    """One streamed event's JSON object; anything else is the upstream's fault, and retryable:
    a stream that breaks before its first byte reached the client may go to the next target."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _not_json() from None
    if not isinstance(payload, dict):
        raise _not_json()
    return payload


def _not_json() -> ir.GatewayError:
    return ir.GatewayError("upstream", "upstream stream sent an event that is not JSON", retryable=True)


class StreamEncoder(ABC):
    """IR events in, client stream bytes out."""

    media_type = "text/event-stream"

    @abstractmethod
    def encode(self, event: ir.StreamEvent) -> bytes: ...

    @abstractmethod
    def end(self) -> bytes: ...

    @abstractmethod
    def error(self, error: ir.GatewayError) -> bytes: ...

    def ping(self) -> bytes:
        return b": ping\n\n"


class Passthrough(ABC):
    """Forwards a same-dialect upstream stream while reading usage out of it.

    Upstream reads are cut at event boundaries, so a dialect's `forward` sees whole SSE events
    only; it returns the bytes to send on (possibly fewer than came in), sets `usage` to the last
    usage seen and counts `events`, for an estimate when the stream is cut short.

    A stream that stops before its terminating event must not look complete to the client, but
    parsing every event would cost the pass-through its speed. So each read is only searched for
    the dialect's `terminators`, bytes that only the terminating event holds (a quoted JSON string
    such as `"message_stop"` cannot occur unescaped inside another string), and `close` raises a
    retryable `upstream` error when none was seen. Events that a dialect parses anyway (those with
    usage) are checked to be JSON with `event_json`, and so is the stream's first event, one parse
    a stream, so that an upstream that answers garbage from the start falls back to the next
    target before anything reached the client; the others are forwarded unread.

    An upstream that reports its own error in-stream has said how its stream ends: a read that
    matches the dialect's `error_marker` has its events parsed (rare, so cheap) by `upstream_error`,
    which becomes `failure` (for the ledger) and counts as the terminator, so that the client sees
    the upstream's error and no second one from the gateway.
    """

    __slots__ = ("_splitter", "usage", "events", "terminated", "failure", "_first")
    media_type = "text/event-stream"
    # Bytes of the terminating event; empty for a stream that has none to wait for (media).
    terminators: ClassVar[tuple[bytes, ...]] = ()
    # Where a read may hold an in-stream error event; None: the dialect has none.
    error_marker: ClassVar[re.Pattern[bytes] | None] = None

    def __init__(self) -> None:
        self._splitter = sse.Splitter(sse.MAX_EVENT_BYTES)
        self.usage: ir.Usage | None = None
        self.events = 0
        self.terminated = False
        self.failure: ir.GatewayError | None = None
        self._first = False  # whether the first event has been seen (and checked)

    def feed(self, chunk: bytes) -> bytes:
        """The bytes to send on for one upstream read."""
        return self._pass(self._splitter.feed(chunk))

    def close(self) -> bytes:
        """The bytes to send on when the upstream stream has ended (an unfinished last event)."""
        return self._pass(self._splitter.flush())

    def _pass(self, block: bytes) -> bytes:
        if not block:
            return b""
        if self.terminators:
            if not self._first:
                for _, data in sse.events(block):
                    self._first = True
                    if data != b"[DONE]":
                        event_json(data)
                    break
            if not self.terminated:
                self.terminated = self.ends(block)
            if (self.failure is None and self.error_marker is not None and b"error" in block  # the cheap test first
                    and self.error_marker.search(block)):
                for name, data in sse.events(block):
                    self.failure = self.upstream_error(name, data)
                    if self.failure is not None:
                        self.terminated = True
                        break
        return self.forward(block)

    def upstream_error(self, name: str | None, data: bytes) -> ir.GatewayError | None:
        """The upstream's own error, if the event (`name`, `data`) is one."""
        return None

    def check(self) -> None:
        """After `close`: raise if the stream stopped before its terminator."""
        if self.terminators and not self.terminated:
            raise ir.GatewayError("upstream", "upstream stream ended before its terminator", retryable=True)

    def ends(self, block: bytes) -> bool:
        """Whether `block` holds the terminating event, by its marker bytes alone."""
        return any(marker in block for marker in self.terminators)

    def error(self, error: ir.GatewayError) -> bytes | None:
        """The in-stream error that ends what was forwarded, where the dialect's `StreamEncoder`
        cannot write it: a fresh encoder knows nothing of the forwarded stream, which is enough
        for most dialects' stateless error events but not for one whose error must continue the
        stream's own framing or numbering. None: the encoder's `error` is right."""
        return None

    @abstractmethod
    def forward(self, block: bytes) -> bytes:
        """What to send on for `block`, which holds whole SSE events only."""


class ClientDialect(ABC, Generic[RequestT]):
    """The client's side of a wire dialect: its requests in, the gateway's answers out.

    `RequestT` is the IR request type its `decode_request` makes (a union, for a dialect with
    several operations). Every error the gateway raises reaches the client through `encode_error`
    and `status_of`, so the client reads it in its own shape.
    """

    name: str
    # How `encode_result` renders each IR result type: a function of (result, request) giving the
    # JSON payload. Subclasses list theirs; a type missing here is a gateway bug, not bad input.
    results: ClassVar[Mapping[type, Callable[[Any, Any], Any]]] = {}

    @abstractmethod
    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        """The operation a request asks for, from method, path, headers and query alone (before the
        body is read, so that even a bad body's error is in this dialect); None if not this dialect's."""

    @abstractmethod
    def decode_request(self, operation: Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> RequestT:
        """The IR request of `body` (parsed JSON, or an `ir.Form` for multipart). Raises
        `GatewayError` (`invalid_request`, naming the field) for anything malformed."""

    def encode_result(self, result: Any, request: RequestT) -> bytes:
        """A whole answer's body, by the result's type (`results`)."""
        encode = self.results.get(type(result))
        if encode is None:
            raise TypeError(f"no {self.name} encoding for {type(result).__name__}")
        return orjson.dumps(encode(result, request))

    def result_type(self, result: Any, request: RequestT) -> str:
        """The content type of `encode_result`'s bytes: JSON, but for dialects that answer with the
        thing itself (an image, a transcript)."""
        return "application/json"

    @abstractmethod
    def stream_encoder(self, request: RequestT) -> StreamEncoder:
        """A fresh encoder for one streamed answer to `request`."""

    @abstractmethod
    def encode_error(self, error: ir.GatewayError) -> bytes:
        """An error's body in this dialect's error shape."""

    def status_of(self, error: ir.GatewayError) -> int:
        """The HTTP status this dialect's clients expect for `error`: Anthropic's 529 (overloaded)
        is Anthropic's alone, so everyone else reads it as 503."""
        return 503 if error.status == 529 else error.status

    @abstractmethod
    def passthrough(self, request: RequestT) -> Passthrough:
        """A reader for an upstream stream in this same dialect, forwarded as it arrives."""

    def usage_of(self, body: Any) -> ir.Usage | None:
        """Usage out of a whole response body in this dialect (a pass-through answer)."""
        return None


# What an upstream dialect's readers raise on JSON of a shape its API never sends (a string where an
# object belongs, an object where a list does): where they share the request readers, those name
# the field (`ir.Invalid`); elsewhere they follow the API's reference rather than check every value
# on the way, which would double them and slow every answer. Callers treat these as the upstream's
# fault.
MISSHAPEN = (ir.Invalid, AttributeError, KeyError, IndexError, TypeError, ValueError)


class UpstreamDialect(ABC, Generic[RequestT, ResponseT]):
    """The upstream's side of a wire dialect: the IR out as its requests, its answers back in."""

    name: str

    @abstractmethod
    def encode_request(self, request: RequestT, model: str) -> dict[str, Any]:
        """The upstream request body for `request`, addressed to the upstream's `model`."""

    @abstractmethod
    def decode_response(self, body: Any) -> ResponseT:
        """A whole upstream answer (parsed JSON) as IR."""

    @abstractmethod
    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one upstream stream."""

    @abstractmethod
    def decode_error(self, status: int, body: bytes) -> ir.GatewayError:
        """An upstream's error answer (raw bytes: it may not be JSON) as a `GatewayError` carrying
        the upstream's status and message."""
