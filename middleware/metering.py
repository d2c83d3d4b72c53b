"""Usage metering: a ledger record of every metered request (limits are `middleware/limits.py`).

The record (key, model, upstream, tokens, time to first byte, total time, status) is handed to
the ledger's queue and written off the request path. Tokens come from `state[USAGE]`, which the
dispatcher fills from the upstream's answer, streamed or not; a stream the client cut short is
recorded with status 499 and the usage seen so far, and one that started with 200 and ended in an
error (`state[FAILURE]`) with that error's status (502 for an upstream that broke mid-stream).
"""

from __future__ import annotations

import time
from typing import Any

from interlingua.adapters.ir import GatewayError, Usage
from interlingua.adapters.storage.ledger import UsageRecord
from interlingua.middleware.state import (
    COST,
    DIALECT,
    DISCONNECTED,
    FAILURE,
    OPERATION,
    PARAMS,
    PRINCIPAL,
    RECORD,
    REQUEST,
    TARGET,
    USAGE,
    state_of,
)


class MeteringMiddleware:
    """`ledger` is anything with `record(UsageRecord)` that does not block; None meters nothing."""

    def __init__(self, app: Any, ledger: Any | None = None) -> None:
        self.app = app
        self.ledger = ledger

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = state_of(scope)
        started = time.perf_counter()
        status = 0
        first_byte: float | None = None

        async def metered_send(message: dict[str, Any]) -> None:
            nonlocal status, first_byte
            if message["type"] == "http.response.start":
                status = message["status"]
            elif first_byte is None and message["type"] == "http.response.body" and message.get("body"):
                first_byte = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, metered_send)
        finally:
            failure: GatewayError | None = state.get(FAILURE)
            if failure is not None and status < 400:  # a stream that started well and ended in an error
                dialect = state.get(DIALECT)
                status = dialect.status_of(failure) if dialect is not None else failure.status
            self.record(state, started, 499 if state.get(DISCONNECTED) else status or 500, first_byte)

    def record(self, state: dict[str, Any], started: float, status: int, first_byte: float | None) -> None:
        """Hand the row to the ledger, and leave it in `state[RECORD]` for the observing layer."""
        operation = state.get(OPERATION)
        if operation is not None and not operation.metered:
            return
        now = time.perf_counter()
        request = state.get(REQUEST)
        principal = state.get(PRINCIPAL)
        target = state.get(TARGET)
        usage: Usage = state.get(USAGE) or Usage()
        dialect = state.get(DIALECT)
        record = state[RECORD] = UsageRecord(
            ts=time.time() - (now - started),
            key=principal.name if principal else "",
            model=getattr(request, "model", None) or (state.get(PARAMS) or {}).get("model", ""),
            upstream=target.label if target else "",
            dialect=dialect.name if dialect else "",
            operation=operation.name if operation is not None else "",
            status=status,
            input_tokens=usage.input_tokens,
            cached_tokens=usage.cache_read_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            ttfb_ms=(first_byte - started) * 1000 if first_byte else None,
            total_ms=(now - started) * 1000,
            stream=operation is not None and operation.streams and bool(getattr(request, "stream", False)),
            estimated=usage.estimated,
            characters=usage.characters,
            audio_seconds=usage.audio_seconds,
            images=usage.images or 0,
            pages=usage.pages,
            cost_usd=state.get(COST, 0.0),
        )
        if self.ledger is not None:
            self.ledger.record(record)
