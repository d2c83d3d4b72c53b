"""OpenTelemetry traces in the GenAI semantic conventions: a span per request, a child per upstream try.

OpenTelemetry is an optional extra (`interlingua[otel]`), imported only when a `Tracer` is made, so a
gateway without `[telemetry] otlp_endpoint` neither needs nor loads it. Each request is a SERVER
span that continues the client's W3C `traceparent`; each upstream target tried is a CLIENT child
span, so a fallback shows as a failed child followed by another, and the child's own
`traceparent` goes upstream. Providers read that header from `OUTGOING`, a context variable,
rather than from their arguments: it is set and reset around one try in the request's own task,
and a gateway without tracing pays one `ContextVar.get` per upstream request.

Prompts and completions are recorded (`gen_ai.input.messages`, `gen_ai.output.messages`) only
with `capture_content`, since they are the users' data, not the operator's. A same-dialect answer
goes to the client as the upstream's bytes, unread; with tracing on it is also decoded, for the
span's finish reasons and completion (`passed`, `Tap`).
"""

from __future__ import annotations

from contextlib import suppress
from contextvars import ContextVar
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects.base import MISSHAPEN, StreamDecoder, UpstreamDialect

# The trace headers of the upstream try in progress, for the provider to send; None without tracing.
OUTGOING: ContextVar[list[tuple[str, str]] | None] = ContextVar("interlingua_outgoing_trace", default=None)

# gen_ai.provider.name for each provider kind; the semantic conventions' own values where they exist.
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "local": "interlingua.local"}
# gen_ai.operation.name for the gateway's operations that the conventions name.
OPERATION_NAMES = {"chat": "chat", "embeddings": "embeddings", "count_tokens": "count_tokens"}
_TRACE_HEADERS = (b"traceparent", b"tracestate")


def operation_name(operation: str) -> str:
    return OPERATION_NAMES.get(operation, operation)


def provider_name(kind: str) -> str:
    return PROVIDER_NAMES.get(kind, kind)


class Tracer:
    """Makes the spans and exports them: over OTLP/HTTP (protobuf) to `endpoint`, or to `exporter`.

    `exporter` (any SpanExporter, such as the SDK's in-memory one) is exported to synchronously,
    span by span; the OTLP exporter runs in the SDK's batching thread, off the request path.
    """

    def __init__(self, endpoint: str | None = None, *, service_name: str = "interlingua",
                 capture_content: bool = False, exporter: Any = None) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError as exc:  # pragma: no cover - the test extras include it
            raise RuntimeError("telemetry.otlp_endpoint needs the otel extra: pip install 'interlingua[otel]'") from exc
        self.trace = trace
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            url = (endpoint or "http://127.0.0.1:4318").rstrip("/")
            if not url.endswith("/v1/traces"):
                url += "/v1/traces"
            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        else:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("interlingua")
        self.propagator = TraceContextTextMapPropagator()
        self.capture_content = capture_content

    def start(self, headers: list[tuple[bytes, bytes]]) -> RequestTrace:
        """The request's span, continuing the trace of the client's `traceparent` when it sent one."""
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in _TRACE_HEADERS}
        context = self.propagator.extract(carrier) if carrier else None
        span = self.tracer.start_span("gateway", context=context, kind=self.trace.SpanKind.SERVER)
        return RequestTrace(self, span)

    def shutdown(self) -> None:
        """Export what is still batched, then stop."""
        self.provider.shutdown()


class RequestTrace:
    """One request's span; `attempt` opens a child per upstream try."""

    __slots__ = ("tracer", "span", "finish_reasons", "output")

    def __init__(self, tracer: Tracer, span: Any) -> None:
        self.tracer = tracer
        self.span = span
        self.finish_reasons: list[str] = []
        self.output: list[str] = []  # completion text seen, kept only with capture_content

    def attempt(self, operation: str, kind: str, provider: str, model: str) -> Attempt:
        name = operation_name(operation)
        parent = self.tracer.trace.set_span_in_context(self.span)
        span = self.tracer.tracer.start_span(f"{name} {model}", context=parent, kind=self.tracer.trace.SpanKind.CLIENT,
                                             attributes={"gen_ai.operation.name": name,
                                                         "gen_ai.provider.name": provider_name(kind),
                                                         "gen_ai.request.model": model,
                                                         "interlingua.provider": provider})
        carrier: dict[str, str] = {}
        self.tracer.propagator.inject(carrier, context=self.tracer.trace.set_span_in_context(span))
        return Attempt(span, OUTGOING.set(list(carrier.items())))

    def answer(self, result: Any) -> None:
        """Note a whole answer's finish reasons (and text, with capture_content)."""
        for choice in getattr(result, "choices", None) or ():
            if choice.finish_reason:
                self.finish_reasons.append(choice.finish_reason)
            if self.tracer.capture_content:
                self.output.extend(p.text for p in choice.message.parts if isinstance(p, ir.Text))

    def passed(self, dialect: UpstreamDialect[Any, Any], answer: Any) -> None:
        """Note a same-dialect answer (parsed JSON), sent on as it came, as its dialect reads it."""
        with suppress(ir.GatewayError, *MISSHAPEN):  # the client has the upstream's answer; the span goes without
            self.answer(dialect.decode_response(answer))

    def tap(self, dialect: UpstreamDialect[Any, Any]) -> Tap:
        """A reader of a same-dialect stream sent on as it came, noting what `events` notes."""
        return Tap(self, dialect.stream_decoder())

    def events(self, batch: list[ir.StreamEvent]) -> None:
        """Note a streamed answer's finish reasons (and text, with capture_content)."""
        for event in batch:
            if isinstance(event, ir.Finish):
                self.finish_reasons.append(event.reason)
            elif isinstance(event, ir.TextDelta) and self.tracer.capture_content:
                self.output.append(event.text)

    def finish(self, attributes: dict[str, Any], request: Any, error: str | None) -> None:
        """End the request's span with the GenAI attributes the observing layer gathered."""
        name = attributes.get("gen_ai.operation.name", "gateway")
        self.span.update_name(f"{name} {attributes.get('gen_ai.request.model', '')}".strip())
        if self.finish_reasons:
            attributes["gen_ai.response.finish_reasons"] = self.finish_reasons
        if self.tracer.capture_content:
            try:
                native = getattr(request, "native", None)
            except ir.GatewayError:  # nested too deep to encode again: passed on, not recorded
                native = None
            if isinstance(native, dict):
                prompt = {k: native[k] for k in ("system", "instructions", "messages", "input", "contents",
                                                 "systemInstruction") if k in native}
                attributes["gen_ai.input.messages"] = orjson.dumps(prompt).decode()
            if self.output:
                attributes["gen_ai.output.messages"] = orjson.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self.output)}]}]).decode()
        self.span.set_attributes(attributes)
        if error is not None:
            self.span.set_attribute("error.type", error)
            self.span.set_status(self.tracer.trace.Status(self.tracer.trace.StatusCode.ERROR))
        self.span.end()


class Tap:
    """Decodes a pass-through stream's reads for the span alone (tracing's cost, not the relay's)."""

    __slots__ = ("trace", "decoder")

    def __init__(self, trace: RequestTrace, decoder: StreamDecoder) -> None:
        self.trace = trace
        self.decoder: StreamDecoder | None = decoder

    def feed(self, chunk: bytes) -> None:
        if self.decoder is None:
            return
        try:
            self.trace.events(self.decoder.feed(chunk))
        except (ir.GatewayError, *MISSHAPEN):  # the upstream's own error, or what it should not send, reaches
            self.decoder = None  # the client as it came


class Attempt:
    """One upstream try's span; its `traceparent` is in `OUTGOING` until `end`."""

    __slots__ = ("span", "token")

    def __init__(self, span: Any, token: Any) -> None:
        self.span = span
        self.token = token

    def end(self, error: ir.GatewayError | None) -> None:
        OUTGOING.reset(self.token)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_attribute("error.type", error.code or error.kind)
            self.span.set_status(Status(StatusCode.ERROR, str(error)))
        self.span.end()
