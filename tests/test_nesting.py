"""The nesting check on raw JSON bytes, against a plain walk of the parsed value."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import OPENAI_CHAT
from interlingua.middleware.nesting import MAX_DEPTH, nests_deeper
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS
from tests.asgi import Recorder, call, run

# Strings full of what could be mistaken for structure: brackets, quotes, escapes.
TRICKY = st.text(alphabet='[]{}"\\ab\n', max_size=8)
VALUES = st.recursive(st.none() | st.booleans() | TRICKY,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
                      max_leaves=40)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=300, database=None, derandomize=True)
@given(VALUES, st.integers(0, 12))
def test_the_byte_scan_agrees_with_a_walk(value: Any, limit: int) -> None:
    assert nests_deeper(orjson.dumps(value), limit) == (depth(value) > limit)


def test_the_limit_is_inclusive_and_strings_do_not_count() -> None:
    assert not nests_deeper(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert nests_deeper(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert not nests_deeper(orjson.dumps({"a": "[{" * 500, "b": '\\"[' * 300}))


@settings(max_examples=50, database=None, derandomize=True)
@given(VALUES, st.integers(0, 12))
def test_a_large_body_is_scanned_alike(value: Any, limit: int) -> None:
    padded = {"pad": '\\"[\n' * 5000, "value": value}  # past SMALL, so the bracket count is skipped
    assert nests_deeper(orjson.dumps(padded), limit + 1) == (depth(padded) > limit + 1)


def test_a_body_nested_too_deep_is_a_400_naming_the_body() -> None:
    inner = Recorder()
    state = {DIALECT: OPENAI_CHAT, OPERATION: ops.CHAT, PARAMS: {}}
    deep = b'{"model": "m", "messages": ' + b"[" * 120 + b"]" * 120 + b"}"
    out = run(call(NormalisationMiddleware(inner), body=deep, headers=[(b"content-type", b"application/json")],
                   state=state))
    assert out.status == 400 and out.json()["error"]["param"] == "body"
    assert "nests deeper than 100 levels" in out.json()["error"]["message"] and not inner.scopes
