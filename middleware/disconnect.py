"""Noticing a client that went away while its answer is being made or streamed.

ASGI tells of a disconnect only through `receive()`, which nothing reads once the body is in; so a
silent upstream would keep a stream (and its upstream connection) open for a client long gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from interlingua.middleware.state import DISCONNECTED


class Watch:
    """Cancels the request's task when the client disconnects, until the answer is complete."""

    __slots__ = ("state", "task", "armed", "_receiving")

    def __init__(self, state: dict[str, Any], receive: Any) -> None:
        self.state = state
        self.task = asyncio.current_task()
        self.armed = True
        self._receiving = asyncio.ensure_future(receive())
        self._receiving.add_done_callback(self._fired)

    def _fired(self, future: asyncio.Future[Any]) -> None:
        if self.armed and not future.cancelled() and future.result()["type"] == "http.disconnect":
            self.state[DISCONNECTED] = True
            if self.task is not None:
                self.task.cancel()

    def close(self) -> None:
        self.armed = False
        self._receiving.cancel()


async def watched(state: dict[str, Any], receive: Any, work: Callable[[Watch], Awaitable[None]]) -> None:
    """Run `work` until it ends or the client disconnects, which cancels it (and with it, its
    upstream call); the cancellation stops here, `DISCONNECTED` tells the outer layers."""
    watch = Watch(state, receive)
    try:
        await work(watch)
    except asyncio.CancelledError:
        if not state.get(DISCONNECTED):
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
    finally:
        watch.close()
