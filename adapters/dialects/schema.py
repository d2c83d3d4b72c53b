"""JSON Schema to and from Gemini's Schema, the OpenAPI 3 subset of `parameters` and `responseSchema`.

Real clients send tool schemas with `$schema`, `additionalProperties`, `$ref`/`$defs`, `const`,
`propertyNames`, `exclusiveMinimum` and nullable unions; Gemini's Schema rejects those keys. The
conversion keeps what it can express: references are inlined, `const` becomes a one-value enum, an
exclusive bound becomes the inclusive one, `["string", "null"]` or `anyOf` with `null` becomes
`nullable`, `oneOf` becomes `anyOf`, `allOf` of objects is merged. What has no equivalent
(`additionalProperties`, `propertyNames`, `patternProperties`, conditionals) is dropped, and the
description says nothing of it: the model sees the constraints Gemini can enforce.

Inlining is bounded: references form a graph, and one whose every level names the next twice
inlines into twice as many schemas a level (18 levels, 2 kB of schema: 3 s and 260 MB). A schema
that would inline into more than `MAX_SCHEMAS` goes to Gemini whole, as `parametersJsonSchema`,
where Gemini resolves its references itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

_KEPT = frozenset({"description", "title", "format", "pattern", "minimum", "maximum", "minLength", "maxLength",
                   "minItems", "maxItems", "minProperties", "maxProperties", "default", "example",
                   "propertyOrdering"})
_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}
_MAX_DEPTH = 32
MAX_SCHEMAS = 5000  # the largest tool schemas real clients send inline into a few hundred


class _TooMany(Exception):
    pass


@dataclass(slots=True)
class _Inlining:
    defs: dict[str, Any]
    left: int = MAX_SCHEMAS

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooMany


def to_gemini(schema: Any) -> dict[str, Any] | None:
    """A JSON Schema as Gemini's OpenAPI-subset Schema; None where its references would inline
    into more than `MAX_SCHEMAS` schemas.

    A coding agent sends the same tools every turn: Claude Code's 24 took 250 to 400 µs to convert
    each time. So each schema's conversion is kept by its JSON text (`CACHED`, of at most
    `CACHED_BYTES`), and a fresh copy of it is given every caller, who may change it."""
    if not isinstance(schema, dict):
        return {"type": "OBJECT", "properties": {}}
    try:
        text = orjson.dumps(schema)
    except orjson.JSONEncodeError:  # nested past orjson's 255 levels: converted, and cut, below
        return _to_gemini(schema)
    if len(text) > CACHED_BYTES:
        return _to_gemini(schema)
    converted = _converted(text)
    return orjson.loads(converted) if converted is not None else None


CACHED = 512
CACHED_BYTES = 64 * 1024


@lru_cache(maxsize=CACHED)
def _converted(text: bytes) -> bytes | None:
    converted = _to_gemini(orjson.loads(text))
    return orjson.dumps(converted) if converted is not None else None


def _to_gemini(schema: dict[str, Any]) -> dict[str, Any] | None:
    defs = {**_as_schema(schema.get("definitions")), **_as_schema(schema.get("$defs"))}
    try:
        return _convert(schema, _Inlining(defs), 0)
    except _TooMany:
        return None


def _resolve(schema: dict[str, Any], inlining: _Inlining) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    target = inlining.defs.get(ref.rsplit("/", 1)[-1])
    if not isinstance(target, dict):
        return {k: v for k, v in schema.items() if k != "$ref"}
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def _convert(schema: dict[str, Any], inlining: _Inlining, depth: int,
             seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    inlining.spend()
    if depth > _MAX_DEPTH:
        return {"type": "OBJECT"}
    while isinstance(schema.get("$ref"), str):  # a chain of references, each inlined once per path
        if schema["$ref"] in seen:  # a recursive $ref: stop with the loosest schema
            return {"type": "OBJECT"}
        seen = seen | {schema["$ref"]}
        schema = _resolve(schema, inlining)
    if "allOf" in schema:
        schema = _merge_all_of(schema, inlining)
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _KEPT}
    nullable = False
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        kinds = [k for k in kind if k != "null"]
        if len(kinds) > 1:
            out["anyOf"] = [{"type": k.upper()} for k in kinds if isinstance(k, str) and k in _TYPES]
            kind = None
        else:
            kind = kinds[0] if kinds else None
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        real = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        nullable = nullable or len(real) < len(variants)
        if len(real) == 1 and isinstance(real[0], dict):
            merged = _convert(real[0], inlining, depth + 1, seen)
            return {**merged, **out, "nullable": True} if nullable else {**merged, **out}
        out["anyOf"] = [_convert(v, inlining, depth + 1, seen) for v in real if isinstance(v, dict)]
    if "const" in schema:
        out["enum"] = [str(schema["const"])]
        kind = kind or "string"
    elif isinstance(schema.get("enum"), list):
        out["enum"] = [str(v) for v in schema["enum"] if v is not None]
        nullable = nullable or None in schema["enum"]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(exclusive)  # a number; draft 4 and OpenAPI 3.0 say `true`, on the plain bound
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[bound] = value
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {name: _convert(_as_schema(sub), inlining, depth + 1, seen)
                             for name, sub in schema["properties"].items()}
        kind = kind or "object"
    if isinstance(schema.get("required"), list):
        out["required"] = [r for r in schema["required"] if isinstance(r, str) and r in out.get("properties", {})]
    if isinstance(schema.get("items"), dict):
        out["items"] = _convert(schema["items"], inlining, depth + 1, seen)
        kind = kind or "array"
    if out.get("format") not in (None, "enum", "date-time", "int32", "int64", "float", "double"):
        del out["format"]
    if isinstance(kind, str) and kind in _TYPES and kind != "null":
        out["type"] = kind.upper()
    if nullable:
        out["nullable"] = True
    return out


def _as_schema(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _merge_all_of(schema: dict[str, Any], inlining: _Inlining) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    parts = schema["allOf"] if isinstance(schema["allOf"], list) else []
    for part in parts:
        if not isinstance(part, dict):
            continue
        part = _resolve(part, inlining)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**_as_schema(merged.get("properties")), **_as_schema(value)}
            elif key == "required":
                merged["required"] = [*_as_list(merged.get("required")), *_as_list(value)]
            else:
                merged.setdefault(key, value)
    return merged


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def from_gemini(schema: Any) -> Any:
    """Gemini's Schema (upper-case types, `nullable`) as plain JSON Schema, for other upstreams."""
    if isinstance(schema, list):
        return [from_gemini(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key in ("properties",) and isinstance(value, dict):
            out[key] = {name: from_gemini(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf"):
            out[key] = from_gemini(value)
        elif key in ("nullable", "propertyOrdering", "property_ordering"):
            continue
        else:
            out[key] = value
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
