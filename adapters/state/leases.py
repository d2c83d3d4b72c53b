"""Headroom of the shared counters that one worker or replica holds, so that a key far from its
caps is admitted without asking them (a round trip to Redis, a transaction on the workers' SQLite
file).

A lease is reserved: the admission that takes it adds it to the shared counter on this process's
behalf, so no other process can admit what it holds and the caps hold exactly across them;
requests then draw on it here. The admission grants one only where the counter's headroom is at
least `SHARE` times the request's amount, and then that share of it (`offer`), so near a cap every
admission asks the counter as before. What a process has not used after `HOLD_S` goes back to
the counter: for that long at most, another process may find the counter fuller than its requests
made it. A limit that adds nothing when it admits (a budget, whose spend comes after the answer)
has no headroom to reserve; the admission tells how much there was, and where that is at least a
`SHARE`th of the cap the process admits on that view, less what it spends meanwhile, until
`HOLD_S` has passed or the view comes nearer the cap. As for budgets already, the requests other
processes admit meanwhile can pass the cap by their cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from interlingua.adapters.state import Limit

SHARE = 64
HOLD_S = 1.0


@dataclass(slots=True)
class Lease:
    left: float
    until: float  # monotonic time it is given back
    reserved: bool  # added to the shared counter; else only a view of its headroom
    resets_at: float  # the counter's window end, for giving it back


def offer(limit: Limit, value: float) -> tuple[float, float]:
    """What an admission of `limit` at the counter's `value` adds to it, and gives this process: for
    a limit that adds, a `SHARE`th of the headroom left where that is at least `SHARE` requests'
    worth (reserved, so added too), else nothing; for one that adds nothing, the headroom. The Redis
    script computes the same in Lua."""
    rest = limit.cap - value - limit.amount
    if not limit.amount:
        return 0.0, rest
    lease = rest // SHARE if rest >= SHARE * limit.amount else 0.0
    return limit.amount + lease, lease


class Leases:
    """The leases this process holds, by counter key."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, Lease] = {}  # in the order their time is up: each is held `HOLD_S`

    def draw(self, limits: Sequence[Limit], now: float) -> bool:
        """Admit `limits` from what is held, all or none; False when one of them needs the counter."""
        held = self._held
        for limit in limits:
            lease = held.get(limit.key)
            if lease is None or lease.until <= now or lease.left < limit.amount or lease.left <= 0 or (
                    not lease.reserved and lease.left * SHARE < limit.cap):  # a view come near the cap
                return False
        for limit in limits:
            held[limit.key].left -= limit.amount
        return True

    def grant(self, limits: Sequence[Limit], given: Sequence[float], now: float) -> None:
        """What an admission gave beside admitting `limits`: per limit the headroom reserved for this
        process or, for one that adds nothing, the headroom it found."""
        for limit, amount in zip(limits, given, strict=True):
            lease = self._held.get(limit.key)
            if limit.amount and lease is not None and lease.reserved and lease.until > now:
                lease.left += amount
            elif amount > 0 and (limit.amount or amount * SHARE >= limit.cap):
                self._held.pop(limit.key, None)  # a new one goes last, as its time is up last
                self._held[limit.key] = Lease(amount, now + HOLD_S, bool(limit.amount), limit.resets_at)

    def spent(self, key: str, amount: float) -> None:
        """A correction of a counter: it narrows the view of one whose headroom is not reserved."""
        lease = self._held.get(key)
        if lease is not None and not lease.reserved:
            lease.left -= amount

    def __bool__(self) -> bool:
        return bool(self._held)

    def expire(self, now: float = float("inf")) -> dict[str, Lease]:
        """Forget the leases whose time is up (by default all of them); what the reserved ones
        among them left unused, to give back. Only those are looked at, the first held: every
        admission that asks Redis asks this, and looking at every lease each time would cost a
        process with many keys their square each second."""
        ended = []
        for key, lease in self._held.items():
            if lease.until > now:
                break
            ended.append(key)
        gone = {key: self._held.pop(key) for key in ended}
        return {key: lease for key, lease in gone.items() if lease.reserved and lease.left > 0}

    def give_back(self, owe: Callable[[str, float, float], object], now: float = float("inf")) -> None:
        """`expire`, and owe each counter (`owe(key, amount, resets_at)`) what its lease left unused."""
        for key, lease in self.expire(now).items():
            owe(key, -lease.left, lease.resets_at)
