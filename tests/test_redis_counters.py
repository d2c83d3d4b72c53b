"""The Redis limit counters against a real redis-server: one round trip per admission, none for
a key far from its caps (leases of its headroom, which keep the caps exact across replicas and
go back unused), the corrections summed per counter and sent together, and none lost when Redis
is unreachable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis

from interlingua.adapters.state import Limit, leases
from interlingua.adapters.state.redis_counters import CORRECT_S, PREFIX, RedisCounters
from tests.servers import RedisServer
from tests.support import admitted_in_turns, async_test


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


@async_test
async def test_replicas_admit_from_leases_and_together_exactly_up_to_the_cap() -> None:
    """Two replicas take turns with one key's requests until both are refused: together they
    admit the cap exactly (a lease is reserved in the shared counter), with a fraction of the
    round trips, all of them while the headroom was large."""
    async with _counters() as (server, first):
        second = RedisCounters(server.url)
        try:
            rpm = Limit("rpm", "k:rpm:w", 3000, 1, time.time() + 60)
            assert await admitted_in_turns([first, second], [rpm]) == 3000
            assert await first.values([rpm.key]) == [3000.0]
            assert await _calls(server.url, "evalsha") + await _calls(server.url, "eval") < 3000 / 4
        finally:
            await second.aclose()


@async_test
async def test_a_lease_unused_goes_back_when_its_time_is_up_and_at_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases, "HOLD_S", 0.05)
    async with _counters() as (server, counters):
        rpm = Limit("rpm", "k:rpm:w", 6400, 1, time.time() + 60)
        assert await counters.admit([rpm]) is None
        lease = (6400 - 1) // leases.SHARE
        assert await counters.values([rpm.key]) == [1.0 + lease]  # reserved for this replica
        await asyncio.sleep(0.1)  # no request comes: it goes back by itself
        assert await counters.values([rpm.key]) == [1.0]
        assert await counters.admit([rpm]) is None  # a round trip, and a new lease
        (value,) = await counters.values([rpm.key])
        assert value == 2 + (6400 - 2) // leases.SHARE
        other = RedisCounters(server.url)
        assert await other.admit([rpm]) is None
        await other.aclose()  # what it did not use goes back at shutdown
        assert await counters.values([rpm.key]) == [value + 1]


@async_test
async def test_a_budget_is_admitted_on_the_headroom_seen_less_what_this_replica_spends() -> None:
    async with _counters() as (server, counters):
        budget = Limit("budget", "k:budget:w", 10.0, 0, time.time() + 60)
        assert await counters.admit([budget]) is None  # a round trip, which tells the headroom
        before = await _calls(server.url, "evalsha")
        assert await counters.admit([budget]) is None  # from the view
        assert await _calls(server.url, "evalsha") == before
        counters.add(budget.key, 9.9, budget.resets_at)  # the answers' cost: nothing left in view
        await counters.settle()
        for _ in range(2):  # near the cap (0.10 left, less than a 64th of it), each admission asks
            assert await counters.admit([budget]) is None
        assert await _calls(server.url, "evalsha") == before + 2
        counters.add(budget.key, 0.1, budget.resets_at)
        await counters.settle()
        assert await counters.admit([budget]) is budget
        assert await counters.values([budget.key]) == [pytest.approx(10.0)]  # a budget's admission adds nothing


def test_leases_are_given_back_in_the_order_their_time_is_up() -> None:
    """`expire` looks only at the leases whose time is up, the first held; one granted again goes
    last, and one added to keeps its time."""
    held, hold = leases.Leases(), leases.HOLD_S
    rpm = [Limit("rpm", f"k{i}:rpm:w", 6400, 1, 60.0) for i in range(3)]
    for i, limit in enumerate(rpm):
        held.grant([limit], [10.0], now=i * 0.2 * hold)  # up at 1.0, 1.2 and 1.4 HOLD_S
    held.grant([rpm[1]], [5.0], now=0.6 * hold)  # added to: still up at 1.2
    assert list(held.expire(now=1.1 * hold)) == ["k0:rpm:w"]
    held.grant([rpm[0]], [10.0], now=1.1 * hold)  # k0 anew: up at 2.1, last
    gone = held.expire(now=1.3 * hold)
    assert [(key, lease.left) for key, lease in gone.items()] == [("k1:rpm:w", 15.0)]
    assert list(held.expire(now=1.5 * hold)) == ["k2:rpm:w"]
    assert not held.draw([rpm[2]], now=1.5 * hold) and held.draw([rpm[0]], now=1.5 * hold)
    assert list(held.expire()) == ["k0:rpm:w"]
