"""Per-key limits and budgets before a request, its cost after.

Before: a key with `rpm`, `tpm` or a `budget` is checked against shared counters (see
`adapters/state`) in one atomic step; a limit reached is a 429 in the client's dialect with
`Retry-After` (seconds until the window that refused ends) and a message naming the limit, code
`rate_limit_exceeded`, or `budget_exceeded` for a spent budget. Tokens are not known before the
answer, so `tpm` takes an estimate up front (a quarter of the body's bytes, the usual characters
per token) and is corrected by what the usage says afterwards; a burst can then overshoot only by
the estimates' error. Uploads that are not text (audio, images, PDFs and other documents) are left
out of it: their bytes say little of their tokens, and counted as text they made a 1 MB recording
262,144 tokens, more than many keys' whole tpm; what reading them costs comes with the usage.
Likewise base64 media inside a JSON body count 1,000 tokens each, looked for only once the plain
estimate is refused. A layer inside that learns the request is larger than its body (a fetched
page, a stored conversation) asks for the rest with `admit_more` before it goes on. A budget admits
while the window's spend is below it, so it can be passed by the cost of the requests already in
flight when it is reached.

After: the answer's cost in US dollars (from the price table, by the upstream model that answered)
goes to `state[COST]` for the ledger, and to the key's budget counter. Sitting inside
normalisation, it sees only requests that parsed; unmetered operations (model lists, stored
Responses) pass untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds
from interlingua.adapters.ir import GatewayError, Usage
from interlingua.adapters.pricing import PriceTable, usd
from interlingua.adapters.providers.tokens import MEDIA_TOKENS, inline_media
from interlingua.adapters.state import Counters, Limit, window
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import (
    ADMISSION,
    COST,
    FAILURE,
    OPERATION,
    PRINCIPAL,
    REQUEST,
    TARGET,
    USAGE,
    Principal,
    state_of,
)

BYTES_PER_TOKEN = 4


def _content_length(scope: dict[str, Any]) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def text_bytes(uploads: Iterable[ir.Upload]) -> int:
    """The bytes of those uploads that are text by their declared type, which a model reads as
    they are."""
    total = 0
    for upload in uploads:
        if kinds.textual(kinds.declared(upload.content_type, upload.filename)):
            total += upload.size
    return total


def _uploads(request: Any) -> list[ir.Upload]:
    if isinstance(request, (ir.DocumentRequest, ir.TranscriptionRequest)):
        return [request.file] if request.file is not None else []
    if isinstance(request, ir.ImageRequest):
        return request.files or []
    return []


def _estimate(scope: dict[str, Any], request: Any) -> int:
    """Tokens up front: the body's bytes but for its uploads that are not text, by four."""
    uploads = _uploads(request)
    binary = sum(upload.size for upload in uploads) - text_bytes(uploads) if uploads else 0
    return max(0, _content_length(scope) - binary) // BYTES_PER_TOKEN


def _tpm_at(principal: Principal) -> int:
    """Where `LimitsMiddleware._limits` puts the tpm limit: after rpm."""
    return 1 if principal.rpm else 0


def _refusal(limit: Limit, principal: Principal, now: float) -> GatewayError:
    wait = max(1.0, limit.resets_at - now)
    if limit.name == "budget":
        return GatewayError("rate_limit", f"budget_exceeded: the key's budget of {usd(limit.cap)} per "
                            f"{principal.budget_period} is spent; it renews in {wait:.0f} s",
                            code="budget_exceeded", retry_after=wait)
    unit = "requests" if limit.name == "rpm" else "tokens"
    return GatewayError("rate_limit", f"rate limit of {limit.cap:.0f} {unit} per minute ({limit.name}) reached; "
                        f"retry in {wait:.0f} s", code="rate_limit_exceeded", retry_after=wait)


@dataclass(slots=True)
class Admission:
    """A request admitted on a tpm estimate (in `state[ADMISSION]`), for `admit_more`: `limits` is
    the list the answer's usage corrects, `limits[tpm]` the tpm limit in it."""

    counters: Counters
    principal: Principal
    limits: list[Limit]
    tpm: int

    async def grow(self, tokens: int) -> GatewayError | None:
        limit = self.limits[self.tpm]
        refused = await self.counters.admit([replace(limit, amount=tokens)])
        if refused is not None:
            return _refusal(refused, self.principal, time.time())
        self.limits[self.tpm] = replace(limit, amount=limit.amount + tokens)
        return None


async def admit_more(scope: dict[str, Any], send: Any, tokens: Callable[[], int]) -> bool:
    """Ask the key's tpm for `tokens()` more (called only if it has one), for a request found larger
    than its body; False once a refusal has been answered in the client's dialect."""
    state = state_of(scope)
    admission: Admission | None = state.get(ADMISSION)
    if admission is None:
        return True
    more = tokens()
    refused = await admission.grow(more) if more > 0 else None
    if refused is None:
        return True
    state[FAILURE] = refused
    await send_error(scope, send, refused)
    return False


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
            now, request = time.time(), state.get(REQUEST)
            limits = self._limits(principal, scope, request, now)
            refused = await self.counters.admit(limits)
            if refused is not None and refused.name == "tpm":
                refused = await self._without_media(limits, _tpm_at(principal), request)
            if refused is not None:
                error = state[FAILURE] = _refusal(refused, principal, now)  # what observers count it by
                await send_error(scope, send, error)
                return
            if principal.tpm:
                state[ADMISSION] = Admission(self.counters, principal, limits, _tpm_at(principal))
        try:
            await self.app(scope, receive, send)
        finally:
            self._settle(state, limits)

    def _limits(self, principal: Principal, scope: dict[str, Any], request: Any, now: float) -> list[Limit]:
        name = principal.name
        label, _, minute_ends = window("minute", now)
        limits = []
        if principal.rpm:
            limits.append(Limit("rpm", f"{name}:rpm:{label}", principal.rpm, 1, minute_ends))
        if principal.tpm:
            limits.append(Limit("tpm", f"{name}:tpm:{label}", principal.tpm, _estimate(scope, request), minute_ends))
        if principal.budget is not None:
            label, _, period_ends = window(principal.budget_period, now)
            limits.append(Limit("budget", f"{name}:budget:{label}", principal.budget, 0, period_ends))
        return limits

    async def _without_media(self, limits: list[Limit], index: int, request: Any) -> Limit | None:
        """Admit again what tpm refused, with the base64 media in its JSON body estimated as media
        rather than text: a 600 KB screenshot is 1,000 tokens, not 150,000. Only once refused,
        since finding them costs more than the rest of the admission; None when admitted."""
        raw = getattr(request, "raw", None)
        media, count = inline_media(raw) if raw else (0, 0)
        lighter = limits[index].amount - media // BYTES_PER_TOKEN + count * MEDIA_TOKENS
        if lighter >= limits[index].amount:
            return limits[index]
        limits[index] = replace(limits[index], amount=max(0, lighter))
        return await self.counters.admit(limits)

    def _settle(self, state: dict[str, Any], limits: list[Limit]) -> None:
        """Price the answer and correct the counters by what it really used."""
        usage: Usage | None = state.get(USAGE)
        target = state.get(TARGET)
        cost = 0.0
        if usage is not None and target is not None:  # priced as its model (an Azure deployment's, not its name)
            cost = self.prices.cost(target.provider.underlying(target.model), usage)
        if cost:
            state[COST] = cost
        for limit in limits:
            if limit.name == "tpm":
                used = usage.total_tokens if usage is not None else 0
                self.counters.add(limit.key, used - limit.amount, limit.resets_at)
            elif limit.name == "budget":
                self.counters.add(limit.key, cost, limit.resets_at)
