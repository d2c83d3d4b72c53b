"""CORS for browser clients (the MCP Inspector, web agents) from configured origins.

Outside auth, since a browser's preflight carries no credential: an `OPTIONS` with
`Access-Control-Request-Method` from an allowed origin is answered here (204), and every other
answer to that origin is marked readable, with MCP's own headers exposed so that a browser client
can read its session id and protocol version. Origins not configured get no CORS headers at all,
which is the browser's refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

EXPOSED = b"Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, x-request-id"
METHODS = b"GET, POST, DELETE, OPTIONS"
MAX_AGE = b"600"


class CorsMiddleware:
    """`origins`: exact origins (`https://app.example`), or "*" for any."""

    def __init__(self, app: Any, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(o.rstrip("/").encode() for o in origins)

    def allowed(self, origin: bytes) -> bool:
        return b"*" in self.origins or origin in self.origins

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is None or not self.allowed(origin):
            await self.app(scope, receive, send)
            return
        cors = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            asked = headers.get(b"access-control-request-headers")
            await send({"type": "http.response.start", "status": 204, "headers": [
                *cors, (b"access-control-allow-methods", METHODS), (b"access-control-max-age", MAX_AGE),
                *([(b"access-control-allow-headers", asked)] if asked else [])]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def marked(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors,
                                                  (b"access-control-expose-headers", EXPOSED)]}
            await send(message)

        await self.app(scope, receive, marked)
