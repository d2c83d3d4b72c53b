"""What asking one upstream target gives back: exactly one of four shapes.

A same-dialect answer is the upstream's own bytes, whole (`Body`) or streamed (`Chunks`), to be
passed through; any other is IR, whole (`Result`) or streamed (`Events`). The dispatcher matches
on the shape once. Streams carry `close`, which releases the upstream response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir

Close = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class Body:
    """The upstream's whole answer in the client's own dialect, or media bytes."""

    body: bytes
    media_type: str | None = None  # for bytes that are not the dialect's JSON (audio, a transcript)
    usage: ir.Usage | None = None  # where the dialect's JSON reader cannot see it


@dataclass(slots=True)
class Chunks:
    """The upstream's stream in the client's own dialect, or streamed media, as it arrives."""

    chunks: AsyncIterator[bytes]
    close: Close
    media_type: str | None = None


@dataclass(slots=True)
class Result:
    """A whole answer in IR: a chat response, a token count, embeddings, images, a transcript."""

    result: Any


@dataclass(slots=True)
class Events:
    """A translated stream: one batch of IR events per upstream read."""

    events: AsyncIterator[list[ir.StreamEvent]]
    close: Close


Reply = Body | Chunks | Result | Events
