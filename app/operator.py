"""The operator's endpoints in front of the gateway's stack: `GET /metrics` and the usage page, `/ui`.

They are answered here, outside the observing layer, so a scrape or a look at the page is neither
counted as traffic nor written to the ledger. Each has its own optional key, compared as a SHA-256
digest in constant time: `/metrics` takes `Authorization: Bearer <metrics_key>` (what Prometheus's
`authorization` setting sends); the page takes the admin key as a bearer or as HTTP Basic's
password, which is what a browser can send to a page and to the script's requests without the page
ever holding the key. Without an admin key the page is served only by an open gateway (no keys),
which listens on loopback alone; a gateway with keys answers 403 until one is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from interlingua.adapters.ir import GatewayError
from interlingua.app.usage_api import UsagePage
from interlingua.middleware.metrics import CONTENT_TYPE, Metrics
from interlingua.middleware.respond import send_error

METRICS_PATH = "/metrics"
UI_PATH = "/ui"
_CHALLENGE = (b"www-authenticate", b'Basic realm="interlingua usage", charset="UTF-8"')


class OperatorEndpoints:
    def __init__(self, app: Any, metrics: Metrics | None, page: UsagePage | None, *,
                 metrics_key: bytes | None = None, admin_key: bytes | None = None, open_gateway: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.page = page
        self.metrics_key = metrics_key
        self.admin_key = admin_key
        self.open_gateway = open_gateway

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == METRICS_PATH and self.metrics is not None:
                await self._metrics(scope, send)
                return
            if (path == UI_PATH or path.startswith(UI_PATH + "/")) and self.page is not None:
                await self._page(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _metrics(self, scope: dict[str, Any], send: Any) -> None:
        assert self.metrics is not None
        if self.metrics_key is not None and not _matches(_credential(scope), self.metrics_key):
            await send_error(scope, send, GatewayError("authentication", "GET /metrics needs the metrics key "
                                                       "as a bearer token", code="invalid_api_key"))
            return
        body = self.metrics.render()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _page(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self.page is not None
        if self.admin_key is None and not self.open_gateway:
            await send_error(scope, send, GatewayError(
                "permission", "the usage page needs telemetry.admin_key in the config", code="forbidden"))
            return
        if self.admin_key is not None and not _matches(_credential(scope), self.admin_key):
            error = GatewayError("authentication", "the usage page needs the admin key (as the password, or a "
                                 "bearer token)", code="invalid_api_key")
            await send_error(scope, _challenging(send), error)
            return
        await self.page(scope, receive, send)


def _credential(scope: dict[str, Any]) -> str | None:
    """The bearer token, or HTTP Basic's password, of the request."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return rest.strip()
            if scheme.lower() == "basic":
                try:
                    return base64.b64decode(rest.strip(), validate=True).decode().partition(":")[2]
                except (binascii.Error, UnicodeDecodeError):
                    return None
    return None


def _matches(credential: str | None, digest: bytes) -> bool:
    return credential is not None and hmac.compare_digest(hashlib.sha256(credential.encode()).digest(), digest)


def _challenging(send: Any) -> Any:
    """`send`, with the header that makes a browser ask for the password on a 401."""
    async def challenging(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], _CHALLENGE]}
        await send(message)
    return challenging
