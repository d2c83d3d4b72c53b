"""Typed field access for request validation, shared by the codecs.

Each getter names the field by its path (`messages[2].content`), so a 400 tells the client exactly
what to fix. bool is not accepted where a number is expected, as JSON Schema says.
"""

from __future__ import annotations

import array as arrays
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, TypeVar, overload

import orjson

from interlingua.adapters.ir import GatewayError, Part, Text, invalid

_MISSING = object()
T = TypeVar("T")


def obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(path, "must be an object")
    return value


@cache
def snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def spelled(body: Mapping[str, Any], camel: str) -> str:
    """A field's name as the client spelled it: camelCase, or the snake_case google-genai sometimes
    sends; camelCase when it is in neither, so that "is required" names the documented spelling."""
    snake_case = snake(camel)
    return snake_case if body.get(camel) is None and body.get(snake_case) is not None else camel


def req(body: Mapping[str, Any], key: str, path: str = "") -> Any:
    value = body.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise invalid(path + key, "is required")
    return value


@overload
def string(body: Mapping[str, Any], key: str, path: str = "", *, required: Literal[True]) -> str: ...
@overload
def string(body: Mapping[str, Any], key: str, path: str = "", required: bool = False) -> str | None: ...
def string(body: Mapping[str, Any], key: str, path: str = "", required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid(path + key, "is required")
        return None
    if not isinstance(value, str):
        raise invalid(path + key, "must be a string")
    if required and not value:
        raise invalid(path + key, "must not be empty")
    return value


def integer(body: Mapping[str, Any], key: str, path: str = "", minimum: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(path + key, "must be an integer")
    if minimum is not None and value < minimum:
        raise invalid(path + key, f"must be at least {minimum}")
    return value


def number(body: Mapping[str, Any], key: str, path: str = "") -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(path + key, "must be a number")
    return value


def boolean(body: Mapping[str, Any], key: str, path: str = "") -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(path + key, "must be a boolean")
    return value


@overload
def array(body: Mapping[str, Any], key: str, path: str = "", *, required: Literal[True]) -> list[Any]: ...
@overload
def array(body: Mapping[str, Any], key: str, path: str = "", required: bool = False) -> list[Any] | None: ...
def array(body: Mapping[str, Any], key: str, path: str = "", required: bool = False) -> list[Any] | None:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid(path + key, "is required")
        return None
    if not isinstance(value, list):
        raise invalid(path + key, "must be an array")
    if required and not value:
        raise invalid(path + key, "must not be empty")
    return value


def strings(body: Mapping[str, Any], key: str, path: str = "") -> list[str] | None:
    """An array of strings (stop sequences, tool names)."""
    value = array(body, key, path)
    if value is not None and not all(isinstance(s, str) for s in value):
        raise invalid(path + key, "must be an array of strings")
    return value


def mapping(body: Mapping[str, Any], key: str, path: str = "") -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    return obj(value, path + key)


def choice(body: Mapping[str, Any], key: str, allowed: tuple[str, ...], path: str = "") -> str | None:
    value = string(body, key, path)
    if value is not None and value not in allowed:
        raise invalid(path + key, f"must be one of {', '.join(allowed)}")
    return value


def each(items: list[Any] | None, key: str, decode: Callable[[Any, str], T]) -> list[T] | None:
    """Each item of an array decoded with its path (`tools[3]`); None for an absent array."""
    return [decode(item, f"{key}[{i}]") for i, item in enumerate(items)] if items is not None else None


def rest(body: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    """The fields a codec has no slot for, kept so that a same-dialect hop loses nothing."""
    if body.keys() <= known:  # the usual case, without building a dict
        return None
    return {k: v for k, v in body.items() if k not in known}


MAX_COUNT = 2**53 - 1  # beyond, no count is real, and JavaScript clients could not read it exactly


def count(body: Mapping[str, Any], key: str) -> int:
    """A count an upstream reports (tokens, mostly): a whole number from 0 to `MAX_COUNT`, else 0.
    Usage is metered, budgeted and exported as metrics, so what an upstream gets wrong there (a
    string, a negative, a float) counts as unreported rather than failing the answer."""
    value = body.get(key)
    if type(value) is int:  # not bool
        return value if 0 <= value <= MAX_COUNT else 0
    if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_COUNT:
        return int(value)
    return 0


def text(value: Any, path: str) -> str:
    """A value an upstream's answer holds that must be a string (a delta's text), checked where the
    caller found one: streams call this for every chunk, so it fetches nothing itself."""
    if type(value) is not str:
        raise invalid(path, "must be a string")
    return value


def label(body: Mapping[str, Any], key: str) -> str | None:
    """A string that describes an upstream's answer (its id, the model that wrote it): None when
    absent or of another type, since the gateway can do without it, and a new id serves as well."""
    value = body.get(key)
    return value if isinstance(value, str) else None


def timestamp(body: Mapping[str, Any], key: str) -> int:
    """An answer's Unix time in whole seconds (`created`): some servers send a float; now, when
    absent or no time at all."""
    value = body.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= MAX_COUNT:
        return int(value)
    return int(time.time())


def numbers(value: Any, path: str) -> list[float]:
    """An array of numbers an upstream answered (an embedding), as floats; converted in C, since an
    answer can hold thousands of them."""
    try:
        return arrays.array("d", value).tolist() if isinstance(value, list) else _not_numbers(path)
    except TypeError:
        return _not_numbers(path)


def _not_numbers(path: str) -> list[float]:
    raise invalid(path, "must be an array of numbers")


def sub(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An upstream's nested object (usage details), empty when it is anything else."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def listed(body: Mapping[str, Any], key: str) -> list[Any]:
    """An upstream's list that only decorates an answer (a search's pages, a text's citations),
    empty when it is anything else: a malformed one costs the decoration, not the answer."""
    value = body.get(key)
    return value if isinstance(value, list) else []


def natural(text: str) -> int | None:
    """`text` as a whole number if it is one in ASCII digits, of at most 18: no count needs more, and
    `str.isdigit` also takes `²` and other scripts' digits, which `int` refuses. None otherwise."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def split_data_url(url: str, path: str) -> tuple[str, str]:
    """`data:<mime>;base64,<b64>` as (mime, b64)."""
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise invalid(path, "must be a base64 data URL (data:<type>;base64,...)")
    return head[5:-7], data


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


KIND_OF_STATUS: dict[int, str] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limit",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}


def content(value: Any, path: str, part: Callable[[Any, str], Part], items: str) -> list[Part]:
    """A message's content in the form three dialects share: a string, or an array of `items` each
    read by `part` at its own path."""
    if isinstance(value, str):
        return [Text(value)]
    if not isinstance(value, list):
        raise invalid(path, f"must be a string or an array of {items}")
    return [part(item, f"{path}[{i}]") for i, item in enumerate(value)]


def arguments_object(text: str) -> dict[str, Any]:
    """Tool-call arguments (a JSON text) as the object that Anthropic's `input` and Gemini's `args`
    must be: text that is not JSON is kept under `_raw`, a value that is no object under `value`."""
    try:
        value = orjson.loads(text) if text.strip() else {}
    except orjson.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"value": value}


def error_from_body(status: int, body: bytes, from_payload: Callable[[int, Any], GatewayError]) -> GatewayError:
    """An upstream's error answer: its dialect's JSON shape, or the start of whatever text it sent."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:500].decode(errors="replace").strip()
        return upstream_error(status, text or f"upstream answered {status}")
    return from_payload(status, payload)


def upstream_error(status: int, message: str, **kw: Any) -> GatewayError:
    """An error the upstream answered: 4xx keep their status, 5xx become a gateway status, and a
    status that is no HTTP error at all (a Gemini body's `code` of -1) is the upstream's failure."""
    if not 400 <= status <= 599:
        status = 502
    kind = KIND_OF_STATUS.get(status) or ("invalid_request" if status < 500 else "upstream")
    gateway_status = status if status < 500 else {503: 503, 504: 504, 529: 529}.get(status, 502)
    retryable = status in (408, 429) or status >= 500
    return GatewayError(kind, message, status=gateway_status, retryable=retryable, **kw)  # type: ignore[arg-type]  # kind comes from KIND_OF_STATUS, whose values are ErrorKinds


def rfc3339(seconds: float | None) -> str | None:
    """A Unix time as RFC 3339 in UTC, to the second (`2026-12-07T14:00:00Z`), as Anthropic writes times."""
    return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def seconds_of(text: str, path: str) -> float:
    """An RFC 3339 time (`2026-12-07T14:00:00Z`, or with an offset or fractions) as a Unix time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(path, "must be an RFC 3339 time, such as 2026-12-07T14:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def page_size(query: Mapping[str, list[str]], name: str, most: int, default: int) -> int:
    """A list's page size, parameter `name` of a parsed query (`parse_qs`): 1 to `most`, `default`
    when it is not given."""
    size = natural(query.get(name, [str(default)])[-1])
    if size is None or not 1 <= size <= most:
        raise invalid(name, f"must be an integer from 1 to {most}")
    return size
