"""Work in a worker thread that stops early once nobody waits for it.

A cancelled task stops awaiting `asyncio.to_thread`, but the thread runs on to the end: a long
text to segment, thousands of texts to embed or passages to rerank, each minutes of a shared
executor's thread spent for a client that has left (a document's reader is a process, killed
instead: `confined.py`). Work written as steps takes a `stop` event and
checks it between steps; `in_thread` sets it when the awaiting task ends, cancelled or not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """Raised by work that stopped because its caller left, where a partial result could be taken
    for a whole one (a batch of vectors not computed, which a cache would keep)."""


async def in_thread(work: Callable[..., T], *args: Any) -> T:
    """`work(*args, stop=event)` in a worker thread; the event is set once the caller stops waiting."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(work, *args, stop=stop)
    finally:
        stop.set()
