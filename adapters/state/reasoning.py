"""The Chat clients' reasoning store shared through Redis, so that their tool loop on a signing
upstream may continue on any replica: `[state] url = "redis://..."`.

It is the local store (an in-memory table, `storage/reasoning.py`) with Redis behind it: what a
replica remembers is also written to Redis (from a background task, with a TTL), and before a
Chat client's request reaches a provider, `prefetch` brings the entries of its tool calls from
Redis into the local table in one `MGET`, so that the providers' lookups stay synchronous and
local. If Redis is away, a replica still has what it remembered itself. Both go over the same kind
of connection as the limit counters (`resp.RespConnection`): the prefetch is on the path of every
turn of a Chat client's tool loop.
"""

from __future__ import annotations

import asyncio
import logging

from interlingua.adapters import ir
from interlingua.adapters.state.resp import FAILURES, RespConnection
from interlingua.adapters.storage.reasoning import ReasoningStore, encode

log = logging.getLogger("interlingua.state")

TTL_S = 7 * 24 * 3600
PREFIX = "interlingua:reasoning:"
TIMEOUT_S = 0.5


class SharedReasoningStore(ReasoningStore):
    def __init__(self, url: str, capacity: int = 100_000) -> None:
        super().__init__(None, capacity)
        self._redis = RespConnection(url, TIMEOUT_S)
        self._tasks: set[asyncio.Task[None]] = set()

    def remember(self, provider: str, call_ids: list[str], parts: list[ir.Reasoning]) -> None:
        super().remember(provider, call_ids, parts)
        signed = encode(parts)
        if signed and call_ids:
            value = provider.encode() + b"\n" + signed
            task = asyncio.get_running_loop().create_task(self._share(call_ids, value))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _share(self, call_ids: list[str], value: bytes) -> None:
        try:
            await self._redis.pipeline([("SET", PREFIX + call_id, value, "EX", TTL_S) for call_id in call_ids],
                                       strict=True)
        except FAILURES as exc:
            log.warning("reasoning state not shared through Redis (%s): kept on this replica only",
                        type(exc).__name__)

    async def prefetch(self, call_ids: list[str]) -> None:
        """Bring what Redis holds for `call_ids` into the local table."""
        try:
            values = await self._redis.call("MGET", *(PREFIX + call_id for call_id in call_ids))
        except FAILURES as exc:
            log.warning("reasoning state not fetched from Redis (%s)", type(exc).__name__)
            return
        for call_id, value in zip(call_ids, values, strict=True):
            if isinstance(value, bytes):
                provider, _, parts = value.partition(b"\n")
                self.keep([call_id], (provider.decode(), parts))

    async def settle(self) -> None:
        """Wait for the writes to Redis in flight (tests, and shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def aclose(self) -> None:
        await self.settle()
        await self._redis.aclose()
        self.close()
