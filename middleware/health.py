"""`GET /healthz` and `GET /readyz`, answered in front of the stack: no key, no limit, no ledger row.

`/healthz` says the process is up and serving. `/readyz` runs the probes it was given (each an
async callable that returns None when its dependency is reachable, else a short reason) and
answers 503 naming every failing one, so a load balancer stops sending traffic to a replica whose
storage or shared state is gone. Neither says anything about keys or the config's secrets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from interlingua.middleware.respond import JSON

Probe = Callable[[], Awaitable[str | None]]
HEALTH = "/healthz"
READY = "/readyz"


class HealthMiddleware:
    """`probes` maps a dependency's name ("storage", "state") to its probe."""

    def __init__(self, app: Any, probes: Mapping[str, Probe] | None = None) -> None:
        self.app = app
        self.probes = dict(probes or {})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path != HEALTH and path != READY or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        status, body = 200, dict[str, Any](status="ok")
        if path == READY:
            failing = {name: reason for name, probe in self.probes.items() if (reason := await probe()) is not None}
            if failing:
                status, body = 503, {"status": "unavailable", "failing": failing}
        await send({"type": "http.response.start", "status": status, "headers": [JSON]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else orjson.dumps(body)})
