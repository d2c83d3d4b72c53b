"""Noticing a client that went away while its answer is being made or streamed.

ASGI tells of a disconnect only through `receive()`, which nothing reads once the body is in; so a
silent upstream would keep a stream (and its upstream connection) open for a client long gone.
Reading it takes a task of its own, which costs a request more than anything else this layer
does; so the watch starts only once the answer has taken `WATCH_AFTER` seconds. A model's answer
takes longer than that, and a client gone sooner is noticed then (its disconnect is waiting in
`receive()`); answers within it were never worth cancelling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from interlingua.middleware.state import DISCONNECTED

WATCH_AFTER = 0.05


class Watch:
    """Cancels the request's task when the client disconnects, until the answer is complete."""

    __slots__ = ("state", "task", "armed", "_receive", "_receiving", "_timer")

    def __init__(self, state: dict[str, Any], receive: Any) -> None:
        self.state = state
        self.task = asyncio.current_task()
        self.armed = True
        self._receive = receive
        self._receiving: asyncio.Future[Any] | None = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._start)

    def _start(self) -> None:
        if self.armed:
            self._receiving = asyncio.ensure_future(self._receive())
            self._receiving.add_done_callback(self._fired)

    def _fired(self, future: asyncio.Future[Any]) -> None:
        if self.armed and not future.cancelled() and future.result()["type"] == "http.disconnect":
            self.state[DISCONNECTED] = True
            if self.task is not None:
                self.task.cancel()

    def close(self) -> None:
        self.armed = False
        self._timer.cancel()
        if self._receiving is not None:
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
