"""Per-key limits and budgets before a request, its cost after.

Before: a key with `rpm`, `tpm` or a `budget` is checked against shared counters (see
`adapters/state`) in one atomic step; a limit reached is a 429 in the client's dialect with
`Retry-After` (seconds until the window that refused ends) and a message naming the limit, code
`rate_limit_exceeded`, or `budget_exceeded` for a spent budget. Tokens are not known before the
answer, so `tpm` takes an estimate up front (a quarter of the body's bytes, the usual characters
per token) and is corrected by what the usage says afterwards; a burst can then overshoot only by
the estimates' error. A budget admits while the window's spend is below it, so it can be passed by
the cost of the requests already in flight when it is reached.

After: the answer's cost in US dollars (from the price table, by the upstream model that answered)
goes to `state[COST]` for the ledger, and to the key's budget counter. Sitting inside
normalisation, it sees only requests that parsed; unmetered operations (model lists, stored
Responses) pass untouched.
"""

from __future__ import annotations

import time
from typing import Any

from interlingua.adapters.ir import GatewayError, Usage
from interlingua.adapters.pricing import PriceTable, usd
from interlingua.adapters.state import Counters, Limit, window
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import COST, FAILURE, OPERATION, PRINCIPAL, TARGET, USAGE, Principal, state_of

BYTES_PER_TOKEN = 4


def _content_length(scope: dict[str, Any]) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _refusal(limit: Limit, principal: Principal, now: float) -> GatewayError:
    wait = max(1.0, limit.resets_at - now)
    if limit.name == "budget":
        return GatewayError("rate_limit", f"budget_exceeded: the key's budget of {usd(limit.cap)} per "
                            f"{principal.budget_period} is spent; it renews in {wait:.0f} s",
                            code="budget_exceeded", retry_after=wait)
    unit = "requests" if limit.name == "rpm" else "tokens"
    return GatewayError("rate_limit", f"rate limit of {limit.cap:.0f} {unit} per minute ({limit.name}) reached; "
                        f"retry in {wait:.0f} s", code="rate_limit_exceeded", retry_after=wait)


class LimitsMiddleware:
    def __init__(self, app: Any, counters: Counters, prices: PriceTable | None = None) -> None:
        self.app = app
        self.counters = counters
        self.prices = prices or PriceTable()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope) if scope["type"] == "http" else {}
        operation = state.get(OPERATION)
        if operation is None or not operation.metered:
            await self.app(scope, receive, send)
            return
        principal: Principal | None = state.get(PRINCIPAL)
        limits: list[Limit] = []
        if principal is not None and principal.limited:
            now = time.time()
            limits = self._limits(principal, scope, now)
            refused = await self.counters.admit(limits)
            if refused is not None:
                error = state[FAILURE] = _refusal(refused, principal, now)  # what observers count it by
                await send_error(scope, send, error)
                return
        try:
            await self.app(scope, receive, send)
        finally:
            self._settle(state, limits)

    def _limits(self, principal: Principal, scope: dict[str, Any], now: float) -> list[Limit]:
        name = principal.name
        label, _, minute_ends = window("minute", now)
        limits = []
        if principal.rpm:
            limits.append(Limit("rpm", f"{name}:rpm:{label}", principal.rpm, 1, minute_ends))
        if principal.tpm:
            estimate = _content_length(scope) // BYTES_PER_TOKEN
            limits.append(Limit("tpm", f"{name}:tpm:{label}", principal.tpm, estimate, minute_ends))
        if principal.budget is not None:
            label, _, period_ends = window(principal.budget_period, now)
            limits.append(Limit("budget", f"{name}:budget:{label}", principal.budget, 0, period_ends))
        return limits

    def _settle(self, state: dict[str, Any], limits: list[Limit]) -> None:
        """Price the answer and correct the counters by what it really used."""
        usage: Usage | None = state.get(USAGE)
        target = state.get(TARGET)
        cost = self.prices.cost(target.model, usage) if usage is not None and target is not None else 0.0
        if cost:
            state[COST] = cost
        for limit in limits:
            if limit.name == "tpm":
                used = usage.total_tokens if usage is not None else 0
                self.counters.add(limit.key, used - limit.amount, limit.resets_at)
            elif limit.name == "budget":
                self.counters.add(limit.key, cost, limit.resets_at)
