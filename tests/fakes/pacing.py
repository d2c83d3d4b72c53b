"""Pacing and failure helpers shared by the fake upstreams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Protocol

from aiohttp import web

#: Seconds between checks for a vanished client while a stream waits on its gate.
POLL = 0.005


class Paced(Protocol):
    chunk_delay: float
    gate: asyncio.Event | None


#: Stream failures every fake does alike, before its first event (`Streaming.stream`): "empty" is a
#: 200 stream with no event at all, "junk" one whose only event is not JSON.
BEFORE_ANY_EVENT = {"empty": [], "junk": [b"data: " + b'{"unfinished": ' + b"\n\n"]}


def bearer(headers: dict[str, str]) -> str | None:
    """The `Authorization: Bearer` credential of recorded (lower-cased) headers, if there is one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


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


#: What a `garbage` stream sends after its pieces: an event whose data is not JSON.
GARBAGE = b'{"unfinished": '


async def cut_body(request: web.Request, body: bytes, how: str) -> web.StreamResponse:
    """A whole JSON answer cut in half: "cut" announces the full Content-Length and closes the
    connection after half of it; "garbage" sends the half as a well-framed body that is not JSON."""
    half = body[: len(body) // 2]
    if how == "garbage":
        return web.Response(body=half, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(half)
    abort(request)
    return response


def abort(request: web.Request) -> None:
    """Cut the connection without a proper end, as a crashing upstream would."""
    if request.transport is not None:
        request.transport.abort()


class Streaming:
    """What every fake upstream does alike: serve on a loopback port, write an answer frame by
    frame, paced and failing as scripted, and count the clients that left before the end."""

    disconnects: int
    _runner: web.AppRunner | None = None

    async def serve(self, app: web.Application) -> str:
        """Start `app` on an ephemeral port and return its base address."""
        # A short shutdown timeout: a test may leave a stream parked on a gate that is never set.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for_disconnects(self, count: int = 1, timeout: float = 2.0) -> None:
        """Wait until `disconnects >= count`: a departure is only noticed at the fake's next write or poll."""
        async with asyncio.timeout(timeout):
            while self.disconnects < count:
                await asyncio.sleep(POLL)

    async def stream(self, request: web.Request, frames: Iterable[bytes], reply: Paced, content_type: str,
                     drop: bool = False) -> web.StreamResponse:
        """Send `frames` with `reply`'s pacing between them; with `drop`, cut the connection after."""
        frames = BEFORE_ANY_EVENT.get(getattr(reply, "fail", None) or "", frames)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        try:
            for number, frame in enumerate(frames):
                if number:
                    await hold(request, reply)
                await response.write(frame)
            if drop:
                await hold(request, reply)
                abort(request)
        except ConnectionResetError:  # aiohttp raises its subclass when writing to a closed transport
            self.disconnects += 1
        except asyncio.CancelledError:
            self.disconnects += 1
            raise
        return response
