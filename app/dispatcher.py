"""The innermost layer: calls the routed targets in order and hands the answer outward.

Fallback happens only before the first byte has gone to the client: a target that refuses, times
out, answers 429 or 5xx, or breaks before its first chunk, passes the request to the next. A
same-dialect answer goes out as the upstream's bytes (`http.*` messages, usage read on the way);
any other as IR (`interlingua.*` messages) for the re-encoding layer. Audio and images are the
upstream's bytes, in its media type, streamed or whole as they came, with the same fallback, except
where the provider answers them in IR (a Gemini image model, the utility forms). A client that
disconnects cancels the upstream call at once, whether it is waiting for headers or streaming.
"""

from __future__ import annotations

from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.catalog import Catalog
from interlingua.adapters.dialects.base import ClientDialect, ModelList
from interlingua.adapters.providers import Target
from interlingua.adapters.replies import Body, Chunks, Events, Reply, Result
from interlingua.adapters.telemetry import RequestTrace
from interlingua.middleware.disconnect import Watch, watched
from interlingua.middleware.respond import JSON, send_error, stream_headers
from interlingua.middleware.state import (
    ATTEMPTS,
    DIALECT,
    DISCONNECTED,
    END,
    ERROR,
    EVENTS,
    FAILURE,
    OPERATION,
    PARAMS,
    PRINCIPAL,
    REQUEST,
    RESULT,
    TARGET,
    TARGETS,
    TRACE,
    USAGE,
    state_of,
)


class Dispatcher:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        state = state_of(scope)
        operation: ops.Operation | None = state.get(OPERATION)
        if operation is not None and operation.call is not None:
            await self.relay(state, receive, send, operation.call)
        elif operation is ops.MODELS_LIST:
            principal = state.get(PRINCIPAL)
            cards = [c for c in self.catalog.cards()
                     if principal is None or principal.allows(c.id, self.catalog.labels(c.id))]
            await send({"type": RESULT, "result": ModelList(cards, dict(state.get(PARAMS) or {}))})
        elif operation is ops.MODELS_GET:
            card = self.catalog.card(state[PARAMS]["model"])
            await send({"type": RESULT, "result": card})
        else:
            await send_error(scope, send, ir.GatewayError(
                "not_found", f"no route for {scope['method']} {scope['path']}", code="not_found"))

    async def relay(self, state: dict[str, Any], receive: Any, send: Any, call: ops.Call) -> None:
        """Any upstream operation: `call` asks one target; the next is tried on a retryable failure."""
        await watched(state, receive, lambda watch: self._relay(state, send, watch, call))

    async def _relay(self, state: dict[str, Any], send: Any, watch: Watch, call: ops.Call) -> None:
        targets: list[Target] = state[TARGETS]
        trace: RequestTrace | None = state.get(TRACE)
        attempts: list[tuple[str, ir.GatewayError | None]] = []
        state[ATTEMPTS] = attempts
        error: ir.GatewayError | None = None
        balancer = self.catalog.balancer
        for target in targets:
            span = None if trace is None else trace.attempt(
                state[OPERATION].name, target.provider.kind, target.provider.name, target.model)
            error = None
            balancer.begin(target)
            try:
                error = await self._try(state, send, watch, call, target)
            finally:
                balancer.end(target, error)
                if span is not None:
                    span.end(error)
            attempts.append((target.label, error))
            if error is None:
                return
            if not error.retryable:
                break
        watch.armed = False
        await _fail(state, send, error or ir.GatewayError("unavailable", "no upstream answered"))

    async def _try(self, state: dict[str, Any], send: Any, watch: Watch, call: ops.Call,
                   target: Target) -> ir.GatewayError | None:
        """Ask one target and deliver its answer; the failure that lets the next one try, if any."""
        try:
            reply = await call(target.provider, state[REQUEST], target.model)
        except ir.GatewayError as exc:
            return exc
        state[TARGET] = target
        try:
            return await self._deliver(state, reply, send, watch)
        finally:
            if isinstance(reply, (Chunks, Events)):
                await reply.close()

    async def _deliver(self, state: dict[str, Any], reply: Reply, send: Any, watch: Watch) -> ir.GatewayError | None:
        """Send the reply on; a failure before anything was sent is returned so the next target may try."""
        match reply:
            case Body():
                codec: ClientDialect[Any] = state[DIALECT]
                usage = reply.usage
                trace: RequestTrace | None = state.get(TRACE) if state[OPERATION] is ops.CHAT else None
                if (usage is None or trace is not None) and reply.media_type is None:  # the dialect's own JSON
                    try:
                        answer = orjson.loads(reply.body)
                    except orjson.JSONDecodeError:  # cut short or garbled: never a 200
                        return ir.GatewayError("upstream", f"upstream {state[TARGET].provider.name} "
                                               "answered invalid JSON", retryable=True)
                    if usage is None:
                        usage = codec.usage_of(answer)
                    if trace is not None:
                        trace.passed(state[TARGET].provider.codec, answer)
                state[USAGE] = usage
                watch.armed = False
                kind = (b"content-type", reply.media_type.encode()) if reply.media_type else JSON
                headers = [kind, (b"content-length", str(len(reply.body)).encode()), _upstream(state)]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": reply.body})
                return None
            case Result():
                state[USAGE] = getattr(reply.result, "usage", None)
                if (trace := state.get(TRACE)) is not None:
                    trace.answer(reply.result)
                watch.armed = False
                await send({"type": RESULT, "result": reply.result})
                return None
            case Chunks():
                return await self._pass_stream(state, reply, send, watch)
            case Events():
                return await self._ir_stream(state, reply, send, watch)

    async def _pass_stream(self, state: dict[str, Any], reply: Chunks, send: Any,
                           watch: Watch) -> ir.GatewayError | None:
        passthrough = state[DIALECT].passthrough(state[REQUEST])
        headers = [*stream_headers(reply.media_type or passthrough.media_type), _upstream(state)]
        started = False
        trace: RequestTrace | None = state.get(TRACE) if state[OPERATION] is ops.CHAT else None
        tap = trace.tap(state[TARGET].provider.codec) if trace is not None else None

        async def forward(out: bytes) -> None:
            nonlocal started
            if not out:
                return
            if not started:
                started = True
                await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": out, "more_body": True})

        try:
            async for chunk in reply.chunks:
                if tap is not None:
                    tap.feed(chunk)
                await forward(passthrough.feed(chunk))
            await forward(passthrough.close())
            passthrough.check()  # a stream without its terminator must not end like a whole answer
        except ir.GatewayError as error:
            state[USAGE] = passthrough.usage or _estimate(passthrough.events)
            if not started:
                return error
            watch.armed = False
            own = passthrough.error(error)
            if own is None:
                await _fail(state, send, error)
            else:
                state[FAILURE] = error
                await send({"type": "http.response.body", "body": own})
            return None
        finally:
            if state.get(DISCONNECTED):
                state[USAGE] = passthrough.usage or _estimate(passthrough.events)
        state[USAGE] = passthrough.usage
        if passthrough.failure is not None:  # the upstream's own error, forwarded as it came
            state[FAILURE] = passthrough.failure
        watch.armed = False
        if not started:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return None

    async def _ir_stream(self, state: dict[str, Any], reply: Events, send: Any,
                         watch: Watch) -> ir.GatewayError | None:
        sent = 0
        trace: RequestTrace | None = state.get(TRACE)
        try:
            async for batch in reply.events:
                for event in batch:
                    if isinstance(event, ir.UsageReport):
                        state[USAGE] = event.usage
                if trace is not None:
                    trace.events(batch)
                sent += len(batch)
                await send({"type": EVENTS, "events": batch})
        except ir.GatewayError as error:
            if state.get(USAGE) is None:
                state[USAGE] = _estimate(sent)
            if not sent:
                return error
            watch.armed = False
            await _fail(state, send, error)
            return None
        finally:
            if state.get(DISCONNECTED) and state.get(USAGE) is None:
                state[USAGE] = _estimate(sent)
        watch.armed = False
        await send({"type": END})
        return None


async def _fail(state: dict[str, Any], send: Any, error: ir.GatewayError) -> None:
    """End the answer with `error` (whole before the first byte, in-stream after it), noted for
    metering, which would otherwise see only the 200 a broken stream started with."""
    state[FAILURE] = error
    await send({"type": ERROR, "error": error})


def _upstream(state: dict[str, Any]) -> tuple[bytes, bytes]:
    return (b"x-interlingua-upstream", state[TARGET].label.encode())


def _estimate(events: int) -> ir.Usage:
    """A stream cut short has no usage report: about one output token per event is the best guess."""
    return ir.Usage(output_tokens=events, estimated=True)
