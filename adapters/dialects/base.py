"""What every wire dialect provides, in both directions.

A codec does no I/O. Client side: match a request to an operation, find its credential, parse
its body into the IR, render IR results, streams and errors back. Upstream side: render the IR as
that dialect's request, parse its responses, streams and errors into the IR. A codec also knows how
to pass its own stream through untouched while reading the usage out of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping

from interlingua.adapters import ir
from interlingua.adapters.dialects import sse


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
    operation: str
    params: dict[str, str]


class StreamDecoder(ABC):
    """Upstream SSE bytes in, IR events out; raises GatewayError on an in-stream error.

    Events decoded before an error in the same read are returned first and the error raised on
    the next call, so that a client sees everything the upstream managed to send.
    """

    __slots__ = ("_splitter", "_failure")

    def __init__(self) -> None:
        self._splitter = sse.Splitter()
        self._failure: ir.GatewayError | None = None

    def feed(self, chunk: bytes) -> list[ir.StreamEvent]:
        return self._run(self._splitter.feed(chunk))

    def close(self) -> list[ir.StreamEvent]:
        return self._run(self._splitter.flush())

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
        """Append the events of `block`, which holds whole SSE events only."""


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

    `feed` returns the bytes to send on (possibly fewer than came in); `usage` is the last usage
    seen, and `events` counts the events passed, for an estimate when the stream is cut short.
    """

    usage: ir.Usage | None = None
    events: int = 0
    media_type = "text/event-stream"

    @abstractmethod
    def feed(self, chunk: bytes) -> bytes: ...

    @abstractmethod
    def close(self) -> bytes: ...


class Codec(ABC):
    name: str

    # client side ---------------------------------------------------------------------------------

    @abstractmethod
    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None: ...

    @abstractmethod
    def decode_request(self, operation: str, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> Any: ...

    @abstractmethod
    def encode_result(self, result: Any, request: Any) -> bytes: ...

    def result_type(self, result: Any, request: Any) -> str:
        """The content type of `encode_result`'s bytes: JSON, but for dialects that answer with the
        thing itself (an image, a transcript)."""
        return "application/json"

    @abstractmethod
    def stream_encoder(self, request: Any) -> StreamEncoder: ...

    @abstractmethod
    def encode_error(self, error: ir.GatewayError) -> bytes: ...

    def status_of(self, error: ir.GatewayError) -> int:
        """The HTTP status this dialect's clients expect for `error`."""
        return error.status

    @abstractmethod
    def passthrough(self, request: Any) -> Passthrough: ...

    def usage_of(self, body: Any) -> ir.Usage | None:
        """Usage out of a whole response body in this dialect."""
        return None

    # upstream side -------------------------------------------------------------------------------

    @abstractmethod
    def encode_request(self, request: Any, model: str) -> dict[str, Any]: ...

    @abstractmethod
    def decode_response(self, body: Any) -> Any: ...

    @abstractmethod
    def stream_decoder(self) -> StreamDecoder: ...

    @abstractmethod
    def decode_error(self, status: int, body: bytes) -> ir.GatewayError: ...
