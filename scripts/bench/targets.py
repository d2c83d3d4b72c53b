"""Starting what is measured: the fake upstream (for direct), the floor and Interlingua, each in its own
process pinned to its core, one proxy at a time; and measuring each."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from scripts.bench import CLAUDE_MODEL, GATEWAY_KEY, HOST, MODEL, UPSTREAM_KEY
from scripts.bench.measure import Result, Settings, log, measure_target, measure_throughput

PROXY_CORE, LOAD_CORE = 0, 1
OBSERVED = "interlingua+observe"  # the same gateway with metrics and JSON request logs on
SPELLS = 3  # (h): measurements of each gateway per round, in alternation
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def can_pin() -> bool:
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    return {PROXY_CORE, LOAD_CORE} <= available and shutil.which("taskset") is not None


class Processes:
    """The servers this run started; only these PIDs are ever signalled."""

    def __init__(self, workdir: Path, pin: bool) -> None:
        self.workdir = workdir
        self.pin = pin
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], core: int | str) -> subprocess.Popen[bytes]:
        command = (["taskset", "-c", str(core)] if self.pin else []) + argv
        with open(self.workdir / f"{name}.log", "wb") as output:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                    cwd=REPO)  # the root, so that `-m scripts.bench...` finds the package
        self.running[name] = proc
        return proc

    def output(self, name: str, limit: int = 2000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-limit:] if path.exists() else ""

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


async def wait_ready(procs: Processes, name: str, port: int, timeout: float = 60) -> None:
    """Poll the port until it accepts connections; fail early if the process exits."""
    proc = procs.running[name]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{procs.output(name)}")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f} s:\n{procs.output(name)}")


def module_command(module: str, *args: int) -> list[str]:
    return [sys.executable, "-m", f"scripts.bench.{module}", *map(str, args)]


def interlingua_command(workdir: Path, upstream_port: int, port: int, workers: int = 1,
                        state_url: str | None = None, observe: bool = False) -> list[str]:
    """``interlingua serve`` with an OpenAI and an Anthropic provider, both the fake upstream, and
    what production has on: a gateway key with rpm, tpm and a budget, and the ledger. `observe`
    turns on the Prometheus metrics and one JSON log line per request (to the process's log file);
    off, both are off."""
    name = f"interlingua-{port}"
    config = workdir / f"{name}.toml"
    state = f'[state]\nurl = "{state_url}"\n\n' if state_url else ""
    config.write_text(
        f'[server]\ndata_dir = "{workdir / name}"\n\n{state}'
        f'[telemetry]\nmetrics = {str(observe).lower()}\nlog_format = "{"json" if observe else "text"}"\n\n'
        f'[providers.fake]\ntype = "openai"\nurl = "http://{HOST}:{upstream_port}/v1"\n'
        f'key = "{UPSTREAM_KEY}"\nmodels = ["{MODEL}"]\n\n'
        f'[providers.claude]\ntype = "anthropic"\nurl = "http://{HOST}:{upstream_port}"\n'
        f'key = "{UPSTREAM_KEY}"\nmodels = ["{CLAUDE_MODEL}"]\n\n'
        f'[keys.bench]\nkey = "{GATEWAY_KEY}"\nrpm = 100000000\ntpm = 2000000000\nbudget = 1000000000\n')
    candidates = [Path(sys.executable).parent / "interlingua", REPO / ".venv/bin/interlingua"]
    binary = next((c for c in candidates if c.exists()), None)
    if binary is None:
        raise RuntimeError("interlingua executable not found next to this Python or in .venv")
    return [str(binary), "serve", "--config", str(config), "--host", HOST, "--port", str(port),
            "--workers", str(workers)]


async def run_proxy(procs: Processes, name: str, argv: list[str], port: int, settings: Settings,
                    translating: bool = False, only: str | None = None, core: int | str = PROXY_CORE) -> Result:
    """Start one proxy on `core`, measure it, stop it (also on failure)."""
    log(f"starting {name} ...")
    try:
        procs.start(name, argv, core)
        await wait_ready(procs, name, port)
        return await measure_target(name, port, settings, translating, only)
    except (RuntimeError, OSError) as exc:
        log(f"{name}: could not be measured: {exc}")
        lines = [line for line in str(exc).splitlines() if line.strip()]
        summary = " … ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else repr(exc)
        return Result(name, available=False, notes=[f"not measured: {summary}"])
    finally:
        procs.stop(name)


async def observability_cost(procs: Processes, upstream_port: int, settings: Settings) -> Result:
    """(h): Interlingua with metrics and JSON request logs off and on, `settings.rounds` times. Each
    round starts a fresh pair of gateways (which starts first alternates), warms both, and measures
    (b) on each `SPELLS` times in alternation; the round's verdict is the ratio of the two CPU times
    per request (read from /proc: on a shared machine far steadier than requests per second, and
    one core's throughput is its inverse), and the result is the median of those ratios (`kept`),
    with the median CPU times and rates beside it. Fresh processes each round because two
    processes of the same code differ by up to ±7% for their whole lives (measured with both off:
    hash seeds, memory layout), which a pair kept for every round would count as the cost."""
    names = {False: "interlingua-off", True: OBSERVED}
    results = {observe: Result(name) for observe, name in names.items()}
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    kept: list[float] = []
    spell = replace(settings, seconds=settings.seconds / SPELLS, warmup_seconds=0.3)
    try:
        for round_ in range(1, settings.rounds + 1):
            ports = {}
            for observe in (False, True) if round_ % 2 else (True, False):
                ports[observe] = free_port()
                argv = interlingua_command(procs.workdir, upstream_port, ports[observe], observe=observe)
                procs.start(names[observe], argv, PROXY_CORE)
                await wait_ready(procs, names[observe], ports[observe])
            log(f"  (h) round {round_}: {SPELLS} x (b) on each ...")
            for observe in (False, True) if round_ % 2 else (True, False):
                await measure_throughput(ports[observe], replace(spell, seconds=settings.warmup_seconds), Result(""))
            spent = {False: 0.0, True: 0.0}
            for spell_ in range(SPELLS):  # which goes first alternates across rounds too: 3 spells are odd
                for observe in (False, True) if (round_ + spell_) % 2 else (True, False):
                    result = results[observe]
                    pid = procs.running[names[observe]].pid
                    await measure_throughput(ports[observe], spell, result, partial(cpu_seconds, pid))
                    rates[observe].append(result.rps)
                    spent[observe] += result.cpu
            for observe in (False, True):
                cpus[observe].append(spent[observe] / SPELLS)
                procs.stop(names[observe])
            kept.append(spent[False] / spent[True])
    except (RuntimeError, OSError) as exc:
        log(f"(h): could not be measured: {exc}")
        return Result(OBSERVED, available=False, notes=[f"not measured: {str(exc).splitlines()[0]}"])
    finally:
        for name in names.values():
            procs.stop(name)
    off, on = results[False], results[True]
    on.rps, on.paired_rps = statistics.median(rates[True]), statistics.median(rates[False])
    on.cpu, on.paired_cpu = statistics.median(cpus[True]), statistics.median(cpus[False])
    on.kept = statistics.median(kept)
    on.errors += off.errors
    on.notes.append("(h) on/off throughput of one core per round (fresh processes each): "
                    + ", ".join(f"{(k - 1) * 100:+.1f}%" for k in kept))
    on.notes.append("(h) CPU µs per request per round, off: " + ", ".join(f"{c * 1e6:.0f}" for c in cpus[False])
                    + "; on: " + ", ".join(f"{c * 1e6:.0f}" for c in cpus[True]))
    return on


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, all its threads (the ledger's writer too), to the nanosecond:
    the scheduler's own count in /proc (Linux). `/proc/<pid>/stat` counts in 10 ms ticks, a
    percent of a one-second spell at each end."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):  # ended meanwhile (the gateway's threads live as long as it)
            continue
    return total / 1e9


async def run_all(procs: Processes, settings: Settings, only: str | None) -> list[Result]:
    """direct, then the floor, the ceiling, Interlingua (with its comparisons) and the cost of
    observability, or the one of them asked for."""
    upstream_port = free_port()
    procs.start("upstream", module_command("upstream", upstream_port), LOAD_CORE)
    await wait_ready(procs, "upstream", upstream_port)
    log("measuring direct ...")
    results = [await measure_target("direct", upstream_port, settings)]
    if only in (None, "floor"):
        port = free_port()
        argv = module_command("floor", port, upstream_port)
        results.append(await run_proxy(procs, "floor", argv, port, settings))
    if only in (None, "ceiling"):
        port = free_port()
        argv = module_command("ceiling", port, upstream_port)
        results.append(await run_proxy(procs, "ceiling", argv, port, settings))
    if only in (None, "interlingua"):
        try:
            port = free_port()
            argv = interlingua_command(procs.workdir, upstream_port, port)
            results.append(await run_proxy(procs, "interlingua", argv, port, settings, translating=True))
            results += await _comparisons(procs, upstream_port, settings)
        except RuntimeError as exc:
            log(f"interlingua: {exc}")
            results.append(Result("interlingua", available=False, notes=[str(exc)]))
    if only in (None, "observe"):
        results.append(await observability_cost(procs, upstream_port, settings))
    procs.stop("upstream")
    return results


async def _comparisons(procs: Processes, upstream_port: int, settings: Settings) -> list[Result]:
    """(a) with the limit counters in Redis, when redis-server is installed; (b) with 1 and with 2
    workers, both on both cores (which the upstream and the load generator share)."""
    results = []
    redis_server = shutil.which("redis-server")
    if redis_server:
        redis_port = free_port()
        procs.start("redis", [redis_server, "--port", str(redis_port), "--bind", HOST, "--save", "",
                              "--appendonly", "no"], LOAD_CORE)
        await wait_ready(procs, "redis", redis_port)
        port = free_port()
        argv = interlingua_command(procs.workdir, upstream_port, port, state_url=f"redis://{HOST}:{redis_port}/0")
        results.append(await run_proxy(procs, "interlingua+redis", argv, port, settings, only="a"))
        procs.stop("redis")
    else:
        log("redis-server not installed: the Redis comparison is skipped")
    for workers in (1, 2):
        port = free_port()
        argv = interlingua_command(procs.workdir, upstream_port, port, workers=workers)
        results.append(await run_proxy(procs, f"{workers} worker{'s' if workers > 1 else ''}", argv, port, settings,
                                       only="b", core=f"{PROXY_CORE},{LOAD_CORE}"))
    return results
