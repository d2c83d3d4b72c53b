"""Gemini's context caches (`/v1beta/cachedContents`, google-genai's `client.caches`), the wire
only: its routes, a create's and an update's bodies checked, the CachedContent objects it answers
with, and a `generateContent` body that names one of them, given its content.

The gateway keeps the caches itself (`middleware/caches.py`), so a cache is read by a turn on any
upstream: the turn gets the cache's contents before its own, and its system instruction, tools and
tool config, as if it had sent them. That is the cache's meaning, not its price: no upstream is
asked to cache, so no upstream discounts the tokens. A `cachedContent` that names no cache of the
gateway's (one made at Google) is left as it is, for a Gemini upstream.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route, resource

PREFIX = "/v1beta/cachedContents"
NAME_PREFIX = "cachedContents/"
ID_PREFIX = "cache-"
DEFAULT_TTL = 3600  # seconds, as Google's
MAX_TTL = 30 * 86400
MAX_PAGE = 1000
DEFAULT_PAGE = 100
# What a cache holds for the turns that name it (google-genai may spell them in snake case).
CACHED = ("contents", "systemInstruction", "tools", "toolConfig")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def match(method: str, path: str) -> Route | None:
    return resource(method, path, PREFIX, {"POST": ops.CACHES_CREATE, "GET": ops.CACHES_LIST},
                    {"GET": ops.CACHES_GET, "PATCH": ops.CACHES_UPDATE, "DELETE": ops.CACHES_DELETE})


@dataclass(slots=True, frozen=True)
class StoredCache:
    """A cache as the store keeps it, without its content."""

    id: str
    model: str  # without `models/`
    display_name: str
    tokens: int  # estimated, for `usageMetadata`
    created: int
    updated: int
    expires: int


@dataclass(slots=True, frozen=True)
class CacheAsk:
    """A create: the cache's model, name, life and content (the cached fields, as sent)."""

    model: str
    display_name: str
    seconds: int
    content: dict[str, Any]


def decode_create(body: Any) -> CacheAsk:
    body = f.obj(body, "body")
    model = f.string(body, "model", required=True).removeprefix("models/")
    content = {name: body[f.spelled(body, name)] for name in CACHED if body.get(f.spelled(body, name)) is not None}
    if not content.get("contents") and "systemInstruction" not in content:
        raise ir.invalid("contents", "a cache holds contents, a system instruction, or both")
    if "contents" in content and not isinstance(content["contents"], list):
        raise ir.invalid("contents", "must be an array of contents")
    return CacheAsk(model, f.string(body, "displayName") or "", life_of(body, DEFAULT_TTL), content)


@dataclass(slots=True, frozen=True)
class CacheUpdate:
    """An update (`PATCH`): the cache's new life, in seconds from now."""

    seconds: int


def decode_update(body: Any) -> CacheUpdate:
    return CacheUpdate(life_of(f.obj(body, "body")))


def life_of(body: dict[str, Any], default: int | None = None) -> int:
    """Seconds from now that `ttl` (`"300s"`) or `expireTime` (RFC 3339) give, 1 to 30 days."""
    ttl, expire = body.get("ttl"), body.get("expireTime", body.get("expire_time"))
    if ttl is not None:
        found = _DURATION.match(ttl) if isinstance(ttl, str) else None
        if found is None:
            raise ir.invalid("ttl", "must be a duration in seconds, such as \"3600s\"")
        seconds = int(float(found[1]))
    elif isinstance(expire, str):
        seconds = int(f.seconds_of(expire, "expireTime") - time.time())
    elif default is not None:
        seconds = default
    else:
        raise ir.invalid("ttl", "is required (or `expireTime`)")
    if not 1 <= seconds <= MAX_TTL:
        raise ir.invalid("ttl", f"must be from 1 second to {MAX_TTL // 86400} days from now")
    return seconds


def new_cache_id() -> str:
    return f"{ID_PREFIX}{secrets.token_hex(16)}"


def cache_id(name: str) -> str:
    """The id in a cache's name, `cachedContents/{id}` (or the id alone)."""
    return name.removeprefix(NAME_PREFIX)


def cache_object(cache: StoredCache) -> dict[str, Any]:
    return {"name": f"{NAME_PREFIX}{cache.id}", "displayName": cache.display_name, "model": f"models/{cache.model}",
            "createTime": f.rfc3339(cache.created), "updateTime": f.rfc3339(cache.updated),
            "expireTime": f.rfc3339(cache.expires), "usageMetadata": {"totalTokenCount": cache.tokens}}


def cache_list(caches: list[StoredCache], has_more: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"cachedContents": [cache_object(cache) for cache in caches]}
    if has_more and caches:
        found["nextPageToken"] = caches[-1].id
    return found


def listing(query_string: bytes) -> tuple[str | None, int]:
    """`pageToken` and `pageSize` (1 to 1000, 100 by default)."""
    query = parse_qs(query_string.decode("latin-1"))
    return query.get("pageToken", [None])[-1], f.page_size(query, "pageSize", MAX_PAGE, DEFAULT_PAGE)


def _turn(body: dict[str, Any]) -> dict[str, Any]:
    """The generateContent request of a body: itself, or the one a `countTokens` body wraps."""
    wrapped = body.get(f.spelled(body, "generateContentRequest"))
    return wrapped if isinstance(wrapped, dict) else body


def reference(body: dict[str, Any]) -> str | None:
    """The id of the gateway's cache a `generateContent` (or `countTokens`) body names, if any."""
    turn = _turn(body)
    named = turn.get(f.spelled(turn, "cachedContent"))
    if isinstance(named, str) and cache_id(named).startswith(ID_PREFIX):
        return cache_id(named)
    return None


def with_cache(body: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """`body` as if it had sent the cache's `content` itself: its contents first, and the cache's
    system instruction, tools and tool config, which a turn naming a cache may not set (Google's
    rule: a 400 naming the field). A `countTokens` body's wrapped request gets them there."""
    wrapped = _turn(body)
    if wrapped is not body:
        return {**body, f.spelled(body, "generateContentRequest"): with_cache(wrapped, content)}
    turn = {k: v for k, v in body.items() if k not in ("cachedContent", f.snake("cachedContent"))}
    for name in CACHED[1:]:
        if name in content:
            if turn.get(f.spelled(turn, name)) is not None:
                raise ir.invalid(name, "cannot be set by a request that uses a cachedContent: it is the cache's")
            turn[name] = content[name]
    turn["contents"] = [*(content.get("contents") or ()), *(turn.get("contents") or ())]
    return turn


def not_found(name: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"CachedContent not found (or permission denied): {name}")
