"""Unit tests of JSON Schema <-> Gemini Schema conversion (adapters/dialects/schema.py); no I/O."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from interlingua.adapters.dialects import schema
from interlingua.adapters.dialects.schema import from_gemini, to_gemini
from tests.support import cpu_seconds

# The keys Gemini's OpenAPI-subset Schema accepts (Gemini API reference, the Schema object); anything else
# is a 400.
GEMINI_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
})
GEMINI_TYPES = frozenset({"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})

# A tool schema in the shape Claude Code sends (see its recorded requests in tests/fixtures/clients/).
CLAUDE_CODE_TOOL: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file_path": {"type": "string", "description": "Absolute path"},
        "offset": {"type": "integer", "exclusiveMinimum": 0},
        "limit": {"type": "number", "exclusiveMaximum": 100},
        "mode": {"const": "read"},
        "when": {"type": "string", "format": "date-time"},
        "site": {"type": "string", "format": "uri", "pattern": "^https://"},
        "labels": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"},
                   "additionalProperties": {"type": "string"}},
        "todos": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"content": {"type": "string", "minLength": 1},
                           "status": {"type": "string", "enum": ["pending", "done"]}},
            "required": ["content", "status"],
        }},
        "timeout": {"anyOf": [{"type": "number"}, {"type": "null"}], "description": "seconds"},
    },
    "required": ["file_path", "mode"],
}


def walk(schema: Any) -> list[dict[str, Any]]:
    """Every schema object nested in a Gemini schema, the root first."""
    if not isinstance(schema, dict):
        return []
    found = [schema]
    for sub in (schema.get("properties") or {}).values():
        found += walk(sub)
    found += walk(schema.get("items"))
    for sub in schema.get("anyOf") or ():
        found += walk(sub)
    return found


def assert_gemini_subset(schema: dict[str, Any]) -> None:
    """Only Schema keys and upper-case types, and `required` naming existing properties, at every level."""
    for node in walk(schema):
        assert set(node) <= GEMINI_KEYS, set(node) - GEMINI_KEYS
        if "type" in node:
            assert node["type"] in GEMINI_TYPES
        if "required" in node:
            assert set(node["required"]) <= set(node.get("properties", {}))
        if "enum" in node:
            assert all(isinstance(v, str) for v in node["enum"])


# to_gemini: dropped keys ---------------------------------------------------------------------------


def test_claude_code_tool_schema_becomes_the_gemini_subset() -> None:
    """A real client's schema converts to keys Gemini accepts, keeping every property."""
    source = copy.deepcopy(CLAUDE_CODE_TOOL)
    out = to_gemini(source)
    assert source == CLAUDE_CODE_TOOL  # the input is not mutated
    assert_gemini_subset(out)
    assert out["type"] == "OBJECT"
    assert set(out["properties"]) == set(CLAUDE_CODE_TOOL["properties"])
    assert out["required"] == ["file_path", "mode"]
    props = out["properties"]
    assert props["file_path"] == {"type": "STRING", "description": "Absolute path"}
    assert props["offset"] == {"type": "INTEGER", "minimum": 0}
    assert props["limit"] == {"type": "NUMBER", "maximum": 100}
    assert props["mode"] == {"type": "STRING", "enum": ["read"]}
    assert props["when"] == {"type": "STRING", "format": "date-time"}
    assert props["site"] == {"type": "STRING", "pattern": "^https://"}
    assert props["labels"] == {"type": "OBJECT"}
    assert props["todos"]["items"]["required"] == ["content", "status"]
    assert props["todos"]["items"]["properties"]["status"] == {"type": "STRING", "enum": ["pending", "done"]}
    assert props["timeout"] == {"type": "NUMBER", "description": "seconds", "nullable": True}


def test_a_schema_sent_again_is_converted_once_and_each_caller_gets_its_own_copy() -> None:
    first = to_gemini(copy.deepcopy(CLAUDE_CODE_TOOL))
    hits = schema._converted.cache_info().hits
    again = to_gemini(copy.deepcopy(CLAUDE_CODE_TOOL))  # the next turn's parse: equal, not the same dict
    assert schema._converted.cache_info().hits == hits + 1
    assert again == first == schema._to_gemini(CLAUDE_CODE_TOOL) and again is not first
    assert again is not None and first is not None
    again["properties"]["file_path"]["description"] = "changed by a caller"
    assert to_gemini(CLAUDE_CODE_TOOL) == first


def test_schemas_the_cache_cannot_key_are_converted_directly() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(300):  # past orjson's 255 levels
        deep = {"type": "array", "items": deep}
    converted = to_gemini(deep)
    assert converted is not None and converted["type"] == "ARRAY"
    large = {"type": "object", "description": "x" * (schema.CACHED_BYTES + 1), "properties": {}}
    misses = schema._converted.cache_info().misses
    assert to_gemini(large) == {"type": "OBJECT", "description": large["description"], "properties": {}}
    assert schema._converted.cache_info().misses == misses


def test_dollar_schema_and_additional_properties_dropped() -> None:
    out = to_gemini({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                     "additionalProperties": False, "properties": {"a": {"type": "string"}}})
    assert out == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}


@pytest.mark.parametrize("key, value", [
    ("propertyNames", {"pattern": "^[a-z]+$"}),
    ("patternProperties", {"^x-": {"type": "string"}}),
    ("if", {"properties": {"a": {"const": 1}}}),
    ("then", {"required": ["b"]}),
    ("else", {"required": ["c"]}),
    ("dependentRequired", {"a": ["b"]}),
    ("unevaluatedProperties", False),
    ("not", {"type": "null"}),
    ("strict", True),
])
def test_keys_without_a_gemini_equivalent_are_dropped(key: str, value: Any) -> None:
    out = to_gemini({"type": "object", "properties": {"a": {"type": "string"}}, key: value})
    assert key not in out
    assert out == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}


def test_non_object_schema_becomes_an_empty_object() -> None:
    assert to_gemini(None) == {"type": "OBJECT", "properties": {}}
    assert to_gemini(True) == {"type": "OBJECT", "properties": {}}


@pytest.mark.parametrize("schema", [
    {"$defs": [1], "definitions": "x", "type": "object"},
    {"type": [{"a": 1}, ["b"], "string"]},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": [{"a": 1}, ["a"], "a"]},
    {"allOf": 5, "type": "object"},
    {"allOf": [{"properties": [1], "required": "a"}, {"properties": {"a": {}}, "required": ["a"]}]},
])
def test_schemas_of_the_wrong_shape_convert_without_failing(schema: dict[str, Any]) -> None:
    assert_gemini_subset(to_gemini(schema))


# to_gemini: references -----------------------------------------------------------------------------


@pytest.mark.parametrize("defs_key", ["$defs", "definitions"])
def test_refs_are_inlined(defs_key: str) -> None:
    schema = {
        "type": "object",
        defs_key: {"Address": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"], "additionalProperties": False}},
        "properties": {"home": {"$ref": f"#/{defs_key}/Address"},
                       "work": {"$ref": f"#/{defs_key}/Address", "description": "office"}},
    }
    out = to_gemini(schema)
    address = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}
    assert out["properties"]["home"] == address
    assert out["properties"]["work"] == {**address, "description": "office"}  # sibling keys win
    assert defs_key not in out
    assert_gemini_subset(out)


def test_ref_to_a_ref_is_followed() -> None:
    schema = {"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"type": "integer"}},
              "type": "object", "properties": {"x": {"$ref": "#/$defs/A"}}}
    assert to_gemini(schema)["properties"]["x"] == {"type": "INTEGER"}


def test_unresolvable_ref_is_dropped() -> None:
    out = to_gemini({"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing", "description": "d"}}})
    assert out["properties"]["x"] == {"description": "d"}


def test_recursive_ref_is_stopped() -> None:
    """A self-referencing tree: the recursion stops with the loosest schema at the re-entry."""
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
        }}},
        "$ref": "#/$defs/Node",
    }
    out = to_gemini(schema)
    assert out["type"] == "OBJECT"
    assert out["properties"]["name"] == {"type": "STRING"}
    assert out["properties"]["children"] == {"type": "ARRAY", "items": {"type": "OBJECT"}}
    assert_gemini_subset(out)


def test_branching_recursion_is_fast() -> None:
    """Two recursive branches per level once took 2**32 steps; now each ref is inlined once per path."""
    schema = {
        "$defs": {"Expr": {"type": "object", "properties": {
            "op": {"type": "string"},
            "left": {"$ref": "#/$defs/Expr"},
            "right": {"$ref": "#/$defs/Expr"},
            "args": {"type": "array", "items": {"$ref": "#/$defs/Expr"}},
        }}},
        "$ref": "#/$defs/Expr",
    }
    out, spent = cpu_seconds(lambda: to_gemini(schema))
    assert spent < 3
    assert out["properties"]["left"] == {"type": "OBJECT"}
    assert out["properties"]["args"]["items"] == {"type": "OBJECT"}


def test_mutual_recursion_is_stopped() -> None:
    schema = {"$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                        "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}},
              "$ref": "#/$defs/A"}
    assert to_gemini(schema) == {"type": "OBJECT", "properties": {
        "b": {"type": "OBJECT", "properties": {"a": {"type": "OBJECT"}}}}}


def test_a_shared_non_recursive_ref_is_inlined_everywhere() -> None:
    """The same definition used on two branches is not mistaken for recursion."""
    schema = {"$defs": {"Id": {"type": "string", "format": "uuid"}},
              "type": "object", "properties": {
                  "pair": {"type": "object", "properties": {"a": {"$ref": "#/$defs/Id"},
                                                            "b": {"$ref": "#/$defs/Id"}}}}}
    pair = to_gemini(schema)["properties"]["pair"]["properties"]
    assert pair["a"] == pair["b"] == {"type": "STRING"}


# to_gemini: values and bounds ----------------------------------------------------------------------


@pytest.mark.parametrize("schema, expected", [
    ({"const": "fixed"}, {"type": "STRING", "enum": ["fixed"]}),
    ({"type": "string", "const": "x"}, {"type": "STRING", "enum": ["x"]}),
    ({"const": 3}, {"type": "STRING", "enum": ["3"]}),
])
def test_const_becomes_a_one_value_string_enum(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_gemini(schema) == expected


def test_enum_values_are_stringified_and_null_makes_nullable() -> None:
    assert to_gemini({"type": "integer", "enum": [1, 2, 3]}) == {"type": "INTEGER", "enum": ["1", "2", "3"]}
    assert to_gemini({"type": "string", "enum": ["a", None]}) == {"type": "STRING", "enum": ["a"], "nullable": True}


@pytest.mark.parametrize("schema, expected", [
    ({"type": "integer", "exclusiveMinimum": 0}, {"type": "INTEGER", "minimum": 0}),
    ({"type": "number", "exclusiveMaximum": 1.5}, {"type": "NUMBER", "maximum": 1.5}),
    ({"type": "number", "minimum": 0, "exclusiveMaximum": 10}, {"type": "NUMBER", "minimum": 0, "maximum": 10}),
    # draft-4 boolean form: no number to take, so the plain bound is kept as it is
    ({"type": "number", "minimum": 2, "exclusiveMinimum": True}, {"type": "NUMBER", "minimum": 2}),
])
def test_exclusive_bounds_become_inclusive(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_gemini(schema) == expected


@pytest.mark.parametrize("fmt, kept", [
    ("date-time", True), ("enum", True), ("int32", True), ("int64", True), ("float", True), ("double", True),
    ("uri", False), ("email", False), ("uuid", False), ("date", False), ("ipv4", False),
])
def test_unsupported_format_dropped_supported_kept(fmt: str, kept: bool) -> None:
    out = to_gemini({"type": "string", "format": fmt})
    assert ("format" in out) is kept
    if kept:
        assert out["format"] == fmt


def test_kept_keywords_pass_through() -> None:
    schema = {"type": "array", "title": "T", "description": "D", "minItems": 1, "maxItems": 3,
              "default": [], "example": ["x"], "items": {"type": "string", "minLength": 1, "maxLength": 5,
                                                         "pattern": "^a"}}
    assert to_gemini(schema) == {**schema, "type": "ARRAY",
                                 "items": {"type": "STRING", "minLength": 1, "maxLength": 5, "pattern": "^a"}}


# to_gemini: unions and combinations ----------------------------------------------------------------


@pytest.mark.parametrize("schema", [
    {"type": ["string", "null"]},
    {"type": ["null", "string"]},
    {"anyOf": [{"type": "string"}, {"type": "null"}]},
    {"oneOf": [{"type": "null"}, {"type": "string"}]},
])
def test_null_unions_become_nullable(schema: dict[str, Any]) -> None:
    assert to_gemini(schema) == {"type": "STRING", "nullable": True}


def test_nullable_union_keeps_outer_description_and_inner_structure() -> None:
    schema = {"description": "maybe", "anyOf": [
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
        {"type": "null"}]}
    assert to_gemini(schema) == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}},
                                 "description": "maybe", "nullable": True}


def test_multi_type_list_becomes_any_of() -> None:
    assert to_gemini({"type": ["string", "integer", "null"]}) == {
        "anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": True}


def test_one_of_becomes_any_of() -> None:
    out = to_gemini({"oneOf": [{"type": "string"}, {"type": "integer", "exclusiveMinimum": 0}]})
    assert out == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER", "minimum": 0}]}
    assert "oneOf" not in out


def test_any_of_with_null_and_several_variants() -> None:
    out = to_gemini({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})
    assert out == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": True}


def test_all_of_objects_are_merged() -> None:
    schema = {"$defs": {"Base": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
              "allOf": [{"$ref": "#/$defs/Base"},
                        {"properties": {"n": {"type": "integer"}}, "required": ["n"], "description": "x"}]}
    out = to_gemini(schema)
    assert out == {"type": "OBJECT", "description": "x",
                   "properties": {"id": {"type": "STRING"}, "n": {"type": "INTEGER"}}, "required": ["id", "n"]}


def test_required_is_filtered_to_existing_properties() -> None:
    out = to_gemini({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]})
    assert out["required"] == ["a"]


def test_nested_properties_and_items_are_converted() -> None:
    schema = {"type": "object", "properties": {"outer": {"type": "object", "additionalProperties": False,
                                                         "properties": {"list": {"type": "array", "items": {
                                                             "type": ["integer", "null"], "const": 1}}}}}}
    out = to_gemini(schema)
    assert out["properties"]["outer"]["properties"]["list"] == {
        "type": "ARRAY", "items": {"type": "INTEGER", "enum": ["1"], "nullable": True}}


def test_type_is_inferred_from_properties_and_items() -> None:
    assert to_gemini({"properties": {"a": {}}})["type"] == "OBJECT"
    assert to_gemini({"items": {"type": "string"}})["type"] == "ARRAY"


def test_types_are_upper_cased() -> None:
    for kind in ("string", "number", "integer", "boolean", "array", "object"):
        assert to_gemini({"type": kind})["type"] == kind.upper()


# from_gemini ------------------------------------------------------------------------------------


def test_from_gemini_lower_cases_nullable_and_drops_ordering() -> None:
    """The form google-genai sends for `response_schema=<pydantic model>` (observed against a recording upstream)."""
    gemini = {"type": "OBJECT", "title": "Answer", "propertyOrdering": ["name", "tags", "score"],
              "properties": {"name": {"type": "STRING", "nullable": True},
                             "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["a", "b"]}},
                             "score": {"anyOf": [{"type": "INTEGER"}, {"type": "NUMBER"}]},
                             "inner": {"type": "OBJECT", "property_ordering": ["x"],
                                       "properties": {"x": {"type": "BOOLEAN"}}}},
              "required": ["name"]}
    assert from_gemini(gemini) == {
        "type": "object", "title": "Answer",
        "properties": {"name": {"type": ["string", "null"]},
                       "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                       "score": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
                       "inner": {"type": "object", "properties": {"x": {"type": "boolean"}}}},
        "required": ["name"]}


def test_from_gemini_leaves_plain_json_schema_alone() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}, "required": ["a"]}
    assert from_gemini(copy.deepcopy(schema)) == schema
    assert from_gemini("x") == "x"


# Property-style checks ----------------------------------------------------------------------------

_LEAVES: list[dict[str, Any]] = [
    {"type": "string"}, {"type": "integer", "exclusiveMinimum": 0}, {"type": "number", "maximum": 3},
    {"type": "boolean"}, {"const": "k"}, {"type": ["string", "null"]}, {"enum": ["a", "b", None]},
    {"type": "string", "format": "email"}, {"type": "string", "format": "date-time"},
    {"$ref": "#/$defs/Leaf"},
]


def random_schema(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A random JSON Schema mixing the constructs real clients send."""
    if depth >= 3 or rng.random() < 0.3:
        return copy.deepcopy(rng.choice(_LEAVES))
    shape = rng.choice(["object", "array", "anyOf", "allOf"])
    if shape == "array":
        return {"type": "array", "items": random_schema(rng, depth + 1), "minItems": rng.randint(0, 2)}
    if shape == "anyOf":
        return {"anyOf": [random_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))] + [{"type": "null"}]}
    if shape == "allOf":
        return {"allOf": [{"type": "object", "properties": {"p": random_schema(rng, depth + 1)}},
                          {"properties": {"q": random_schema(rng, depth + 1)}, "required": ["q"]}]}
    names = [f"f{i}" for i in range(rng.randint(0, 4))]
    return {"type": "object", "additionalProperties": rng.random() < 0.5,
            "properties": {n: random_schema(rng, depth + 1) for n in names},
            "required": names[: rng.randint(0, len(names))] + ["missing"],
            "propertyNames": {"pattern": "^f"}}


@pytest.mark.parametrize("seed", range(40))
def test_random_schemas_convert_to_the_gemini_subset(seed: int) -> None:
    rng = random.Random(seed)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$defs": {"Leaf": {"type": "string", "minLength": 1}}, **random_schema(rng)}
    out = to_gemini(schema)
    assert_gemini_subset(out)
    assert "$defs" not in str(out) and "$ref" not in str(out)
    back = from_gemini(out)
    for node in walk(back):  # back to JSON Schema: lower-case types, `nullable` as a type list
        assert "nullable" not in node
        kind = node.get("type")
        assert kind is None or all(t == t.lower() for t in ([kind] if isinstance(kind, str) else kind))
    again = to_gemini(back)  # and to Gemini once more: a fixed point
    assert_gemini_subset(again)
    assert to_gemini(from_gemini(again)) == again


@pytest.mark.parametrize("seed", range(20))
def test_plain_schemas_round_trip_through_gemini(seed: int) -> None:
    """Schemas already inside the common subset come back from Gemini's form unchanged."""
    rng = random.Random(1000 + seed)

    def plain(depth: int) -> dict[str, Any]:
        if depth >= 3 or rng.random() < 0.35:
            return {"type": rng.choice(["string", "integer", "number", "boolean"]), "description": "d"}
        if rng.random() < 0.4:
            return {"type": "array", "items": plain(depth + 1)}
        names = [f"k{i}" for i in range(rng.randint(1, 3))]
        return {"type": "object", "properties": {n: plain(depth + 1) for n in names}, "required": names[:1]}

    schema = plain(0)
    assert from_gemini(to_gemini(schema)) == schema


def _doubling(levels: int) -> dict[str, Any]:
    """References whose every level names the next twice: 2 ** levels schemas inlined."""
    defs: dict[str, Any] = {f"d{i}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/d{i + 1}"},
                                                                       "b": {"$ref": f"#/$defs/d{i + 1}"}}}
                            for i in range(levels)}
    defs[f"d{levels}"] = {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


def test_references_that_would_inline_past_the_bound_are_not_inlined() -> None:
    """18 levels (2 kB) took 3 s and 260 MB to inline, 30 would never end; past 5,000 schemas the
    caller sends the schema whole instead (`parametersJsonSchema`)."""
    assert to_gemini(_doubling(30)) is None
    small = to_gemini(_doubling(11))  # 4,095 schemas
    assert small is not None and small["properties"]["a"]["properties"]["b"]["type"] == "OBJECT"
    assert to_gemini(_doubling(12)) is None
