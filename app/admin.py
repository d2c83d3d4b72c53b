"""The admin API: managed gateway keys, made, listed, changed and revoked while the gateway runs.

    POST   /admin/keys          {"name", "models"?, "rpm"?, "tpm"?, "budget"?, "budget_period"?}
                                -> 201, the key's settings and its secret, shown this once only
    GET    /admin/keys          -> {"object": "list", "data": [settings...]} (never a secret)
    PATCH  /admin/keys/{name}   any of the settings; null clears a limit -> 200, the settings
    POST   /admin/keys/{name}/rotate
                                -> 200, the settings and a new secret, shown this once; the old one is
                                   refused from then on, and the key keeps its name, and so its usage,
                                   budget and stored responses and conversations
    DELETE /admin/keys/{name}   -> {"name", "deleted": true}; the key is refused from then on

Guarded by the config's admin key (`[admin]`, sent as `Authorization: Bearer`), compared by digest
in constant time; without one the paths are not there. Errors use OpenAI's error shape; bodies are
checked as strictly as the config. Managed keys live in storage beside the config's keys, and a
name the config already uses is refused, so a name always means one key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from typing import Any

import orjson

from interlingua.adapters.ir import GatewayError, invalid
from interlingua.adapters.storage.keys import KeyExists, Keys, ManagedKey
from interlingua.app.config import ConfigError, KeyRights, key_rights
from interlingua.middleware.auth import credential
from interlingua.middleware.respond import JSON, send_error

PREFIX = "/admin/keys"
MAX_BODY = 64 * 1024
SECRET_PREFIX = "il-"
ROTATE = "/rotate"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _rights(key: ManagedKey) -> KeyRights:
    return KeyRights(key.models, key.rpm, key.tpm, key.budget, key.budget_period)


class AdminMiddleware:
    """`admin` is the SHA-256 digest of the admin key; `reserved`, the names of the config's keys."""

    def __init__(self, app: Any, store: Keys, admin: bytes, reserved: Collection[str] = ()) -> None:
        self.app = app
        self.store = store
        self.admin = admin
        self.reserved = frozenset(reserved)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        presented = credential(scope)
        if presented is None or not hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self.admin):
            await send_error(scope, send, GatewayError("authentication", "this needs the admin key",
                                                       code="invalid_api_key"))
            return
        try:
            status, answer = await self._handle(scope, receive, path[len(PREFIX) + 1:])
        except ConfigError as exc:
            field, _, message = str(exc).partition(": ")
            await send_error(scope, send, invalid(field.removeprefix("body."), message))
            return
        except GatewayError as exc:
            await send_error(scope, send, exc)
            return
        await send({"type": "http.response.start", "status": status, "headers": [JSON]})
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})

    async def _handle(self, scope: dict[str, Any], receive: Any, name: str) -> tuple[int, Any]:
        method = scope["method"]
        if not name and method == "GET":
            return 200, {"object": "list", "data": [k.public() for k in await self.store.keys()]}
        if not name and method == "POST":
            return 201, await self._create(await _body(receive))
        name, rotate = name.removesuffix(ROTATE), name.endswith(ROTATE)
        if rotate and method == "POST":
            secret = _secret()
            if not await self.store.rotate(name, hashlib.sha256(secret.encode()).digest()):
                raise _no_key(name)
            rotated = await self.store.get(name)
            assert rotated is not None
            return 200, {**rotated.public(), "key": secret}
        if name and not rotate and method in ("PATCH", "DELETE"):
            existing = await self.store.get(name)
            if existing is None:
                raise _no_key(name)
            if method == "DELETE":
                await self.store.delete(name)
                return 200, {"name": name, "deleted": True}
            rights = key_rights(await _body(receive), "body", _rights(existing))
            changed = ManagedKey(name, rights.models, rights.rpm, rights.tpm, rights.budget, rights.budget_period,
                                 existing.created)
            await self.store.update(changed)
            return 200, changed.public()
        raise GatewayError("invalid_request", f"{method} is not allowed here", status=405,
                           code="method_not_allowed")

    async def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.pop("name", None)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise invalid("name", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
                          "or digit")
        rights = key_rights(body, "body")
        if name in self.reserved:
            raise GatewayError("invalid_request", f"the config already has a key named {name!r}", status=409,
                               param="name", code="key_exists")
        secret = _secret()
        key = ManagedKey(name, rights.models, rights.rpm, rights.tpm, rights.budget, rights.budget_period)
        try:
            made = await self.store.create(key, hashlib.sha256(secret.encode()).digest())
        except KeyExists:
            raise GatewayError("invalid_request", f"a managed key named {name!r} exists", status=409,
                               param="name", code="key_exists") from None
        return {**made.public(), "key": secret}


def _secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _no_key(name: str) -> GatewayError:
    return GatewayError("not_found", f"no managed key named {name!r}", code="key_not_found")


async def _body(receive: Any) -> dict[str, Any]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise GatewayError("too_large", f"the body passes the limit of {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise invalid("body", "must be a JSON object") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body
