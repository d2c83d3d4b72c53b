"""The usage page: its static files (`app/ui/`) and the JSON it draws from, `GET /ui/api/usage`.

The page has no build step and loads nothing from elsewhere: one HTML file, one script and one
style sheet from the package, read once. The API reads the ledger (the SQLite file, or PostgreSQL
with `[storage] url`) read-only, off the event loop:
`since` and `until` (unix seconds; the last 24 hours by default) and `step` (the chart's bucket in
seconds, 60 to 31 days) give per-bucket sums per key and model (`series`) and the sums over the
whole range (`totals`), the same numbers `interlingua usage` prints, spend (`cost_usd`, priced
when each request was metered) included.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson

from interlingua.adapters.ir import GatewayError
from interlingua.adapters.storage.ledger import series, totals
from interlingua.middleware.respond import JSON, send_error

_FILES = {"/ui": ("index.html", "text/html; charset=utf-8"), "/ui/": ("index.html", "text/html; charset=utf-8"),
          "/ui/ui.js": ("ui.js", "text/javascript; charset=utf-8"), "/ui/ui.css": ("ui.css", "text/css; charset=utf-8")}
API = "/ui/api/usage"
DAY = 86400.0
MIN_STEP, MAX_STEP = 60, 31 * 86400
# The page's own origin only: no inline script, nothing from elsewhere.
_SECURITY = [(b"content-security-policy", b"default-src 'self'; img-src 'self' data:"),
             (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]


class UsagePage:
    """Serves `/ui` and `/ui/api/usage` from the ledger at `ledger_path`, or in PostgreSQL at
    `storage_url` when the gateway keeps its ledger there."""

    def __init__(self, ledger_path: Path, storage_url: str | None = None) -> None:
        self.ledger_path = ledger_path
        self.storage_url = storage_url
        package = resources.files("interlingua.app.ui")
        self.files = {path: (package.joinpath(name).read_bytes(), kind) for path, (name, kind) in _FILES.items()}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(scope, send, GatewayError("invalid_request", f"{scope['method']} is not allowed on {path}",
                                                       status=405, code="method_not_allowed"))
            return
        if path == API:
            try:
                body = await self.usage(parse_qs(scope.get("query_string", b"").decode("latin-1")))
            except GatewayError as error:
                await send_error(scope, send, error)
                return
            await _send(send, body, JSON)
            return
        found = self.files.get(path)
        if found is None:
            await send_error(scope, send, GatewayError("not_found", f"no page at {path}", code="not_found"))
            return
        await _send(send, found[0], (b"content-type", found[1].encode()))

    async def usage(self, query: dict[str, list[str]]) -> bytes:
        now = time.time()
        until = _number(query, "until", now)
        since = _number(query, "since", until - DAY)
        step = int(_number(query, "step", max(MIN_STEP, (until - since) / 48)))
        if not since < until:
            raise GatewayError("invalid_request", "since must be before until", param="since")
        if not MIN_STEP <= step <= MAX_STEP:
            raise GatewayError("invalid_request", f"step must be between {MIN_STEP} and {MAX_STEP} seconds",
                               param="step")
        if self.storage_url is not None:
            from interlingua.adapters.storage import pg_ledger  # the `postgres` extra

            rows = await asyncio.gather(pg_ledger.series(self.storage_url, step, since, until),
                                        pg_ledger.totals(self.storage_url, ("key", "model"), since, until))
        else:
            rows = await asyncio.gather(asyncio.to_thread(series, self.ledger_path, step, since, until),
                                        asyncio.to_thread(totals, self.ledger_path, ("key", "model"), since, until))
        return orjson.dumps({"since": since, "until": until, "step": step, "series": rows[0], "totals": rows[1]})


def _number(query: dict[str, list[str]], name: str, default: float) -> float:
    values = query.get(name)
    if not values:
        return default
    try:
        value = float(values[-1])
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1e11:  # also refuses nan and inf
        raise GatewayError("invalid_request", f"{name} must be a number of seconds", param=name)
    return value


async def _send(send: Any, body: bytes, kind: tuple[bytes, bytes]) -> None:
    headers = [kind, (b"content-length", str(len(body)).encode()), *_SECURITY]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
