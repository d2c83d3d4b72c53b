"""How an alias spreads requests over its targets, and which targets to leave alone for a while.

Strategies: `ordered` (the config's order, each next target a fallback), `weighted` (a random
order drawn by the weights, so the first target is chosen in proportion to its weight), and
`least-busy` (fewest requests in flight from this process first, ties in config order).

A circuit breaker per target: after `failures` retryable failures in a row (5xx, timeouts,
refused connections) the target is skipped for `cooldown` seconds; then one request is let
through as a probe (half-open): its success closes the circuit, its failure opens it again. A 429
with `Retry-After` skips the target for that long. Skipped targets are not dropped: they go last,
so a request still has somewhere to go when every target is cooling down. The state is per
process: each worker and replica learns the health of its upstreams itself.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from interlingua.adapters.ir import GatewayError
from interlingua.adapters.providers import Target

STRATEGIES = ("ordered", "weighted", "least-busy")
_TRACKED = 4096


@dataclass(slots=True, frozen=True)
class Policy:
    strategy: str = "ordered"
    weights: tuple[float, ...] = ()  # one per target, for "weighted"


@dataclass(slots=True)
class _Health:
    in_flight: int = 0
    failures: int = 0
    skip_until: float = 0.0
    probing: bool = False


class Balancer:
    def __init__(self, failures: int = 3, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, draw: Callable[[], float] = random.random) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.clock = clock
        self.draw = draw
        self._health: dict[str, _Health] = {}

    def _of(self, target: Target) -> _Health:
        health = self._health.get(target.label)
        if health is None:
            if len(self._health) >= _TRACKED:  # `provider/model` names come from requests: stay bounded
                self._health = {k: h for k, h in self._health.items() if h.in_flight or h.failures}
            health = self._health[target.label] = _Health()
        return health

    def order(self, targets: Sequence[Target], policy: Policy | None) -> list[Target]:
        """The targets in the order to try them: by the policy, with the skipped ones last."""
        if policy is None or policy.strategy == "ordered":
            ordered = list(targets)
        elif policy.strategy == "weighted":
            ordered = self._weighted(targets, policy.weights)
        else:
            ordered = sorted(targets, key=lambda t: self._of(t).in_flight)
        now = self.clock()
        ready = [t for t in ordered if self._available(t, now)]
        return ready + [t for t in ordered if t not in ready] if len(ready) < len(ordered) else ordered

    def _weighted(self, targets: Sequence[Target], weights: Sequence[float]) -> list[Target]:
        pool = list(zip(targets, weights, strict=True))
        ordered = []
        while pool:
            point = self.draw() * sum(w for _, w in pool)
            for index, (target, weight) in enumerate(pool):
                point -= weight
                if point < 0 or index == len(pool) - 1:
                    ordered.append(target)
                    del pool[index]
                    break
        return ordered

    def _available(self, target: Target, now: float) -> bool:
        health = self._health.get(target.label)
        if health is None or health.skip_until <= 0:
            return True
        # Half-open: once the skip is over, one probe at a time.
        return now >= health.skip_until and not health.probing

    def begin(self, target: Target) -> None:
        health = self._of(target)
        health.in_flight += 1
        if health.skip_until and self.clock() >= health.skip_until:
            health.probing = True

    def end(self, target: Target, error: GatewayError | None) -> None:
        """Record how a request to `target` went; only retryable failures count against it."""
        health = self._of(target)
        health.in_flight -= 1
        if error is None or not error.retryable:
            health.failures, health.skip_until, health.probing = 0, 0.0, False
            return
        health.failures += 1
        now = self.clock()
        if error.status == 429 and error.retry_after:
            health.skip_until = now + error.retry_after
        elif health.probing or health.failures >= self.failures:
            health.skip_until = now + self.cooldown
        health.probing = False
