"""JSON Schema validation whose patterns match in linear time.

jsonschema matches `pattern` and `patternProperties` with Python's `re`, which backtracks: a
client's `^(a+)+$` and a model's answer of forty a's and a `!` hold the event loop for hours, and
every other request of the worker with it. Here those keywords match with RE2, which never
backtracks; a pattern RE2 cannot run (a lookaround, a backreference) is refused when the schema
arrives, before any model is asked. RE2's `\\d`, `\\w` and `\\b` are ASCII, as in ECMA-262, the
dialect JSON Schema patterns are written in.

`uniqueItems` is checked in linear time too: jsonschema compares objects pairwise, and a model's
answer of 4,000 small objects took 19 s. And a check takes at most `STEPS_PER_VALUE` keyword checks
for each value of the answer (ordinary schemas take a few), beyond `BASE_STEPS`: a schema whose
`anyOf` names the next level twice is twice the checks a level, for any value that fits none of
them (16 levels took 6 s for one number; 30 would take days).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

import jsonschema
import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the client's error, answered, not logged
_OPTIONS.never_capture = True

BASE_STEPS = 100_000  # at most 2 s on the development machine, however a schema fans out
STEPS_PER_VALUE = 32
_steps: contextvars.ContextVar[list[int]] = contextvars.ContextVar("json_schema_steps")

_SUBSCHEMA = frozenset({"additionalItems", "additionalProperties", "contains", "contentSchema", "else", "if", "items",
                        "not", "propertyNames", "then", "unevaluatedItems", "unevaluatedProperties"})
_SUBSCHEMAS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_NAMED_SUBSCHEMAS = frozenset({"$defs", "definitions", "dependentSchemas", "dependencies", "patternProperties",
                               "properties"})


class SchemaError(ValueError):
    """A schema this gateway cannot check; the message says why, for the client."""


def validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for `schema`, its patterns compiled with RE2; `SchemaError` if one cannot be.

    The schema must already be a valid JSON Schema (`check_schema`).
    """
    patterns, keywords = _patterns(schema)
    for pattern in patterns:
        _regex(pattern)
    if {"patternProperties", "unevaluatedProperties"} <= keywords:
        raise SchemaError("combines `unevaluatedProperties` with `patternProperties`, which the gateway does not check")
    return _linear(jsonschema.validators.validator_for(schema))(schema)


def problem(validator: jsonschema.protocols.Validator, instance: Any) -> jsonschema.ValidationError | None:
    """The violation of `instance` that best says what is wrong, or None; `SchemaError` when the
    check would take more keyword checks than `instance` has values to deserve."""
    token = _steps.set([BASE_STEPS + STEPS_PER_VALUE * _values(instance)])
    try:
        return jsonschema.exceptions.best_match(validator.iter_errors(instance))
    finally:
        _steps.reset(token)


def _values(instance: Any) -> int:
    count = 0
    stack = [instance]
    while stack:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def _counted(check: Callable[..., Any]) -> Callable[..., Any]:
    def counted(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        left = _steps.get(None)
        if left is not None:
            left[0] -= 1
            if left[0] < 0:
                raise SchemaError(f"checking the answer against it takes more than {STEPS_PER_VALUE} steps a value "
                                  "(its anyOf, oneOf, allOf or $ref fan out level after level)")
        return check(validator, value, instance, schema)
    return counted


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> re2._Regexp:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise SchemaError(f"pattern {pattern!r} cannot be matched in linear time (RE2: {reason}); "
                          "lookarounds, backreferences and counts over 1000 are not supported") from None


def _patterns(schema: Mapping[str, Any]) -> tuple[list[str], set[str]]:
    """Every regular expression in the schema's subschemas, and the keywords they use.

    Walks only where subschemas are, so a `const` or `default` that holds a "pattern" is left alone.
    """
    found: list[str] = []
    keywords: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        keywords.update(node)
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.append(value)
            elif key == "patternProperties" and isinstance(value, dict):
                found.extend(value)
            if key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
                stack.extend(value.values())
            elif key in _SUBSCHEMAS and isinstance(value, list):
                stack.extend(value)
            elif key in _SUBSCHEMA:
                stack.append(value)
    return found, keywords


def _key(value: Any) -> Hashable:
    """`value` as JSON Schema compares it, hashable: 1 and 1.0 alike, true and 1 not, an object's
    members in any order."""
    if isinstance(value, dict):
        return dict, frozenset((name, _key(member)) for name, member in value.items())
    if isinstance(value, list):
        return list, tuple(_key(item) for item in value)
    if isinstance(value, (bool, str)) or value is None:
        return type(value), value
    return float, value


@functools.cache
def _linear(base: type[jsonschema.protocols.Validator]) -> type[jsonschema.protocols.Validator]:
    """`base` with RE2 behind its keywords that match regular expressions: `pattern`,
    `patternProperties`, and `additionalProperties` where it stands beside the latter;
    `uniqueItems` by hashing; and every keyword counted against the steps `problem` allows."""
    additional_properties = base.VALIDATORS["additionalProperties"]

    def pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
        if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    def pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any,
                           schema: Any) -> Iterator[jsonschema.ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        for each, subschema in patterns.items():
            regex = _regex(each)
            for name, value in instance.items():
                if regex.search(name):
                    yield from validator.descend(value, subschema, path=name, schema_path=each)

    def additional(validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
        patterns = schema.get("patternProperties")
        if not patterns or not validator.is_type(instance, "object"):
            yield from additional_properties(validator, allowed, instance, schema)
            return
        regexes = [_regex(each) for each in patterns]
        known = schema.get("properties", {})
        extras = [name for name in instance
                  if name not in known and not any(regex.search(name) for regex in regexes)]
        if validator.is_type(allowed, "object"):
            for name in extras:
                yield from validator.descend(instance[name], allowed, path=name)
        elif not allowed and extras:
            yield jsonschema.ValidationError(f"{', '.join(map(repr, sorted(extras)))} match neither a property "
                                             f"nor a pattern ({', '.join(map(repr, sorted(patterns)))})")

    def unique_items(validator: Any, unique: bool, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
        if not unique or not validator.is_type(instance, "array"):
            return
        seen: dict[Hashable, int] = {}
        for index, item in enumerate(instance):
            first = seen.setdefault(_key(item), index)
            if first != index:
                yield jsonschema.ValidationError(f"has non-unique elements: items {first} and {index} are equal")
                return

    checks = {**base.VALIDATORS, "pattern": pattern, "patternProperties": pattern_properties,
              "additionalProperties": additional, "uniqueItems": unique_items}
    return jsonschema.validators.extend(base, {keyword: _counted(check) for keyword, check in checks.items()})
