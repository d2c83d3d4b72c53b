"""Pacing and failure helpers shared by the fake upstreams."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from aiohttp import web

#: Seconds between checks for a vanished client while a stream waits on its gate.
POLL = 0.005


class Paced(Protocol):
    chunk_delay: float
    gate: asyncio.Event | None


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def hold(request: web.Request, reply: Paced) -> None:
    """Wait out `chunk_delay` and the gate; raise ConnectionResetError if the client left meanwhile."""
    if reply.chunk_delay:
        await asyncio.sleep(reply.chunk_delay)
    while reply.gate is not None and not reply.gate.is_set() and not client_gone(request):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reply.gate.wait(), POLL)
    if client_gone(request):
        raise ConnectionResetError("client disconnected")


def abort(request: web.Request) -> None:
    """Cut the connection without a proper end, as a crashing upstream would."""
    if request.transport is not None:
        request.transport.abort()
