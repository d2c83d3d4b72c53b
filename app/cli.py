"""The `interlingua` command: serve, check a config, print usage totals."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import ipaddress
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from interlingua.adapters.pricing import usd
from interlingua.adapters.providers import KINDS
from interlingua.adapters.providers.base import missing_key
from interlingua.adapters.providers.seal import load_secret
from interlingua.adapters.state import window
from interlingua.adapters.storage.ledger import GROUPS, format_totals, spend, totals
from interlingua.app.config import LOG_FORMATS, Config, ConfigError, from_env, load
from interlingua.app.factory import LEDGER_FILE
from interlingua.middleware.access_log import use_json_logs
from interlingua.middleware.metrics import prepare_multiprocess


def _config(path: str | None) -> Config:
    return load(path) if path else from_env()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def missing_keys(config: Config) -> list[str]:
    """A line for each provider that cannot work without the key it was not given (search APIs)."""
    return [f"provider {name} ({p.type}) has no key: set {missing}" for name, p in config.providers.items()
            if (missing := missing_key(name, KINDS[p.type], p.key))]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def serve(args: argparse.Namespace) -> int:
    config = _config(args.config)
    for line in missing_keys(config):  # served all the same: its requests answer 400 saying what to set
        print(f"interlingua: warning: {line}", file=sys.stderr)
    if args.log_format:
        telemetry = dataclasses.replace(config.telemetry, log_format=args.log_format)
        config = dataclasses.replace(config, telemetry=telemetry)
    json_logs = config.telemetry.log_format == "json"
    if json_logs:
        use_json_logs()
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    if not config.keys and not is_loopback(host) and not args.open:
        print(f"interlingua: refusing to listen on {host} with no gateway keys configured; add [keys] "
              "to the config, or pass --open to serve without authentication", file=sys.stderr)
        return 2
    import uvicorn

    from interlingua.app.factory import CONFIG_VARIABLE, LOG_FORMAT_VARIABLE, create_app

    workers = args.workers
    providers = ", ".join(dict.fromkeys(("local", *config.providers)))
    _say(json_logs, f"providers {providers} (config from {config.source}), "
                    f"{'open' if not config.keys else f'{len(config.keys)} keys'}, {workers} worker"
                    f"{'s' if workers > 1 else ''}, listening on http://{host}:{port}")
    # The access log is off: it would be the hot path's slowest part, and query strings can hold keys.
    options: dict[str, Any] = {"host": host, "port": port, "loop": "uvloop", "http": "httptools",
                               "access_log": False, "log_level": "warning", "lifespan": "on"}
    if workers == 1:
        # Nothing else counts its limits, and the process is the gateway's own.
        uvicorn.run(create_app(config, single_process=True, owns_process=True), **options)
        return 0
    # Each worker process builds its own gateway from the same file (or environment), on one socket.
    load_secret(config.server.secret, config.server.data_dir)  # made once here, not raced by the workers
    if config.telemetry.metrics:  # the workers' metrics meet in files, which a scrape of any of them sums
        prepare_multiprocess(Path(config.server.data_dir) / "metrics")
    os.environ[LOG_FORMAT_VARIABLE] = config.telemetry.log_format
    if args.config:
        os.environ[CONFIG_VARIABLE] = os.path.abspath(args.config)
    else:
        os.environ.pop(CONFIG_VARIABLE, None)
    uvicorn.run("interlingua:create_app", factory=True, workers=workers, **options)
    return 0


def _say(json_logs: bool, message: str) -> None:
    """A startup message, in the log format chosen."""
    if json_logs:
        import logging

        logging.getLogger("interlingua").info(message)
    else:
        print(f"interlingua: {message}", file=sys.stderr)


def check(args: argparse.Namespace) -> int:
    config = load(args.path)
    missing = missing_keys(config)
    print(f"{args.path}: " + (f"{len(missing)} error(s)" if missing else "ok"))
    for name, provider in config.providers.items():
        keyed = "with key" if provider.key else "no key"
        print(f"provider {name}: {provider.type} {provider.url} ({keyed}), {name}/* routable")
    for name, alias in config.models.items():
        print(f"model {name} -> {', '.join(alias.targets)}")
    for name, provider in config.providers.items():
        for model in provider.models:
            if model not in config.models:
                print(f"model {model} -> {name}/{model}")
    for name, key in config.keys.items():
        print(f"key {name}: models {', '.join(key.models) or '*'}" + (f", {key.rpm} rpm" if key.rpm else "")
              + (f", mcp {', '.join(key.mcp)}" if key.mcp else ""))
    for name, server in config.mcp.items():
        where = server.url or " ".join((server.command, *server.args))
        tools = f", tools {', '.join(server.tools)}" if server.tools is not None else ""
        print(f"mcp {name}: {server.transport} {where}{tools}, /v1/mcp/{name}")
    for line in missing:
        print(f"error: {line}")
    return 1 if missing else 0


_AGO = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def moment(text: str) -> float:
    """A unix time from `2026-12-01`, `2026-12-01T10:30` (UTC unless it says otherwise) or `24h` ago."""
    ago = _AGO.fullmatch(text)
    if ago:
        return time.time() - float(ago.group(1)) * _SECONDS[ago.group(2)]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date, a date and time, or an age such as 24h") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def usage(args: argparse.Namespace) -> int:
    config = _config(args.config)
    by = tuple(dict.fromkeys(args.by or ("key", "model")))
    ledger = config.server.data_dir / LEDGER_FILE
    url = config.storage_url
    if url is not None:
        from interlingua.adapters.storage import pg_ledger
    rows = asyncio.run(pg_ledger.totals(url, by, args.since, args.until)) if url else totals(
        ledger, by, args.since, args.until)
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        return 0
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        if rows:
            writer.writerow(rows[0])
            writer.writerows(row.values() for row in rows)
        return 0
    print(format_totals(rows, by))
    now = time.time()
    for name, key in config.keys.items():
        if key.budget is not None:
            label, starts, _ = window(key.budget_period, now)
            spent = asyncio.run(pg_ledger.spend(url, name, starts)) if url else spend(ledger, name, starts)
            print(f"key {name}: {usd(spent)} spent of {usd(key.budget)} this {key.budget_period} ({label})")
    return 0



def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="interlingua", description="An AI API gateway.")
    commands = parser.add_subparsers(dest="command")
    p = commands.add_parser("serve", help="start the gateway")
    p.add_argument("--config", help="TOML config file (default: configure from the environment)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument("--open", action="store_true", help="allow a non-loopback address without gateway keys")
    p.add_argument("--workers", type=_positive, default=1, help="worker processes on the one port (default 1)")
    p.add_argument("--log-format", choices=LOG_FORMATS,
                   help="text (default), or json: one JSON line per request and for every message")
    p.set_defaults(run=serve)
    p = commands.add_parser("check", help="validate a config and print the models it resolves")
    p.add_argument("path")
    p.set_defaults(run=check)
    p = commands.add_parser("usage", help="print usage totals per key and model from the ledger")
    p.add_argument("--config", help="TOML config file, for its data_dir")
    p.add_argument("--since", type=moment, help="only requests from then: 2026-12-01, 2026-12-01T10:00 or 24h (ago)")
    p.add_argument("--until", type=moment, help="only requests before then (same forms as --since)")
    p.add_argument("--by", action="append", choices=list(GROUPS),
                   help="group by key, model or day; repeat to group by several (default: key and model)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(run=usage)
    args = parser.parse_args(argv)
    if args.command is None:  # bare `interlingua` or `python -m interlingua` serves
        args = parser.parse_args(["serve"])
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"interlingua: config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
