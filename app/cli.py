"""The `interlingua` command: serve, check a config, print usage totals."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import ipaddress
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from interlingua.adapters.storage.ledger import GROUPS, format_totals, totals
from interlingua.app.config import LOG_FORMATS, Config, ConfigError, from_env, load
from interlingua.app.factory import LEDGER_FILE
from interlingua.middleware.access_log import use_json_logs


def _config(path: str | None) -> Config:
    return load(path) if path else from_env()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace) -> int:
    config = _config(args.config)
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

    from interlingua.app.factory import create_app

    gateway = create_app(config)
    _say(json_logs, f"providers {', '.join(gateway.catalog.providers)} (config from {config.source}), "
                    f"{'open' if not config.keys else f'{len(config.keys)} keys'}, listening on http://{host}:{port}")
    # The access log is off: it would be the hot path's slowest part, and query strings can hold keys.
    uvicorn.run(gateway, host=host, port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="on")
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
    print(f"{args.path}: ok")
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
        print(f"key {name}: models {', '.join(key.models) or '*'}" + (f", {key.rpm} rpm" if key.rpm else ""))
    return 0


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
    rows = totals(config.server.data_dir / LEDGER_FILE, by, args.since, args.until)
    if args.format == "json":
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        if rows:
            writer.writerow(rows[0])
            writer.writerows(row.values() for row in rows)
    else:
        print(format_totals(rows, by))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="interlingua", description="An AI API gateway.")
    commands = parser.add_subparsers(dest="command")
    p = commands.add_parser("serve", help="start the gateway")
    p.add_argument("--config", help="TOML config file (default: configure from the environment)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument("--open", action="store_true", help="allow a non-loopback address without gateway keys")
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
