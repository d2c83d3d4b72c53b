"""The measurements (a) to (f) of one target, with warm-up runs that are not recorded."""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from scripts.bench import CLAUDE_MODEL, MODEL, load
from scripts.bench.load import Run, execute


@dataclass
class Settings:
    requests: int
    warmup_requests: int
    seconds: float
    warmup_seconds: float
    streams: int
    warmup_streams: int
    concurrency: int
    agent_requests: int = 300
    rounds: int = 7  # (h): fresh pairs of gateways, observability off and on


@dataclass
class Result:
    """What was measured for one target (times in seconds)."""

    name: str
    p50: float = math.nan
    p99: float = math.nan
    rps: float = math.nan
    paired_rps: float = math.nan  # (h): the same gateway's throughput with observability off, same rounds
    cpu: float = math.nan  # (h): the proxy's CPU seconds per request during (b)
    paired_cpu: float = math.nan  # (h): the same with observability off
    kept: float = math.nan  # (h): the median over rounds of off's CPU per request over on's
    first_chunk: float = math.nan
    first_content: float = math.nan
    stream_total: float = math.nan
    translated: dict[str, tuple[float, float]] = field(default_factory=dict)  # case key -> (first text, total) p50
    agent: dict[str, float] = field(default_factory=dict)  # (g) "same dialect" / "translated" -> p50
    errors: int = 0
    notes: list[str] = field(default_factory=list)
    available: bool = True


@dataclass(frozen=True)
class ClientCase:
    """(d), (e), (f): (c)'s upstream stream asked for by a client of another dialect."""

    key: str  # "(d)"
    client: str  # "Anthropic"
    first_label: str  # what the first text token is, for the table and the target
    build: Callable[[int], bytes]  # port -> request bytes
    first_token: re.Pattern[bytes]


CLIENT_CASES = (
    ClientCase("(d)", "Anthropic", "first content_block_delta", load.messages_request, load.ANTHROPIC_TOKEN),
    ClientCase("(e)", "Gemini", "first text", load.gemini_request, load.GEMINI_TOKEN),
    ClientCase("(f)", "Responses", "first output_text.delta", load.responses_request, load.RESPONSES_TOKEN),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for an empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _account(result: Result, run: Run, label: str) -> None:
    result.errors += run.errors
    if run.errors:
        result.notes.append(f"{label}: {run.errors} errors, first: {run.first_error}")


async def measure_latency(port: int, settings: Settings, result: Result) -> None:
    """(a) one request at a time on one keep-alive connection."""
    request = load.chat_request(port, stream=False)
    await execute(port, Run(request, total=settings.warmup_requests, record=False))
    run = Run(request, total=settings.requests)
    await execute(port, run)
    _account(result, run, "(a)")
    result.p50, result.p99 = percentile(run.latencies, 50), percentile(run.latencies, 99)


async def measure_throughput(port: int, settings: Settings, result: Result,
                             cpu: Callable[[], float] | None = None) -> None:
    """(b) closed-loop throughput with ``concurrency`` keep-alive connections; with `cpu` (the
    proxy's CPU seconds so far), also its CPU time per request, which other processes on the
    machine do not change as they change the throughput."""
    request = load.chat_request(port, stream=False)
    warmup = Run(request, deadline=time.perf_counter() + settings.warmup_seconds, record=False)
    await execute(port, warmup, settings.concurrency)
    run = Run(request, deadline=time.perf_counter() + settings.seconds, record=False)
    spent = cpu() if cpu else math.nan
    elapsed = await execute(port, run, settings.concurrency)
    if cpu and run.ok:
        result.cpu = (cpu() - spent) / run.ok
    _account(result, run, "(b)")
    result.rps = run.ok / elapsed


async def _stream_run(port: int, request: bytes, first_token: re.Pattern[bytes], settings: Settings) -> Run:
    """Warm up, then stream ``settings.streams`` times one at a time on one connection."""
    await execute(port, Run(request, total=settings.warmup_streams, record=False, first_token=first_token))
    run = Run(request, total=settings.streams, first_token=first_token)
    await execute(port, run)
    return run


async def measure_streams(port: int, settings: Settings, result: Result) -> None:
    """(c) 50-chunk streams one at a time: first ``data:`` event, first text token, end."""
    run = await _stream_run(port, load.chat_request(port, stream=True), load.OPENAI_TOKEN, settings)
    _account(result, run, "(c)")
    result.first_chunk = percentile(run.first_bytes, 50)
    result.first_content = percentile(run.first_tokens, 50)
    result.stream_total = percentile(run.latencies, 50)


async def measure_client_streams(case: ClientCase, port: int, settings: Settings, result: Result) -> None:
    """(d) to (f): the same upstream streams for a client of ``case``'s dialect."""
    run = await _stream_run(port, case.build(port), case.first_token, settings)
    _account(result, run, case.key)
    result.translated[case.key] = (percentile(run.first_tokens, 50), percentile(run.latencies, 50))


async def measure_agent(cases: dict[str, str], port: int, settings: Settings, result: Result) -> None:
    """(g) the 200 KB agent turn one at a time, per case (label -> the model that routes it)."""
    for label, model in cases.items():
        request = load.agent_request(port, model)
        await execute(port, Run(request, total=max(10, settings.agent_requests // 10), record=False))
        run = Run(request, total=settings.agent_requests)
        await execute(port, run)
        _account(result, run, f"(g) {label}")
        result.agent[label] = percentile(run.latencies, 50)


SAME_DIALECT = {"same dialect": CLAUDE_MODEL}
BOTH = {"same dialect": CLAUDE_MODEL, "translated": MODEL}


async def measure_target(name: str, port: int, settings: Settings, translating: bool = False,
                         only: str | None = None) -> Result:
    """(a) to (c) and (g), and (d) to (f) if the target translates dialects; `only` "a" or "b"
    measures just that (for the Redis and worker comparisons)."""
    result = Result(name)
    steps: list[tuple[Callable[[int, Settings, Result], Any], str]] = [
        (measure_latency, "(a) sequential"),
        (measure_throughput, f"(b) {settings.concurrency} connections"),
        (measure_streams, "(c) streams")]
    if translating:
        steps += [(partial(measure_client_streams, case), f"{case.key} {case.client}-client streams")
                  for case in CLIENT_CASES]
    if name != "floor":
        steps.append((partial(measure_agent, BOTH if translating else SAME_DIALECT), "(g) 200 KB agent turn"))
    if only is not None:
        steps = steps[:1] if only == "a" else steps[1:2]
    for step, label in steps:
        log(f"  {name}: {label} ...")
        await step(port, settings, result)
    return result
