"""Limit counters in Redis (or Valkey), shared by every replica: `[state] url = "redis://..."`.

`admit` is one Lua script, so the check and the additions of all of a request's limits are one
atomic step on the server, whatever the number of replicas, sent by its digest (`EVALSHA`, the
script itself only when the server does not know it yet) over `resp.RespConnection`, whose cost
per command is a fraction of redis-py's. Counters are `INCRBYFLOAT`s whose keys
name their window and expire shortly after it ends. Corrections (a `tpm` estimate made good, a
budget's spend) are summed per counter in this process and sent together, one pipeline every
`CORRECT_S` at most: each request then costs Redis one round trip, the admission, instead of three.

If Redis goes away, requests keep being served: the counters fall back to this process's own
(`LocalCounters` in memory), a warning is logged, and Redis is tried again every
`RETRY_S` seconds; when it answers, shared counting resumes (the local counts are dropped: they
only stood in while it was gone).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence

from interlingua.adapters.state import Limit, leases
from interlingua.adapters.state.local import LocalCounters, count
from interlingua.adapters.state.resp import FAILURES, Arg, ReplyError, RespConnection

log = logging.getLogger("interlingua.state")

RETRY_S = 1.0
CORRECT_S = 0.02  # how late a correction may reach the shared counters
TIMEOUT_S = 0.5
PREFIX = "interlingua:limit:"
_GRACE_S = 60  # a counter outlives its window by this much, for corrections that arrive late

# KEYS: the counters. ARGV: per counter its cap, amount and expiry (unix seconds), in triples, then
# the share of a counter's headroom a lease takes (see `leases.py`). Answers {i} when the i-th
# limit (1-based) refuses; else {0, then per counter the lease it reserved beside the amount or,
# for one that adds nothing, the headroom it has}, as strings (Redis would cut numbers to integers).
_ADMIT = """
local values, share = {}, tonumber(ARGV[3 * #KEYS + 1])
for i = 1, #KEYS do
    local value = tonumber(redis.call('GET', KEYS[i]) or '0')
    local cap, amount = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
    if value >= cap or value + amount > cap then
        return {i}
    end
    values[i] = value
end
local given = {0}
for i = 1, #KEYS do
    local cap, amount = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
    local rest = cap - values[i] - amount
    local lease = 0
    if amount > 0 and rest >= share * amount then
        lease = math.floor(rest / share)
    end
    if amount + lease ~= 0 then
        redis.call('INCRBYFLOAT', KEYS[i], tostring(amount + lease))
        redis.call('EXPIREAT', KEYS[i], ARGV[3 * i])
    end
    given[i + 1] = tostring(amount > 0 and lease or rest)
end
return given
"""
_ADMIT_SHA = hashlib.sha1(_ADMIT.encode()).hexdigest()


class RedisCounters:
    def __init__(self, url: str) -> None:
        self.url = url
        self._redis = RespConnection(url, TIMEOUT_S)
        self._local = LocalCounters()
        self._down_until = 0.0  # while in the future, the local counters stand in
        self._owed: dict[str, list[float]] = {}  # corrections not yet sent: key -> [amount, expiry]
        self._sending: asyncio.Task[None] | None = None
        self._leases = leases.Leases()
        self._returning: asyncio.TimerHandle | None = None

    def _up(self) -> bool:
        return self._down_until == 0.0 or time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        self._leases = leases.Leases()  # what they reserved stays counted until its window ends
        if self._down_until == 0.0:
            log.warning("Redis at %s unreachable (%s): counting limits in this process until it is back",
                        _safe(self.url), type(exc).__name__)
        self._down_until = time.monotonic() + RETRY_S

    def _recovered(self) -> None:
        if self._down_until:
            log.warning("Redis at %s is back: limits are counted there again", _safe(self.url))
            self._down_until = 0.0
            self._local = LocalCounters()

    async def admit(self, limits: Sequence[Limit]) -> Limit | None:
        if not self._up():
            return await self._local.admit(limits)
        now = time.monotonic()
        if self._leases.draw(limits, now):
            return None
        self._leases.give_back(self.add, now)
        keys_and_args: list[Arg] = [len(limits), *(PREFIX + lim.key for lim in limits)]
        for limit in limits:
            keys_and_args += [limit.cap, limit.amount, int(limit.resets_at) + _GRACE_S]
        keys_and_args.append(leases.SHARE)
        try:
            try:
                answer = await self._redis.call("EVALSHA", _ADMIT_SHA, *keys_and_args)
            except ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                answer = await self._redis.call("EVAL", _ADMIT, *keys_and_args)  # and Redis keeps it
        except FAILURES as exc:
            self._failed(exc)
            return await self._local.admit(limits)
        self._recovered()
        if answer[0]:
            return limits[answer[0] - 1]
        self._leases.grant(limits, [float(given) for given in answer[1:]], now)
        self._return_later()
        return None

    def _return_later(self) -> None:
        """Give back what the leases leave unused once their time is up, should no admission that
        asks Redis do it sooner."""
        if self._returning is None and self._leases:
            self._returning = asyncio.get_running_loop().call_later(leases.HOLD_S, self._return)

    def _return(self) -> None:
        self._returning = None
        self._leases.give_back(self.add, time.monotonic())
        self._return_later()

    def add(self, key: str, amount: float, resets_at: float) -> None:
        if not amount:
            return
        if not self._up():
            self._local.add(key, amount, resets_at)
            return
        self._leases.spent(key, amount)
        count(self._owed, key, amount, resets_at)
        if self._sending is None:
            self._sending = asyncio.get_running_loop().create_task(self._send_later())

    async def _send_later(self) -> None:
        try:
            await asyncio.sleep(CORRECT_S)
        finally:
            self._sending = None
        await self._send()

    async def _send(self) -> None:
        owed, self._owed = self._owed, {}
        if not owed:
            return
        commands: list[tuple[Arg, ...]] = []
        for key, (amount, resets_at) in owed.items():
            commands += ("INCRBYFLOAT", PREFIX + key, amount), ("EXPIREAT", PREFIX + key, int(resets_at) + _GRACE_S)
        try:
            await self._redis.pipeline(commands, strict=True)
        except FAILURES as exc:
            self._failed(exc)
            for key, (amount, resets_at) in owed.items():
                self._local.add(key, amount, resets_at)

    async def values(self, keys: Sequence[str]) -> list[float]:
        if not self._up():
            return await self._local.values(keys)
        try:
            found = await self._redis.call("MGET", *(PREFIX + key for key in keys))
        except FAILURES as exc:
            self._failed(exc)
            return await self._local.values(keys)
        return [float(v) if v is not None else 0.0 for v in found]

    async def ready(self) -> str | None:
        try:
            await self._redis.call("PING")
        except FAILURES:
            return "Redis is unreachable (limits are counted per process meanwhile)"
        return None

    async def settle(self) -> None:
        """Send the corrections owed now (tests, and shutdown)."""
        if self._sending is not None:
            await self._sending
        await self._send()
        self._local.flush()

    async def aclose(self) -> None:
        if self._returning is not None:
            self._returning.cancel()
        self._leases.give_back(self.add)
        await self.settle()
        await self._local.aclose()
        await self._redis.aclose()


def _safe(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url
