"""The document utilities' requests: `POST /v1/extract`, `/v1/segment`, `/v1/summarize` and
`/v1/translate`, as JSON, as a form (multipart with a `file`, or url-encoded), or with the document
itself as the body (its `Content-Type`, a `Content-Disposition` filename, the other fields in the
query string). Decoding checks everything that can be checked without reading the document:
which fields the operation takes, one input of text, file or url and none empty, the sizes of
segments, and that `schema` is a JSON Schema object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
import orjson

from interlingua.adapters import ir, json_schema
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields, forms

DEFAULT_SEGMENT_LENGTH = 512
DEFAULT_SEGMENT_OVERLAP = 0
MAX_SEGMENT_LENGTH = 1_000_000
_COMMON = frozenset({"model", "file", "url"})
_FIELDS = {
    ops.EXTRACT.name: _COMMON | {"schema"},
    ops.SEGMENT.name: _COMMON | {"text", "input", "segment_length", "segment_overlap"},
    ops.SUMMARIZE.name: _COMMON | {"input"},
    ops.TRANSLATE.name: _COMMON | {"input", "language", "lang"},
}
_QUERY = ("model", "schema", "segment_length", "segment_overlap", "language", "lang")


def query_params(query: bytes) -> dict[str, str]:
    """The query string's fields that a request with the document as its body may carry."""
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    return {name: value for name, value in pairs if name in _QUERY}


def decode(operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
           params: Mapping[str, str]) -> ir.DocumentRequest:
    values, uploads = _inputs(body, params)
    known = _FIELDS[operation.name]
    for name in [*values, *(u.name for u in uploads)]:
        if name not in known:
            raise ir.invalid(name, f"is not a field of /v1/{operation.name} (it takes {', '.join(sorted(known))})")
    text_field = next((name for name in ("text", "input") if name in values), None)
    text = _string(values, text_field) if text_field else None
    url = _string(values, "url")
    files = [u for u in uploads if u.name == "file"]
    given = [name for name, present in (("text" if text_field == "text" else "input", text is not None),
                                        ("file", bool(files)), ("url", url is not None)) if present]
    if len(given) > 1:
        raise ir.invalid(given[1], f"give one input, not both {given[0]} and {given[1]}")
    if not given:
        raise ir.invalid("input" if "input" in known else "file",
                         f"is required: send the document as {_inputs_named(known)}")
    if text is not None and not text.strip():
        raise ir.invalid(text_field or "input", "is empty")
    if len(files) > 1:
        raise ir.invalid("file", "must be one file")
    if files and files[0].size == 0:
        raise ir.invalid("file", "is empty")
    request = ir.DocumentRequest(operation.name, _string(values, "model"), "utility", text=text,
                                 file=files[0] if files else None, url=url)
    if operation is ops.EXTRACT:
        request.schema = _schema(values.get("schema"))
        request.layout = request.schema is None and wants_json(headers.get(b"accept", b"").decode("latin-1"))
        if request.schema is not None:
            request.operation = "schema"
    elif operation is ops.SEGMENT:
        length = _integer(values, "segment_length", 1, MAX_SEGMENT_LENGTH)
        request.segment_length = DEFAULT_SEGMENT_LENGTH if length is None else length
        overlap = _integer(values, "segment_overlap", 0, request.segment_length - 1)
        request.segment_overlap = DEFAULT_SEGMENT_OVERLAP if overlap is None else overlap
    elif operation is ops.TRANSLATE:
        language = _string(values, "language") or _string(values, "lang")
        if language is None:
            raise ir.invalid("language", "is required: the language to translate into, as a code (de, pt-BR) "
                             "or a name (German)")
        request.language = language
    return request


def wants_json(accept: str) -> bool:
    """Whether `Accept` prefers application/json to text/plain (plain text wins a tie)."""
    ranges = forms.accept_ranges(accept)
    return ranges.get("application/json", 0.0) > ranges.get("text/plain", 0.0)


def _inputs(body: Any, params: Mapping[str, str]) -> tuple[dict[str, Any], list[ir.Upload]]:
    """The request's fields by name (the last counts when a form repeats one), its uploads, and
    any fields of the query string that the body does not give."""
    if isinstance(body, ir.Form):
        values: dict[str, Any] = {name: found[-1] for name, found in forms.values(body).items()}
        uploads = body.files
    elif isinstance(body, dict):
        values, uploads = dict(body), []
    else:
        raise ir.invalid("body", "must be a JSON object, a form, or the document itself with its Content-Type")
    for name, value in params.items():
        values.setdefault(name, value)
    return values, uploads


def _inputs_named(known: frozenset[str]) -> str:
    names = [f"`{n}`" for n in ("text", "input") if n in known] + ["a `file` upload (or the body)", "a `url`"]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _string(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ir.invalid(name, "must be a string")
    return value if name in ("text", "input") or value else None


def _integer(values: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = fields.natural(value) if value.strip().isdigit() else None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ir.invalid(name, f"must be an integer from {low} to {high}")
    return value


def _schema(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):  # a form field carries the schema as JSON text
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ir.invalid("schema", f"is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ir.invalid("schema", "must be a JSON Schema object")
    try:
        jsonschema.validators.validator_for(value).check_schema(value)
        json_schema.validator(value)
    except jsonschema.SchemaError as exc:
        raise ir.invalid("schema", f"is not a valid JSON Schema: {exc.message}") from None
    except json_schema.SchemaError as exc:
        raise ir.invalid("schema", str(exc)) from None
    except RecursionError:  # a form's JSON text is not bounded as a JSON body is
        raise ir.invalid("schema", "nests too deeply") from None
    except OverflowError as exc:  # Python's re, checking that a pattern is one, on a count past its limit
        raise ir.invalid("schema", f"is not a valid JSON Schema: a pattern's {exc}") from None
    return value
