"""The Markdown table of a run and its lines against the targets, PASS, FAIL or n/a each."""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterator
from functools import partial

from scripts.bench.measure import CLIENT_CASES, ClientCase, Result, Settings
from scripts.bench.targets import LOAD_CORE, OBSERVED, PROXY_CORE


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:.2f} ms"


def added(value: float, base: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isnan(base):
        return f"({ms(value)})"
    return f"{(value - base) * 1000:+.2f} ms ({ms(value)})"


def _translated(key: str, which: int, result: Result) -> str:
    """A client case's first text (0) or total (1) p50."""
    return ms(result.translated.get(key, (math.nan, math.nan))[which])


def _agent_cell(label: str, base: float, direct: Result, result: Result) -> str:
    value = result.agent.get(label, math.nan)
    return f"— ({ms(value)})" if result is direct else added(value, base)


MAIN = ("direct", "floor", "ceiling", "interlingua")


def table_rows(results: list[Result]) -> Iterator[list[str]]:
    direct = results[0]
    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("(a) p50 added (abs)", lambda r: added(r.p50, direct.p50) if r is not direct else f"— ({ms(r.p50)})"),
        ("(a) p99 added (abs)", lambda r: added(r.p99, direct.p99) if r is not direct else f"— ({ms(r.p99)})"),
        ("(b) req/s", lambda r: "—" if math.isnan(r.rps) else f"{r.rps:,.0f}"),
        ("(c) first chunk p50", lambda r: ms(r.first_chunk)),
        ("(c) first content p50", lambda r: ms(r.first_content)),
        ("(c) total p50", lambda r: ms(r.stream_total)),
    ]
    for case in CLIENT_CASES:
        rows += [(f"{case.key} {case.first_label} p50", partial(_translated, case.key, 0)),
                 (f"{case.key} total p50", partial(_translated, case.key, 1))]
    for label in ("same dialect", "translated"):
        rows.append((f"(g) 200 KB agent turn, {label}: p50 added (abs)",
                     partial(_agent_cell, label, direct.agent.get("same dialect", math.nan), direct)))
    rows.append(("errors", lambda r: str(r.errors) if r.available else "not run"))
    for label, cell in rows:
        yield [label] + [cell(r) for r in results]


def markdown_table(results: list[Result]) -> str:
    main = [r for r in results if r.name in MAIN]
    header = ["", *(r.name for r in main)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(main)]
    extra = [r for r in results if r.name not in MAIN and r.available]
    if extra:
        direct = results[0]
        lines += ["", "| comparison | measured |", "|---|---|"]
        lines += [f"| {r.name}: (a) p50 added | {added(r.p50, direct.p50)} |" for r in extra if not math.isnan(r.p50)]
        lines += [f"| {r.name}: (b) req/s, on both cores | {r.rps:,.0f} |" for r in extra if not math.isnan(r.rps)]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _measured(result: Result | None) -> Result | None:
    return result if result is not None and result.available else None


def target_lines(results: list[Result]) -> list[str]:
    """Interlingua against its targets: (b), (a), (c), then one line per client case."""
    by_name = {r.name: r for r in results}
    direct = by_name["direct"]
    floor, gateway = _measured(by_name.get("floor")), _measured(by_name.get("interlingua"))
    observed = _measured(by_name.get(OBSERVED))
    nan = math.nan

    ratio = gateway.rps / floor.rps if gateway and floor and floor.rps > 0 else nan
    added_p50 = gateway.p50 - direct.p50 if gateway else nan
    first = gateway.first_chunk if gateway else nan
    floor_first = floor.first_chunk if floor else nan
    same_dialect = gateway.first_content if gateway else nan
    # One core's throughput is the inverse of the CPU time per request.
    kept = observed.kept if observed else nan

    def line(text: str, value: str, ok: bool, *inputs: float) -> str:
        known = not any(math.isnan(v) for v in inputs)
        return f"- {text}: {value} → {verdict(ok if known else None)}"

    def translation_line(case: ClientCase) -> str:
        translated = gateway.translated.get(case.key, (nan, nan))[0] if gateway else nan
        translation = translated - same_dialect
        return line(f"{case.key} {case.first_label} within 1 ms of (c)'s first content",
                    f"{ms(translated)} vs {ms(same_dialect)}"
                    + ("" if math.isnan(translation) else f" ({translation * 1000:+.2f} ms)"),
                    translation <= 0.001, translation)

    ceiling = _measured(by_name.get("ceiling"))
    redis = _measured(by_name.get("interlingua+redis"))
    one, two = _measured(by_name.get("1 worker")), _measured(by_name.get("2 workers"))
    of_ceiling = gateway.rps / ceiling.rps if gateway and ceiling and ceiling.rps > 0 else nan
    ceiling_agent = ceiling.agent.get("same dialect", nan) - direct.agent.get("same dialect", nan) if ceiling else nan
    redis_cost = redis.p50 - gateway.p50 if redis and gateway else nan
    scaling = two.rps / one.rps if one and two and one.rps > 0 else nan

    def agent_line(label: str) -> str:
        value = gateway.agent.get(label, nan) - direct.agent.get("same dialect", nan) if gateway else nan
        return line(f"(g) 200 KB turn, {label}: added p50 ≤ 1.3x the ceiling's",
                    f"{value * 1000:+.2f} ms vs {ceiling_agent * 1000:+.2f} ms"
                    + ("" if math.isnan(value / ceiling_agent) else f" ({value / ceiling_agent:.2f}x)"),
                    value <= 1.3 * ceiling_agent, value, ceiling_agent)

    return [
        line("(b) throughput ≥ 0.85x the ceiling's", "—" if math.isnan(of_ceiling) else f"{of_ceiling:.2f}x",
             of_ceiling >= 0.85, of_ceiling),
        line("(a) added p50 ≤ 0.5 ms", "—" if math.isnan(added_p50) else f"{added_p50 * 1000:+.2f} ms",
             added_p50 <= 0.0005, added_p50),
        agent_line("same dialect"),
        agent_line("translated"),
        line("Redis state adds ≤ 0.2 ms to (a) p50", "—" if math.isnan(redis_cost) else f"{redis_cost * 1000:+.2f} ms",
             redis_cost <= 0.0002, redis_cost),
        line("2 workers ≥ 1.7x one worker's (b)", "—" if math.isnan(scaling) else f"{scaling:.2f}x",
             scaling >= 1.7, scaling),
        line("(b) throughput ≥ 2x floor's", "—" if math.isnan(ratio) else f"{ratio:.2f}x", ratio >= 2, ratio),
        line("(c) first chunk ≤ floor's", f"{ms(first)} vs {ms(floor_first)}", first <= floor_first, first,
             floor_first),
    ] + [translation_line(case) for case in CLIENT_CASES] + [
        line("(h) metrics + JSON logs cost ≤ 5% of (b) one-core throughput", "—" if math.isnan(kept) or not observed
             else f"{(kept - 1) * 100:+.1f}% one-core throughput, the median of the rounds' (medians: "
                  f"{observed.cpu * 1e6:.0f} µs on vs {observed.paired_cpu * 1e6:.0f} µs off CPU per request; "
                  f"wall-clock {observed.rps:,.0f} vs {observed.paired_rps:,.0f} req/s)", kept >= 0.95, kept),
    ]


def report(results: list[Result], settings: Settings, pinned: bool, load: float) -> str:
    setup = (f"{settings.requests} sequential requests (after {settings.warmup_requests}), "
             f"{settings.concurrency} connections for {settings.seconds:g} s, "
             f"{settings.streams} streams per dialect (after {settings.warmup_streams}); "
             f"proxy on core {PROXY_CORE}, upstream + load generator on core {LOAD_CORE}"
             if pinned else "unpinned (taskset or 2 cores unavailable)")
    lines = [f"Python {platform.python_version()}, {setup}."]
    if load > 0.5:
        lines.append(f"Warning: load average {load:.2f} before the run: other processes share these cores, "
                     "so tail latencies (p99) especially are noisy.")
    lines += ["", markdown_table(results), "", "Targets for Interlingua:", *target_lines(results)]
    notes = [f"- {r.name}: {n}" for r in results for n in r.notes]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)
