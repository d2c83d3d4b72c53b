"""The Redis limit counters against a real redis-server: one round trip per admission, the
corrections summed per counter and sent together, and none lost when Redis is unreachable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis

from interlingua.adapters.state import Limit
from interlingua.adapters.state.redis_counters import CORRECT_S, PREFIX, RedisCounters
from tests.servers import RedisServer
from tests.support import async_test


async def _calls(url: str, command: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


@asynccontextmanager
async def _counters() -> AsyncIterator[tuple[RedisServer, RedisCounters]]:
    """A redis-server of the test's own, and counters on it; both closed afterwards."""
    server = RedisServer()
    await server.start()
    counters = RedisCounters(server.url)
    try:
        yield server, counters
    finally:
        await counters.aclose()
        await server.close()


@async_test
async def test_corrections_are_summed_and_sent_in_one_pipeline() -> None:
    async with _counters() as (server, counters):
        ends = time.time() + 60
        tpm = Limit("tpm", "k:tpm:w", 1000, 100, ends)
        assert await counters.admit([tpm]) is None
        before = await _calls(server.url, "incrbyfloat")  # the admission's own, inside its script
        for used in (30, 20, 10):  # three answers: each corrects its estimate of 100
            counters.add("k:tpm:w", used - 100, ends)
            counters.add("k:budget:w", 0.25, ends)
        assert await counters.values(["k:tpm:w", "k:budget:w"]) == [100.0, 0.0]  # not sent yet
        await asyncio.sleep(CORRECT_S * 5)
        assert await counters.values(["k:tpm:w", "k:budget:w"]) == [100.0 - 240, 0.75]
        assert await _calls(server.url, "incrbyfloat") - before == 2  # one per counter, not one per answer
        client = redis.Redis.from_url(server.url)
        try:
            assert 0 < await client.ttl(PREFIX + "k:budget:w") <= 60 + 61  # the window, and the grace
        finally:
            await client.aclose()
        # A correction still owed at shutdown is sent, not dropped.
        counters.add("k:budget:w", 0.5, ends)
        await counters.settle()
        assert await counters.values(["k:budget:w"]) == [1.25]


@async_test
async def test_corrections_go_to_the_local_counters_while_redis_is_down() -> None:
    async with _counters() as (server, counters):
        ends = time.time() + 60
        await server.stop()
        counters.add("k:budget:w", 2.0, ends)
        await counters.settle()  # the send fails: the amount is counted here instead
        assert await counters.values(["k:budget:w"]) == [2.0]
        budget = Limit("budget", "k:budget:w", 2.0, 0, ends)
        assert await counters.admit([budget]) is budget  # and still refuses what it spent
