"""The client's own body bytes for a same-dialect upstream, the model name changed in place.

Re-encoding a parsed body costs in proportion to its size (77 µs for a coding agent's 200 KB
turn), and often only the model name changes (a kind's `native_body` says what does: Gemini's
changes nothing, its model being in the path; Responses' sets `store`); so when `model` is the
body's first member, as Claude Code, Codex CLI and the Anthropic SDK send it, its value is
replaced in the bytes. The value found there must be the one the gateway read (orjson keeps the
last of duplicate members): a body whose first `model` is not the one that was routed and
authorised is never sent as it came, so an upstream that keeps the first of duplicates cannot be
steered to another model.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_FIRST_MODEL = re.compile(rb'\s*\{\s*"model"\s*:\s*("(?:[^"\\]|\\.)*")', re.DOTALL)
_MISSING = object()


def payload(raw: bytes, native: dict[str, Any], body: dict[str, Any]) -> bytes | None:
    """`body` as `raw`, the bytes `native` was parsed from, where `body` is `native` (its values
    the same objects) with at most `model` changed; None where more changed."""
    if len(body) != len(native) or any(v is not native.get(k, _MISSING) for k, v in body.items() if k != "model"):
        return None
    if "model" not in body:  # Gemini's: the model is in the path
        return raw
    asked, model = native.get("model"), body["model"]
    return with_model(raw, asked, model) if isinstance(asked, str) and isinstance(model, str) else None


def with_model(body: bytes, asked: str, model: str) -> bytes | None:
    """`body` with its first member `model` (whose value is `asked`) set to `model`; None where
    the body does not start so."""
    found = _FIRST_MODEL.match(body)
    if found is None or orjson.loads(found[1]) != asked:
        return None
    if model == asked:
        return body
    start, end = found.span(1)
    return b"".join((body[:start], orjson.dumps(model), body[end:]))
