"""Gateway keys: who is calling, refused with 401 in the client's dialect when unknown.

Keys are held only as SHA-256 digests and the presented key's digest is compared with every one
of the config's in constant time, so neither the config nor the timing tells a key; keys made
through the admin API are found by their digest in the key store. The credential is
read wherever a dialect's clients put it: `Authorization: Bearer` (OpenAI, and Anthropic's
`auth_token`), `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini). An operation
declared `keyless` (a piece of a Gemini resumable upload, whose upload URL is its credential) is
let by with no principal, for the layer that answers it to check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from interlingua.adapters.ir import GatewayError
from interlingua.adapters.storage.keys import Keys
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import OPEN, OPERATION, PRINCIPAL, Principal, state_of


def credential(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name in (b"x-api-key", b"x-goog-api-key") and value:
            return value.decode("latin-1")
    query: bytes = scope.get("query_string", b"")
    if b"key=" in query:
        for name, value in parse_qsl(query.decode("latin-1")):
            if name == "key" and value:
                return value
    return None


class AuthMiddleware:
    """`keys` maps a SHA-256 digest to its principal; `managed`, the keys made through the admin API.
    With neither, every caller is let in."""

    def __init__(self, app: Any, keys: Mapping[bytes, Principal] | None = None,
                 managed: Keys | None = None) -> None:
        self.app = app
        self.keys = tuple((keys or {}).items())
        self.managed = managed

    async def principal(self, presented: str) -> Principal | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for known, principal in self.keys:
            if hmac.compare_digest(digest, known):
                found = principal
        if found is None and self.managed is not None:
            # A dict lookup by digest: its timing tells nothing about any key's secret.
            key = await self.managed.lookup(digest)
            if key is not None:
                found = Principal(key.name, key.models, key.rpm, key.tpm, key.budget, key.budget_period)
        return found

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.keys and self.managed is None:
            state_of(scope)[PRINCIPAL] = OPEN
            await self.app(scope, receive, send)
            return
        operation = state_of(scope).get(OPERATION)
        if operation is not None and operation.keyless:  # the layer that answers it checks its own credential
            await self.app(scope, receive, send)
            return
        presented = credential(scope)
        principal = await self.principal(presented) if presented else None
        if principal is None:
            message = "invalid API key" if presented else "missing API key"
            await send_error(scope, send, GatewayError("authentication", message, code="invalid_api_key"))
            return
        state_of(scope)[PRINCIPAL] = principal
        await self.app(scope, receive, send)
