"""The command line: ``.venv/bin/python scripts/bench [--quick]`` (or ``-m scripts.bench`` from the
repository root).

The exit status is 0 unless something crashed or a server could not be started: this is a
measurement, and the PASS/FAIL lines against the targets are information, not a test verdict.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

if not __package__:  # run as `python scripts/bench`: import the package by its name, from the root
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import uvloop  # noqa: E402

from scripts.bench import __doc__ as ABOUT  # noqa: E402
from scripts.bench.measure import Settings, log  # noqa: E402
from scripts.bench.report import report  # noqa: E402
from scripts.bench.targets import LOAD_CORE, Processes, can_pin, run_all  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=(ABOUT or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (~15 s)")
    parser.add_argument("--requests", type=int, help="(a) sequential requests (default 2000)")
    parser.add_argument("--seconds", type=float, help="(b) seconds at full load (default 5)")
    parser.add_argument("--streams", type=int, help="(c) to (f) sequential streams each (default 300)")
    parser.add_argument("--concurrency", type=int, default=32, help="(b) connections (32)")
    parser.add_argument("--agent-requests", type=int, help="(g) sequential 200 KB agent turns per case (default 300)")
    parser.add_argument("--rounds", type=int, default=7, help="(h) rounds of observability off and on (7)")
    parser.add_argument("--only", choices=("floor", "ceiling", "interlingua", "observe"),
                        help="measure only this (direct is always measured); observe: only (h), Interlingua's "
                             "throughput with metrics and JSON logs off and on, in alternation")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    requests = args.requests or (300 if args.quick else 2000)
    streams = args.streams or (50 if args.quick else 300)
    seconds = args.seconds or (1.5 if args.quick else 5.0)
    return Settings(requests=requests, warmup_requests=max(20, requests // 10),
                    seconds=seconds, warmup_seconds=min(1.0, seconds / 5 + 0.2),
                    streams=streams, warmup_streams=max(10, streams // 10),
                    concurrency=args.concurrency, rounds=args.rounds,
                    agent_requests=args.agent_requests or (50 if args.quick else 300))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    load = os.getloadavg()[0]
    pinned = can_pin()
    if pinned:
        os.sched_setaffinity(0, {LOAD_CORE})
    else:
        log("warning: cannot pin to cores 0 and 1; numbers will be noisy")
    # Ctrl-C and SIGTERM both unwind through the finally below, which stops our servers
    # (set explicitly: a shell's background job starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="interlingua-bench-") as tmp:
        procs = Processes(Path(tmp), pinned)
        try:
            results = uvloop.run(run_all(procs, settings, args.only))
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        finally:
            procs.stop_all()
    print(report(results, settings, pinned, load))
    return 0 if all(r.available for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
