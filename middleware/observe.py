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

from interlingua.adapters.ir import GatewayError
from interlingua.adapters.telemetry import RequestTrace, Tracer, operation_name, provider_name
from interlingua.middleware.access_log import AccessLog
from interlingua.middleware.guard import new_request_id
from interlingua.middleware.metrics import Metrics
from interlingua.middleware.outcome import Outcome
from interlingua.middleware.state import ATTEMPTS, FAILURE, REQUEST, REQUEST_ID, TARGET, TRACE, state_of

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
            self.metrics.active += 1
        try:
            await self.app(scope, receive, observed_send)
        finally:
            if self.metrics is not None:
                self.metrics.active -= 1
            self._observe(state, request_id, trace, status, started, first_byte)

    def _observe(self, state: dict[str, Any], request_id: str, trace: RequestTrace | None, status: int,
                 started: float, first_byte: float | None) -> None:
        if self.metrics is None and self.log is None and trace is None:
            return
        done = Outcome.of(state, request_id, status, started, first_byte)
        if self.metrics is not None:
            self.metrics.request(done)
            if done.status >= 400 or done.fallbacks:  # an upstream failed, or a limit refused
                self._count_failure(self.metrics, done, state)
        if self.log is not None:
            self.log.write(done)
        if trace is not None:
            self._finish(trace, done, state)

    @staticmethod
    def _count_failure(m: Metrics, done: Outcome, state: dict[str, Any]) -> None:
        attempts: list[tuple[str, GatewayError | None]] = state.get(ATTEMPTS) or []
        for i, (label, error) in enumerate(attempts):
            if error is not None:
                m.upstream_failure(label, error.kind, fell_back=i < len(attempts) - 1)
        if done.status == 499:
            m.disconnects.labels(done.dialect, done.operation).inc()
        failure: GatewayError | None = state.get(FAILURE)
        if failure is not None and failure.kind == _LIMITED and not attempts:  # refused before any upstream
            m.refusals.labels(done.key, failure.code or failure.kind).inc()

    @staticmethod
    def _finish(trace: RequestTrace, done: Outcome, state: dict[str, Any]) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation_name(done.operation) if done.operation else "gateway",
            "gen_ai.request.model": done.model,
            "gen_ai.usage.input_tokens": done.input_tokens, "gen_ai.usage.output_tokens": done.output_tokens,
            "http.response.status_code": done.status, "interlingua.request_id": done.request_id,
            "interlingua.key": done.key, "interlingua.dialect": done.dialect,
            "interlingua.fallbacks": done.fallbacks,
        }
        target = state.get(TARGET)
        if target is not None:
            attributes["gen_ai.provider.name"] = provider_name(target.provider.kind)
            attributes["gen_ai.response.model"] = target.model
        trace.finish(attributes, state.get(REQUEST), _error_type(done.status, state.get(FAILURE)))


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
