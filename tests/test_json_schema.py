"""Checking a model's answer against a client's JSON Schema: patterns match with RE2, in linear
time, so a pattern that makes a backtracking engine take exponential time cannot hold the worker;
what RE2 cannot match is refused up front; everything else validates as jsonschema does."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlingua.adapters import json_schema
from tests.support import cpu_seconds

NESTED = "^(a+)+$"  # Python's re takes twice as long for each a before the "!": 22 of them 0.17 s, 40 about 12 h
ANSWER = "a" * 40 + "!"


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    found, spent = cpu_seconds(lambda: sorted(error.message for error in
                                              json_schema.validator(schema).iter_errors(instance)))
    assert spent < 3
    return found  # type: ignore[no-any-return]


def test_nested_quantifiers_match_in_linear_time() -> None:
    assert problems({"type": "string", "pattern": NESTED}, ANSWER) == [f"{ANSWER!r} does not match {NESTED!r}"]
    assert problems({"type": "string", "pattern": NESTED}, "a" * 100_000) == []
    by_name = {"type": "object", "patternProperties": {NESTED: {"type": "integer"}}, "additionalProperties": False}
    assert problems(by_name, {"a" * 10: 1}) == []
    assert problems(by_name, {"a" * 10: "one"}) == ["'one' is not of type 'integer'"]
    assert problems(by_name, {ANSWER: 1}) == [f"{ANSWER!r} match neither a property nor a pattern ({NESTED!r})"]
    typed_extras = {"type": "object", "patternProperties": {NESTED: {}}, "additionalProperties": {"type": "string"}}
    assert problems(typed_extras, {ANSWER: 1, "aaa": 1}) == ["1 is not of type 'string'"]


@pytest.mark.parametrize("pattern", ["^(?=.*[0-9]).{8,}$", "(?<!x)y", r"^(a)\1$", "a{1000}{1000}"])
def test_what_re2_cannot_match_is_refused_with_the_pattern_named(pattern: str) -> None:
    for schema in ({"properties": {"code": {"pattern": pattern}}},
                   {"items": [{"patternProperties": {pattern: {}}}]},
                   {"$defs": {"code": {"anyOf": [{"pattern": pattern}]}}}):
        with pytest.raises(json_schema.SchemaError, match="cannot be matched in linear time") as refused:
            json_schema.validator(schema)
        assert repr(pattern) in str(refused.value)


def test_only_subschemas_are_read_for_patterns() -> None:
    literal = {"type": "object", "const": {"pattern": "(?=x)"}, "default": {"pattern": "(?=x)"},
               "properties": {"pattern": {"type": "string"}}}
    assert problems(literal, {"pattern": "(?=x)"}) == []
    assert problems(literal, {"pattern": 1}) == ["1 is not of type 'string'", "{'pattern': '(?=x)'} was expected"]


def test_unevaluated_properties_beside_pattern_properties_is_refused() -> None:
    with pytest.raises(json_schema.SchemaError, match="unevaluatedProperties"):
        json_schema.validator({"allOf": [{"patternProperties": {"^x": {}}}], "unevaluatedProperties": False})
    assert problems({"properties": {"a": {}}, "unevaluatedProperties": False}, {"a": 1, "b": 2}) == [
        "Unevaluated properties are not allowed ('b' was unexpected)"]


def test_classes_are_ascii_as_in_ecma_262() -> None:
    assert problems({"pattern": r"^\d+$"}, "٣") == ["'٣' does not match '^\\\\d+$'"]
    assert problems({"pattern": r"^\p{L}{5}$"}, "héllo") == []


def test_unique_items_are_found_in_linear_time() -> None:
    """jsonschema compares objects pairwise: 4,000 small ones took 19 s, on the event loop."""
    many = [{"id": i, "tags": ["a", i]} for i in range(20_000)]
    assert problems({"uniqueItems": True}, many) == []
    assert problems({"uniqueItems": True}, [*many, {"tags": ["a", 7.0], "id": 7}]) == [
        "has non-unique elements: items 7 and 20000 are equal"]


def _fanning(levels: int) -> dict[str, Any]:
    """A schema whose every level's anyOf names the next twice: 2 ** levels checks for a value
    that fits none."""
    defs: dict[str, Any] = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
                            for i in range(levels)}
    return {"$defs": {**defs, f"d{levels}": {"type": "string"}}, "$ref": "#/$defs/d0"}


def test_a_check_takes_at_most_so_many_steps_a_value() -> None:
    """16 levels took 6 s for one number; 30 would take days. Ordinary schemas take a few steps a
    value, so large answers still pass."""
    with pytest.raises(json_schema.SchemaError, match="more than 32 steps a value"):
        json_schema.problem(json_schema.validator(_fanning(30)), 1)
    found = json_schema.problem(json_schema.validator(_fanning(8)), 1)
    assert found is not None and found.message == "1 is not valid under any of the given schemas"
    rows = {"type": "array", "items": {"type": "object", "required": ["a"],
                                       "properties": {"a": {"type": "integer"}, "b": {"type": "array",
                                                                                    "items": {"type": "number"}}}}}
    assert json_schema.problem(json_schema.validator(rows), [{"a": i, "b": [1.5, 2]} for i in range(20_000)]) is None


SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 2.5]) | st.text("ab", max_size=2)


def _containing(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=2), inner, max_size=3)


JSON = st.recursive(SCALARS, _containing, max_leaves=8)


@given(st.lists(JSON, max_size=6))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_unique_items_as_jsonschema_has_them(items: list[Any]) -> None:
    """Equal as JSON Schema has it: 1 and 1.0 alike, true and 1 not, members in any order."""
    plain = jsonschema.Draft202012Validator({"uniqueItems": True})
    assert json_schema.validator({"uniqueItems": True}).is_valid(items) == plain.is_valid(items)


ORDINARY = [
    ({"type": "object", "properties": {"name": {"type": "string", "pattern": "^[A-Z][a-z]+$"},
                                       "age": {"type": "integer", "minimum": 0}},
      "required": ["name", "age"], "additionalProperties": False},
     [{"name": "Ada", "age": 36}, {"name": "ada", "age": -1}, {"name": "Ada"}, {"name": "Ada", "age": 1, "x": 2}]),
    ({"type": "object", "properties": {"id": {"type": "string"}}, "patternProperties": {"^x-": {"type": "string"}},
      "additionalProperties": False},
     [{"id": "1", "x-a": "b"}, {"id": "1", "x-a": 2}, {"id": "1", "y": 1}]),
    ({"type": "array", "items": {"type": "string", "pattern": "[0-9]{3}"}, "minItems": 1},
     [["a123"], ["12"], [], [1]]),
]


@pytest.mark.parametrize(("schema", "instances"), ORDINARY)
def test_ordinary_schemas_find_what_jsonschema_finds(schema: dict[str, Any], instances: list[Any]) -> None:
    plain = jsonschema.validators.validator_for(schema)(schema)
    for instance in instances:
        ours = [(list(e.absolute_path), e.validator) for e in json_schema.validator(schema).iter_errors(instance)]
        theirs = [(list(e.absolute_path), e.validator) for e in plain.iter_errors(instance)]
        assert sorted(map(str, ours)) == sorted(map(str, theirs))
