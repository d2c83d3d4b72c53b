"""Observability end to end: Prometheus metrics, request ids, JSON log lines and GenAI traces, with the
official SDKs as clients, the gateway under uvicorn and fake upstreams that record what they got."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from interlingua.app.config import parse
from interlingua.app.factory import Gateway, create_app
from interlingua.middleware.access_log import AccessLog
from interlingua.middleware.metrics import Metrics, prepare_multiprocess
from interlingua.middleware.outcome import Outcome
from tests.asgi import run
from tests.fakes.anthropic_upstream import FakeAnthropic, reply
from tests.fakes.anthropic_upstream import call as claude_call
from tests.fakes.anthropic_upstream import text as claude_text
from tests.fakes.openai_upstream import FakeOpenAI, Usage, error, refused_port, text
from tests.harness import anthropic_client, anthropic_provider, client, gateway, provider, serve
from tests.support import fresh_minute, serving, unset_env

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
METRICS_KEY = "metrics-secret-1"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


async def scrape(url: str, key: str = METRICS_KEY) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient() as http:
        reply = await http.get(url + "/metrics", headers={"authorization": f"Bearer {key}"} if key else {})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_and_tokens_with_bounded_labels(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m1")},
                                               telemetry={"metrics_key": METRICS_KEY}) as (_, url):
            up.script(text("Hi", usage=Usage(12, 3, cached_tokens=4, reasoning_tokens=1)),
                      error(404, "The model `typo-1` does not exist", code="model_not_found"))
            sdk = client(url)
            await sdk.chat.completions.create(model="m1", messages=MESSAGES)
            with pytest.raises(openai.NotFoundError):
                await sdk.chat.completions.create(model="up/typo-1", messages=MESSAGES)
            with pytest.raises(openai.NotFoundError):
                await sdk.chat.completions.create(model="no-such-model", messages=MESSAGES)
            async with httpx.AsyncClient() as http:
                refused = await http.get(url + "/metrics")
                wrong = await http.get(url + "/metrics", headers={"authorization": "Bearer nope-nope"})
            assert refused.status_code == wrong.status_code == 401
            assert "metrics key" in refused.json()["error"]["message"]
            samples = await scrape(url)

        ok = {"dialect": "openai", "operation": "chat", "model": "m1", "upstream": "up/m1"}
        assert sample(samples, "interlingua_requests_total", **ok, status_class="2xx") == 1
        # A typo is one label value, however it was spelled: never a series of its own.
        assert sample(samples, "interlingua_requests_total", dialect="openai", operation="chat", model="unknown",
                      upstream="unknown", status_class="4xx") == 1
        assert sample(samples, "interlingua_requests_total", dialect="openai", operation="chat", model="unknown",
                      upstream="", status_class="4xx") == 1
        assert not any("typo" in str(labels) or "no-such" in str(labels) for _, labels in samples)
        for kind, count in (("input", 12), ("cached", 4), ("output", 3), ("reasoning", 1)):
            assert sample(samples, "interlingua_tokens_total", key="", model="m1", kind=kind) == count
        # Buckets fine enough for the gateway's own sub-millisecond overhead.
        assert sample(samples, "interlingua_request_duration_seconds_bucket", **ok, le="0.0001") <= 1
        assert sample(samples, "interlingua_request_duration_seconds_bucket", **ok, le="+Inf") == 1
        assert sample(samples, "interlingua_time_to_first_byte_seconds_count", **ok) == 1
        assert sample(samples, "interlingua_requests_in_flight") == 0
        assert sample(samples, "interlingua_upstream_errors_total", upstream="unknown", cause="not_found") == 1

    run(scenario())


def test_fallback_is_counted_logged_with_the_request_id(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> None:
        down = {"type": "openai", "url": f"http://127.0.0.1:{refused_port()}/v1", "key": "sk-down-secret"}
        async with FakeOpenAI() as up, gateway(
                tmp_path, providers={"down": down, "up": provider(up.url)},
                models={"fast": {"targets": ["down/m0", "up/m1"]}},
                telemetry={"log_format": "json"}) as (_, url):
            up.script(text("Hi", usage=Usage(7, 2)))
            sdk = client(url, "sk-client-secret")
            raw = await sdk.chat.completions.with_raw_response.create(
                model="fast", messages=MESSAGES, extra_headers={"x-request-id": "job-42.step:7"})
            assert raw.headers["x-request-id"] == "job-42.step:7"
            with pytest.raises(openai.NotFoundError) as refused:
                await sdk.chat.completions.create(model="nope", messages=MESSAGES,
                                                  extra_headers={"x-request-id": "not sane/" + "x" * 200})
            generated = refused.value.response.headers["x-request-id"]
            samples = await scrape(url, "")

        assert generated.startswith("req_") and len(generated) == 28
        assert sample(samples, "interlingua_fallbacks_total", upstream="down/m0", cause="unavailable") == 1
        assert sample(samples, "interlingua_upstream_errors_total", upstream="down/m0", cause="unavailable") == 1
        err = capfd.readouterr().err
        lines = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
        first, second = (line for line in lines if line["logger"] == "interlingua.access")
        assert first["request_id"] == "job-42.step:7" and second["request_id"] == generated
        assert {k: first[k] for k in ("key", "dialect", "operation", "model", "upstream", "status", "input_tokens",
                                      "output_tokens", "fallbacks", "level", "msg")} == {
            "key": "", "dialect": "openai", "operation": "chat", "model": "fast", "upstream": "up/m1",
            "status": 200, "input_tokens": 7, "output_tokens": 2, "fallbacks": 1, "level": "info", "msg": "request"}
        assert first["total_ms"] >= first["ttfb_ms"] > 0 and first["time"].endswith("Z")
        assert second["status"] == 404 and second["upstream"] == "" and second["fallbacks"] == 0
        assert "secret" not in err and "hi" not in {str(v) for v in first.values()}

    run(scenario())


def test_rate_limit_refusals_are_counted_by_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        keys = {"team": {"key": "sk-team-key", "rpm": 1}}
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m1")},
                                               keys=keys) as (_, url):
            sdk = client(url, "sk-team-key")
            await fresh_minute()  # rpm counts a calendar minute: the two requests must fall in one
            await sdk.chat.completions.create(model="m1", messages=MESSAGES)
            with pytest.raises(openai.RateLimitError):
                await sdk.chat.completions.create(model="m1", messages=MESSAGES)
            samples = await scrape(url, "")
        assert sample(samples, "interlingua_refusals_total", key="team", reason="rate_limit_exceeded") == 1

    run(scenario())


@asynccontextmanager
async def traced_gateway(data_dir: Path, exporter: InMemorySpanExporter, **tables: Any
                         ) -> AsyncIterator[tuple[Gateway, str]]:
    app = create_app(parse({"server": {"data_dir": str(data_dir)}, **tables}, {}, "test"), span_exporter=exporter)
    try:
        async with serve(app) as url:
            yield app, url
    finally:
        await app.aclose()


def test_spans_follow_the_genai_conventions_and_continue_the_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()

    async def scenario() -> None:
        down = {"type": "openai", "url": f"http://127.0.0.1:{refused_port()}/v1", "key": "sk-down-secret"}
        async with FakeOpenAI() as up, traced_gateway(
                tmp_path, exporter, providers={"down": down, "up": provider(up.url)},
                models={"fast": {"targets": ["down/m0", "up/m1"]}}) as (_, url):
            up.script(text("Hello", usage=Usage(9, 4)))
            reply = await anthropic_client(url).messages.create(
                model="fast", max_tokens=50, messages=MESSAGES,
                extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
            assert reply.content[0].text == "Hello"  # type: ignore[union-attr]
            sent = up.requests[-1].headers["traceparent"]

        root, = (s for s in exporter.get_finished_spans() if s.parent is not None and s.parent.span_id ==
                 int(PARENT_ID, 16))
        tries = sorted((s for s in exporter.get_finished_spans() if s.parent and s.parent.span_id ==
                        root.context.span_id), key=lambda s: s.start_time or 0)
        assert f"{root.context.trace_id:032x}" == TRACE_ID
        assert root.name == "chat fast"
        attrs = dict(root.attributes or {})
        assert {k: attrs[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                                      "gen_ai.response.model", "gen_ai.usage.input_tokens",
                                      "gen_ai.usage.output_tokens", "interlingua.fallbacks")} == {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "fast",
            "gen_ai.response.model": "m1", "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 4,
            "interlingua.fallbacks": 1}
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs
        assert [s.name for s in tries] == ["chat m0", "chat m1"]
        assert dict(tries[0].attributes or {})["error.type"] == "unavailable"
        assert "error.type" not in dict(tries[1].attributes or {})
        # The upstream continues the same trace, under the try that reached it.
        assert sent == f"00-{TRACE_ID}-{tries[1].context.span_id:016x}-01"

    run(scenario())


def test_content_is_recorded_only_when_configured(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()

    async def scenario() -> None:
        async with FakeOpenAI() as up, traced_gateway(
                tmp_path, exporter, providers={"up": provider(up.url, "m1")},
                telemetry={"capture_content": True}) as (_, url):
            up.script(text("Secret", " answer"), text("Whole", " answer"))
            stream = await anthropic_client(url).messages.create(model="m1", max_tokens=50, messages=MESSAGES,
                                                                 stream=True)
            async for _ in stream:
                pass
            whole = await anthropic_client(url).messages.create(model="m1", max_tokens=50, messages=MESSAGES)
            assert whole.content[0].text == "Whole answer"  # type: ignore[union-attr]
        roots = sorted((s for s in exporter.get_finished_spans() if s.parent is None), key=lambda s: s.start_time or 0)
        for root, answer in zip(roots, ("Secret answer", "Whole answer"), strict=True):
            attrs = dict(root.attributes or {})
            assert orjson.loads(attrs["gen_ai.input.messages"]) == {"messages": MESSAGES}  # type: ignore[arg-type]
            output = orjson.loads(attrs["gen_ai.output.messages"])  # type: ignore[arg-type]
            assert output[0]["parts"][0]["content"] == answer
            assert attrs["gen_ai.response.finish_reasons"] == ("stop",)

    run(scenario())


def test_answers_passed_through_as_they_came_are_read_for_the_span(tmp_path: Path) -> None:
    """Same dialect, the upstream's bytes go to the client unread; the span still has what they say."""
    exporter = InMemorySpanExporter()

    async def scenario() -> None:
        async with FakeAnthropic() as up, traced_gateway(
                tmp_path, exporter, providers={"claude": anthropic_provider(up.url, "claude-real")},
                telemetry={"capture_content": True}) as (_, url):
            up.script(claude_text("Whole", " answer"), claude_text("Streamed", " answer"),
                      reply(claude_call("get_weather", '{"city": "Paris"}')))
            sdk = anthropic_client(url)
            whole = await sdk.messages.create(model="claude-real", max_tokens=50, messages=MESSAGES)
            assert whole.content[0].text == "Whole answer"  # type: ignore[union-attr]
            async with sdk.messages.stream(model="claude-real", max_tokens=50, messages=MESSAGES) as stream:
                assert "".join([t async for t in stream.text_stream]) == "Streamed answer"
            called = await sdk.messages.create(model="claude-real", max_tokens=50, messages=MESSAGES)
            assert called.stop_reason == "tool_use"
        roots = sorted((s for s in exporter.get_finished_spans() if s.parent is None), key=lambda s: s.start_time or 0)
        spans = [dict(s.attributes or {}) for s in roots]
        assert [a["gen_ai.response.finish_reasons"] for a in spans] == [("stop",), ("stop",), ("tool_calls",)]
        outputs = [orjson.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"]  # type: ignore[arg-type]
                   for a in spans[:2]]
        assert outputs == ["Whole answer", "Streamed answer"]

    run(scenario())


def test_content_too_deep_to_walk_is_not_recorded_but_the_answer_goes_through(tmp_path: Path) -> None:
    """A same-dialect body goes upstream as it came, unchecked; recording its prompt would walk it."""
    schema = b'{"type": "array", "items": ' * 120 + b'{"type": "string"}' + b"}" * 120
    body = (b'{"model": "m1", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", '
            b'"function": {"name": "f", "parameters": ' + schema + b"}}]}")
    exporter = InMemorySpanExporter()

    async def scenario() -> None:
        async with FakeOpenAI() as up, traced_gateway(
                tmp_path, exporter, providers={"up": provider(up.url, "m1")},
                telemetry={"capture_content": True}) as (_, url):
            up.script(text("Deep", " answer"))
            async with httpx.AsyncClient(base_url=url) as raw:
                answer = await raw.post("/v1/chat/completions", content=body,
                                        headers={"content-type": "application/json", "authorization": "Bearer k"})
            assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "Deep answer"
            assert up.requests[-1].body == body
        (root,) = (s for s in exporter.get_finished_spans() if s.parent is None)
        attrs = dict(root.attributes or {})
        assert "gen_ai.input.messages" not in attrs and attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert orjson.loads(attrs["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Deep answer"  # type: ignore[arg-type]

    run(scenario())


class OtlpReceiver:
    """The collector's OTLP/HTTP trace endpoint: decodes each protobuf export it is sent."""

    def __init__(self) -> None:
        self.exports: list[ExportTraceServiceRequest] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        self.exports.append(export)
        return web.Response(body=b"", content_type="application/x-protobuf")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[OtlpReceiver]:
        app = web.Application()
        app.router.add_post("/v1/traces", self.handle)
        async with serving(app) as port:
            self.url = f"http://127.0.0.1:{port}"
            yield self


def test_spans_reach_a_real_otlp_receiver(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with OtlpReceiver().running() as receiver, FakeOpenAI() as up:
            async with gateway(tmp_path, providers={"up": provider(up.url, "m1")},
                               telemetry={"otlp_endpoint": receiver.url, "service_name": "gw-test"}) as (_, url):
                await client(url).chat.completions.create(model="m1", messages=MESSAGES)
            # aclose() flushed the exporter's batch, from its own thread.
            for _ in range(200):
                if receiver.exports:
                    break
                await asyncio.sleep(0.01)
        spans = [(resource, span) for export in receiver.exports for resource in export.resource_spans
                 for scope in resource.scope_spans for span in scope.spans]
        names = {span.name for _, span in spans}
        assert names == {"chat m1"}  # the request's span and its one try share the name
        resource = spans[0][0].resource
        assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "gw-test"
        root = next(span for _, span in spans if not span.parent_span_id)
        attrs = {a.key: a.value for a in root.attributes}
        assert attrs["gen_ai.request.model"].string_value == "m1"
        assert attrs["gen_ai.provider.name"].string_value == "openai"
        assert attrs["gen_ai.usage.output_tokens"].int_value > 0

    run(scenario())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_until_listening(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(600):
        assert process.returncode is None, "the gateway exited"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listened on port {port}")


def test_two_gateway_processes_share_their_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers (or processes on one machine) each count their own requests; a scrape of any sees all."""

    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"left by a worker that died")
    unset_env(monkeypatch, "PROMETHEUS_MULTIPROC_DIR")  # and unset again after the test
    prepare_multiprocess(shared)  # what the parent does before its workers start
    assert list(shared.iterdir()) == [] and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(shared)

    labels = {"dialect": "openai", "operation": "chat", "model": "m1", "upstream": "up/m1", "status_class": "2xx"}

    async def scenario() -> None:
        async with FakeOpenAI() as up:
            config = tmp_path / "gateway.toml"
            config.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[providers.up]\ntype = "openai"\n'
                              f'url = "{up.url}"\nmodels = ["m1"]\n')
            env = dict(os.environ)
            ports = [_free_port(), _free_port()]
            processes = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "interlingua", "serve", "--config", str(config), "--port", str(port),
                env=env, stderr=asyncio.subprocess.DEVNULL) for port in ports]
            try:
                for port, process in zip(ports, processes, strict=True):
                    await _wait_until_listening(port, process)
                for port, count in zip(ports, (2, 3), strict=True):
                    for _ in range(count):
                        await client(f"http://127.0.0.1:{port}").chat.completions.create(model="m1",
                                                                                         messages=MESSAGES)
                # Each worker moves its tallies into the shared files within a second (metrics.SYNC_SECONDS).
                for _ in range(40):
                    every = [await scrape(f"http://127.0.0.1:{port}", "") for port in ports]
                    if all(sample(s, "interlingua_requests_total", **labels) == 5 for s in every):
                        break
                    await asyncio.sleep(0.1)
            finally:
                for process in processes:
                    process.terminate()
                    await process.wait()
        assert [sample(s, "interlingua_requests_total", **labels) for s in every] == [5, 5]
        assert len(list(shared.glob("counter_*.db"))) == 2  # one file per process

    run(scenario())


def test_the_grafana_dashboard_charts_only_exported_series() -> None:
    dashboard = orjson.loads((Path(__file__).resolve().parent.parent / "deploy/grafana/interlingua.json").read_bytes())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {re.sub(r"_(bucket|total|count|sum)$", "", name)
            for expr in exprs for name in re.findall(r"interlingua_[a-z_]+", expr)}
    exported = {family.name for family in text_string_to_metric_families(Metrics().render().decode())}
    assert len(used) == 11 and used <= exported


def test_a_model_name_becomes_a_label_only_once_it_has_succeeded() -> None:
    """A name the config does not know counts as "unknown" until a request for it succeeds; from
    then on its failures carry it too, and past the limit of such names every new one is "unknown"."""
    metrics = Metrics(models=["m1"], upstreams=["up/m1"])
    metrics.models.limit = len(metrics.models.known) + 1  # room for one name beyond the config's

    def answered(model: str, status: int) -> None:
        metrics.request(Outcome("2026-12-06T04:00:00.000Z", "req_1", "k", "openai", "chat", model, f"up/{model}",
                                status, 3, 0, 2, 0, 0.2, 0.3, 0))

    for model, status in (("new-1", 404), ("new-1", 200), ("new-1", 404), ("m1", 200), ("new-2", 200),
                          ("new-2", 404)):
        answered(model, status)
    samples = {(s.labels["model"], s.labels["upstream"], s.labels["status_class"]): s.value
               for family in text_string_to_metric_families(metrics.render().decode())
               for s in family.samples if s.name == "interlingua_requests_total"}
    assert samples == {("unknown", "unknown", "4xx"): 1,  # new-1 before it succeeded
                       ("new-1", "up/new-1", "2xx"): 1, ("new-1", "up/new-1", "4xx"): 1,
                       ("m1", "up/m1", "2xx"): 1,
                       ("unknown", "up/new-2", "2xx"): 1,  # no room left for new-2; its upstream had some
                       ("unknown", "up/new-2", "4xx"): 1}


def test_log_lines_split_from_one_encoded_batch_survive_hostile_names(tmp_path: Path) -> None:
    """A batch is encoded at once and split where one object ends; a model name (the client's
    own text) that spells the split or the time's end, with quotes, backslashes and newlines,
    stays inside its own line's value."""
    names = ['m},{"time":"x","request_id":"forged"}', '","request_id":"x', 'back\\', 'two\nlines', "ok"]
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    log = AccessLog(fd)
    log.pending = [Outcome(f"2026-12-06T04:00:00.00{i}Z", f"req_{i}", "k", "openai", "chat", name, "up/m",
                           200, 1, 0, 2, 0, None, 0.5, 0) for i, name in enumerate(names)]
    log.flush()
    os.close(fd)
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(names)
    for i, (line, name) in enumerate(zip(lines, names, strict=True)):
        record = orjson.loads(line)
        assert list(record)[:5] == ["time", "level", "logger", "msg", "request_id"]
        assert record["time"] == f"2026-12-06T04:00:00.00{i}Z" and record["model"] == name
        assert record["request_id"] == f"req_{i}" and record["msg"] == "request" and record["ttfb_ms"] is None
