"""Observing: a request id for every request, and after the answer its metrics, log line and span.

It sits outermost, so it sees every answer, the guard's 500s and auth's 401s included, and every
layer (the guard, the dispatcher) finds the request id and the trace in the scope state. The id is
the client's `x-request-id` when that is sane (1 to 128 characters of letters, digits and `._:-`),
else a new one, and every answer echoes it. What the request did is read afterwards from the state
the inner layers left: metering's ledger row (`RECORD`; the status a broken stream or a disconnect
ended with, the tokens), the dispatcher's upstream tries (`ATTEMPTS`) and the rest. Metrics, log
and tracer are each optional; without any the layer only hands out request ids.
"""

from __future__ import annotations

import re
import time
from typing import Any

from interlingua.adapters.ir import GatewayError, Usage
from interlingua.adapters.telemetry import RequestTrace, Tracer, operation_name, provider_name
from interlingua.middleware.access_log import AccessLog
from interlingua.middleware.guard import new_request_id
from interlingua.middleware.metrics import Metrics
from interlingua.middleware.state import (
    ATTEMPTS,
    DIALECT,
    DISCONNECTED,
    FAILURE,
    OPERATION,
    PARAMS,
    PRINCIPAL,
    RECORD,
    REQUEST,
    REQUEST_ID,
    TARGET,
    TRACE,
    USAGE,
    state_of,
)

_HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_LIMITED = "rate_limit"  # the error kind of limit and budget refusals


class ObserveMiddleware:
    def __init__(self, app: Any, metrics: Metrics | None = None, log: AccessLog | None = None,
                 tracer: Tracer | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.log = log
        self.tracer = tracer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = state_of(scope)
        request_id = _client_id(scope["headers"]) or new_request_id()
        state[REQUEST_ID] = request_id
        echo = (_HEADER, request_id.encode())
        trace = None if self.tracer is None else self.tracer.start(scope["headers"])
        if trace is not None:
            state[TRACE] = trace
        status = 0
        first_byte: float | None = None
        started = time.perf_counter()

        async def observed_send(message: dict[str, Any]) -> None:
            nonlocal status, first_byte
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echo]}
            elif first_byte is None and message["type"] == "http.response.body" and message.get("body"):
                first_byte = time.perf_counter()
            await send(message)

        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.dec()
            self._observe(state, request_id, trace, status, started, first_byte)

    def _observe(self, state: dict[str, Any], request_id: str, trace: RequestTrace | None, status: int,
                 started: float, first_byte: float | None) -> None:
        total = time.perf_counter() - started
        ttfb = None if first_byte is None else first_byte - started
        record = state.get(RECORD)
        if record is not None:  # metering's status: a stream that broke or was cut short is not a 200
            status = record.status
        elif state.get(DISCONNECTED):
            status = 499
        status = status or 500
        dialect = state.get(DIALECT)
        operation = state.get(OPERATION)
        principal = state.get(PRINCIPAL)
        target = state.get(TARGET)
        request = state.get(REQUEST)
        usage: Usage = state.get(USAGE) or Usage()
        failure: GatewayError | None = state.get(FAILURE)
        attempts: list[tuple[str, GatewayError | None]] = state.get(ATTEMPTS) or []
        dialect_name = dialect.name if dialect is not None else ""
        operation_name_ = operation.name if operation is not None else ""
        key = principal.name if principal is not None else ""
        model = getattr(request, "model", None) or (state.get(PARAMS) or {}).get("model", "") or ""
        # The target that answered, else the last one tried (whose failure is the answer).
        upstream = target.label if target is not None else attempts[-1][0] if attempts else ""
        counts = (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens)
        fallbacks = max(0, len(attempts) - 1)
        if self.metrics is not None:
            m = self.metrics
            m.request(dialect_name, operation_name_, model, upstream, status, total, ttfb)
            m.usage(key, model, counts)
            for i, (label, error) in enumerate(attempts):
                if error is not None:
                    m.upstream_failure(label, error.kind, fell_back=i < len(attempts) - 1)
            if status == 499:
                m.disconnects.labels(dialect_name, operation_name_).inc()
            if failure is not None and failure.kind == _LIMITED and not attempts:
                m.refusals.labels(key, failure.code or failure.kind).inc()
        if self.log is not None:
            self.log.write({
                "request_id": request_id, "key": key, "dialect": dialect_name, "operation": operation_name_,
                "model": model, "upstream": upstream, "status": status,
                "input_tokens": counts[0], "cached_tokens": counts[1], "output_tokens": counts[2],
                "reasoning_tokens": counts[3],
                "ttfb_ms": None if ttfb is None else round(ttfb * 1000, 3), "total_ms": round(total * 1000, 3),
                "fallbacks": fallbacks,
            })
        if trace is not None:
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": operation_name(operation_name_) if operation_name_ else "gateway",
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": counts[0], "gen_ai.usage.output_tokens": counts[2],
                "http.response.status_code": status, "interlingua.request_id": request_id,
                "interlingua.key": key, "interlingua.dialect": dialect_name, "interlingua.fallbacks": fallbacks,
            }
            if target is not None:
                attributes["gen_ai.provider.name"] = provider_name(target.provider.kind)
                attributes["gen_ai.response.model"] = target.model
            trace.finish(attributes, request, _error_type(status, failure))


def _client_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == _HEADER:
            return value.decode() if _SANE.fullmatch(value) else None
    return None


def _error_type(status: int, failure: GatewayError | None) -> str | None:
    if status < 400:
        return None
    if failure is not None:
        return failure.code or failure.kind
    return str(status)
