"""Shared counters for rate limits and budgets, behind one small interface.

A limit is a counter in a window (a minute for `rpm` and `tpm`, a UTC day, week or month for a
budget) with a cap. `admit` checks several limits and adds to them in one atomic step, so workers
and replicas that share the counters cannot together let more through than the caps allow; `add`
corrects a counter afterwards (the tokens and dollars a request really used) without waiting.
`LocalCounters` keeps them in a SQLite file in the data directory, shared by the workers of one
machine; `OwnedCounters` keeps them in memory for a process that counts alone, written behind to
the same file; a Redis implementation of the same protocol serves replicas on several machines.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


@dataclass(slots=True, frozen=True)
class Limit:
    """One counter to check: `name` is what a refusal names ("rpm", "tpm", "budget")."""

    name: str
    key: str  # the counter, unique per principal, limit and window
    cap: float
    amount: float  # added when admitted
    resets_at: float  # unix time the window ends: the counter's expiry and the refusal's Retry-After


class Counters(Protocol):
    async def admit(self, limits: Sequence[Limit]) -> Limit | None:
        """Add every amount if no counter would pass its cap, else add nothing and return the first
        limit that would (a counter at its cap refuses even an amount of 0)."""

    def add(self, key: str, amount: float, resets_at: float) -> None:
        """Add `amount` (may be negative) soon, off the request path."""

    async def values(self, keys: Sequence[str]) -> list[float]:
        """The counters' current values, 0 for one that does not exist or has expired."""

    async def ready(self) -> str | None:
        """None when the counters are reachable, else why not."""

    async def aclose(self) -> None: ...


_LAST: dict[str, tuple[str, float, float]] = {}  # per period, the window last found: most requests fall in it


def window(period: str, now: float) -> tuple[str, float, float]:
    """The window of `period` (UTC) that `now` falls in: its label (part of a counter's key), its
    start and its end, as unix times."""
    last = _LAST.get(period)
    if last is not None and last[1] <= now < last[2]:
        return last
    found = _LAST[period] = _window(period, now)
    return found


def _window(period: str, now: float) -> tuple[str, float, float]:
    if period == "minute":
        start = math.floor(now / 60) * 60
        return str(start), start, start + 60.0
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        first, label, days = day, day.strftime("%Y-%m-%d"), 1
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        label, days = first.strftime("%G-W%V"), 7
    elif period == "month":
        first = day.replace(day=1)
        label, days = first.strftime("%Y-%m"), calendar.monthrange(day.year, day.month)[1]
    else:
        raise ValueError(f"unknown period {period!r}")
    return label, first.timestamp(), (first + timedelta(days=days)).timestamp()


def refused(value: float, limit: Limit) -> bool:
    return value >= limit.cap or value + limit.amount > limit.cap
