"""Property-based fuzzing of the whole gateway: valid seed requests, broken at random.

A `Seed` is one valid request to one endpoint. `requests(seeds)` is a hypothesis strategy that
takes a seed and breaks it: a JSON body at a random path (a wrong type, a deleted or extra field,
another part of the body grafted in, deep nesting, huge or empty values, numbers no parser likes),
a form by its parts, then the bytes (truncated, invalid UTF-8, junk, a wrong content type), the
headers, the query string, and sometimes the path and method. `Rig` runs the gateway in-process
against the fake upstreams, all on one event loop; `Rig.check` sends a request and asserts what
must hold for any request at all: an answer within `TIMEOUT`, never a 5xx, and an error always in
the client dialect's shape.

Settings: `fuzz_settings(n)` runs `n` derandomized examples, so CI is deterministic; the
environment variable INTERLINGUA_FUZZ_EXAMPLES replaces every `n` and draws fresh random examples,
for long local runs that hunt for bugs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from interlingua.app.config import parse
from interlingua.app.factory import Gateway, create_app
from tests.asgi import Exchange, call
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.fakes.search_upstream import FakeSearch

TIMEOUT = 10.0  # seconds any one request may take, whatever it holds
LONG_RUN = int(os.environ.get("INTERLINGUA_FUZZ_EXAMPLES") or 0)


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=LONG_RUN or examples, deadline=None if LONG_RUN else 5000,
                    database=None, derandomize=not LONG_RUN, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# Requests -----------------------------------------------------------------------------------------

File = tuple[str, str, bytes]  # filename, content type, bytes
FormPart = tuple[str, str | bytes | File]  # a text field (bytes: not UTF-8), or a file


@dataclass(frozen=True, eq=False)
class Seed:
    """A valid request. `json` is a JSON body; `form` a multipart body; neither means no body."""

    method: str
    path: str
    dialect: str  # openai, anthropic, gemini or utility: whose error shape the client expects
    json: Any = None
    form: tuple[FormPart, ...] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    query: str = ""


@dataclass
class Request:
    method: str
    path: str
    dialect: str | None  # None once the path or method is broken: any dialect's shape will do
    body: list[bytes] = field(default_factory=list)  # the chunks it arrives in
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    query: bytes = b""


# JSON mutations -----------------------------------------------------------------------------------

JsonPath = tuple[str | int, ...]
_DELETE = object()
# JSON tokens orjson does not write, put in as fragments of raw JSON.
RAW_TOKENS = (b"1e400", b"-1e400", b"123456789012345678901234567890", b"-0", b"1.5e-400", b'"\\ud800"',
              b'"\\u0000"', b'"\\udfff\\ud800"', b"1E+2", b"0.0000000000000000000000001")
# What may follow a string: a routable model with a tail, an id with a control character.
TAILS = st.text(max_size=4) | st.sampled_from(("\x00", "\n", "?a=b", "#", "/..", " ", "%2F", "\u00e9"))


def paths(value: Any, at: JsonPath = ()) -> list[JsonPath]:
    """Every node's path, the root's included."""
    found = [at]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*at, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*at, index))
    return found


def get(value: Any, path: JsonPath) -> Any:
    for key in path:
        value = value[key]
    return value


def put(value: Any, path: JsonPath, new: Any) -> Any:
    """`value` with the node at `path` replaced by `new` (or removed for `_DELETE`); only the nodes
    along the path are copied, so a seed is never changed."""
    if not path:
        return None if new is _DELETE else new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if rest or new is not _DELETE:
        copy[head] = put(value[head], rest, new)
    else:
        del copy[head]
    return copy


def vocabulary(seeds: list[Seed]) -> tuple[list[str], list[str]]:
    """The keys and short strings of the seeds: the words most likely to reach deep into a decoder."""
    keys: set[str] = set()
    words: set[str] = {"", "data:", "data:image/png;base64,", "data:;base64,!!", "null", "9" * 5000, "\u00b2"}
    for seed in seeds:
        for path in paths(seed.json):
            if path and isinstance(path[-1], str):
                keys.add(path[-1])
            node = get(seed.json, path)
            if isinstance(node, str) and len(node) < 40:
                words.add(node)
    return sorted(keys), sorted(words)


def junk(keys: list[str], words: list[str]) -> st.SearchStrategy[Any]:
    """Any small JSON value, its strings and keys often the seeds' own."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=False),
                        st.text(max_size=12), st.sampled_from(words))
    names = st.sampled_from(keys) | st.text(max_size=8) if keys else st.text(max_size=8)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                        max_leaves=6)


def _nest(value: Any, depth: int) -> orjson.Fragment:
    """`value` inside `depth` objects and arrays, as raw JSON: deeper than orjson would write."""
    pairs, odd = divmod(depth, 2)
    return orjson.Fragment(b'{"a":[' * pairs + b"[" * odd + orjson.dumps(value) + b"]" * odd + b"]}" * pairs)


def _huge(value: Any) -> Any:
    """A list of thousands of its own items (about 200 kB of them at most), an object of thousands of
    fields, or a 200 kB string."""
    if isinstance(value, list) and value:
        return value * (min(2000 // len(value), 200_000 // len(orjson.dumps(value))) + 1)
    if isinstance(value, dict):
        return {**value, **{f"k{i}": i for i in range(2000)}}
    return "x" * 200_000


@st.composite
def mutate_json(draw: st.DrawFn, value: Any, keys: list[str], words: list[str]) -> Any:
    """One to three mutations, each at a random path."""
    original = value
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(value)))
        node = get(value, path)
        how = draw(st.sampled_from(("junk", "delete", "extra", "graft", "nest", "huge", "empty", "raw", "append")))
        if how == "append" and isinstance(node, str):
            new = node + draw(TAILS)
        elif how == "append" and isinstance(node, list) and node:
            new = [*node, draw(st.sampled_from(node))]
        elif how == "junk":
            new = draw(junk(keys, words))
        elif how == "delete":
            new = _DELETE
        elif how == "extra" and isinstance(node, dict):
            new = {**node, draw(st.sampled_from(keys) | st.text(max_size=8)): draw(junk(keys, words))}
        elif how == "extra" and isinstance(node, list):
            new = [*node, draw(junk(keys, words))]
        elif how == "graft":
            new = get(original, draw(st.sampled_from(paths(original))))
        elif how == "nest":
            new = _nest(node, draw(st.sampled_from((1, 2, 60, 98, 99, 100, 101, 130, 300, 1100))))
        elif how == "huge":
            new = _huge(node)
        elif how == "empty":
            new = draw(st.sampled_from(("", [], {}, 0)))
        else:  # raw, and an append that does not fit the node
            new = orjson.Fragment(draw(st.sampled_from(RAW_TOKENS)))
        value = put(value, path, new)
    return value


# Forms --------------------------------------------------------------------------------------------

BOUNDARY = "fuzz-boundary-7MA4YWxk"


def multipart(parts: list[FormPart], boundary: str = BOUNDARY) -> bytes:
    out = []
    for name, value in parts:
        if isinstance(value, tuple):
            filename, content_type, data = value
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: {content_type}\r\n\r\n").encode()
        else:
            data = value if isinstance(value, bytes) else value.encode()
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out.append(f"--{boundary}\r\n".encode() + head + data + b"\r\n")
    return b"".join(out) + f"--{boundary}--\r\n".encode()


FORM_NAMES = ("model", "prompt", "input", "file", "image", "image[]", "mask", "language", "instructions", "n",
              "size", "response_format", "stream", "temperature", "timestamp_granularities[]", "voice", "x")
FORM_VALUES = ("", "true", "false", "0", "-1", "1.5", "2", "9" * 5000, "\u00b2", "1e999", "nan", "json", "text", "srt",
               "url", "b64_json", "word", "segment", "verbose_json", "x" * 100_000, "oa/gpt-image-1",
               "gm/gemini-2.5-flash")
FILE_BYTES = (b"", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WAVE", b"\xff\xfb", b"GIF89a", b"junk" * 10,
              b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)


@st.composite
def mutate_form(draw: st.DrawFn, parts: tuple[FormPart, ...]) -> list[FormPart]:
    """One to three changes to a form's parts: dropped, repeated, added, renamed, another value or file."""
    out = list(parts)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(("drop", "duplicate", "add", "value", "file", "rename", "to_text", "to_file")))
        index = draw(st.integers(0, max(len(out) - 1, 0)))
        if not out or how == "add":
            out.append((draw(st.sampled_from(FORM_NAMES) | st.text(max_size=8)),
                        draw(st.sampled_from(FORM_VALUES) | st.text(max_size=12))))
            continue
        name, value = out[index]
        if how == "drop":
            del out[index]
        elif how == "duplicate":
            out.insert(index, out[index])
        elif how == "value":
            out[index] = (name, draw(st.sampled_from((*FORM_VALUES, b"\xff\xfe")) | st.text(max_size=12)))
        elif how == "file":
            filename = draw(st.sampled_from(("a.wav", "a.png", "", "\u00e9\u00e8.bin", 'q"uote')))
            content_type = draw(st.sampled_from(("image/png", "audio/wav", "application/octet-stream", "", ";;")))
            out[index] = (name, (filename, content_type, draw(st.sampled_from(FILE_BYTES) | st.binary(max_size=64))))
        elif how == "rename":
            out[index] = (draw(st.sampled_from(FORM_NAMES) | st.text(max_size=8)), value)
        elif how == "to_text" and isinstance(value, tuple):
            out[index] = (name, value[2])
        elif how == "to_file" and not isinstance(value, tuple):
            data = value if isinstance(value, bytes) else value.encode()
            out[index] = (name, ("f.bin", "application/octet-stream", data))
    return out


# Bytes, headers, query, path ----------------------------------------------------------------------

CONTENT_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded",
                 f"multipart/form-data; boundary={BOUNDARY}", "multipart/form-data", "multipart/form-data; boundary=",
                 "multipart/form-data; boundary=" + "b" * 200, "application/json; charset=latin-1", "\u00ff/\u00ff")
HEADER_NAMES = ("authorization", "x-api-key", "x-goog-api-key", "anthropic-version", "anthropic-beta", "accept",
                "content-length", "content-type", "openai-organization", "x-request-id", "x-stainless-retry-count")
HEADER_VALUES = (b"", b"Bearer", b"Bearer ", b"bearer sk-x", b"2023-06-01", b"image/jpeg;q=x, image/*;q=0.5",
                 b"*/*;q=", b"9" * 5000, b"-1", b"\xb2", b"\xff\xfe", b"a" * 10_000, b"multipart/form-data")
QUERY_NAMES = (b"alt", b"key", b"beta", b"pageSize", b"pageToken", b"limit", b"after", b"x")
QUERY_VALUES = (b"sse", b"", b"true", b"0", b"-1", b"9" * 5000, b"\xb2", b"\xc2\xb2", b"%ff", b"%", b"a&b=c", b"1e9",
                b"\xff\xfe", b"=")
METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS")
PATH_JUNK = ("", "/", "//", "/x", "/..", "/%2e%2e", ":generateContent", ":x", "/input_items", "/\u00e9",
             "/" + "a" * 5000, "?", "/models", ":streamGenerateContent", ":countTokens", ":embedContent",
             "/count_tokens")


@st.composite
def raw_body(draw: st.DrawFn, raw: bytes) -> bytes:
    how = draw(st.integers(0, 19))  # mostly as it is: the structure's mutations reach further
    if how == 1 and raw:
        return raw[:draw(st.integers(0, len(raw) - 1))]
    if how == 2 and raw:
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"))) + raw[at:]
    if how == 3:
        return draw(st.binary(max_size=64))
    if how == 4:
        return b""
    return raw


@st.composite
def chunks(draw: st.DrawFn, raw: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=2)))
    bounds = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def headers(draw: st.DrawFn, seed: Seed, content_type: str | None) -> list[tuple[bytes, bytes]]:
    found = {name.encode(): value.encode() for name, value in seed.headers}
    if content_type is not None:
        found[b"content-type"] = content_type.encode()
    how = draw(st.integers(0, 9))
    if how == 1:
        found.pop(b"content-type", None)
    elif how == 2:
        found[b"content-type"] = draw(st.sampled_from(CONTENT_TYPES)).encode("latin-1")
    out = list(found.items())
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(HEADER_NAMES) | st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True))
        value = draw(st.sampled_from(HEADER_VALUES) | st.binary(max_size=16).map(lambda b: b.replace(b"\r", b"")))
        out.append((name.encode(), value))
    return out


@st.composite
def query(draw: st.DrawFn, seed: Seed) -> bytes:
    """The seed's query with up to three parameters more, which win over the seed's own (last wins)."""
    pairs = [seed.query.encode()] if seed.query else []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(QUERY_NAMES) | st.binary(max_size=6))
        pairs.append(name + b"=" + draw(st.sampled_from(QUERY_VALUES) | st.binary(max_size=6)))
    return b"&".join(pairs)


def _content_type(seed: Seed) -> str | None:
    if seed.form is not None:
        return f"multipart/form-data; boundary={BOUNDARY}"
    return "application/json" if seed.json is not None else None


def unbroken(seed: Seed) -> Request:
    """The seed as it is, which must be answered with a 2xx."""
    raw = multipart(list(seed.form)) if seed.form is not None else b"" if seed.json is None else orjson.dumps(seed.json)
    content_type = _content_type(seed)
    headers = [(k.encode(), v.encode()) for k, v in seed.headers]
    headers += [(b"content-type", content_type.encode())] if content_type else []
    return Request(seed.method, seed.path, seed.dialect, [raw], headers, seed.query.encode())


def _anthropics(request: Request) -> bool:
    """Whether a request to a path both OpenAI's and Anthropic's APIs have (the Files API, the model
    list) is Anthropic's: it carries the `anthropic-version` header, with whatever value."""
    shared = request.path.startswith("/v1/files") or (request.method == "GET" and request.path.startswith("/v1/models"))
    return shared and any(name == b"anthropic-version" for name, _ in request.headers)


def requests(seeds: list[Seed]) -> st.SearchStrategy[Request]:
    """A seed, broken in its body, headers and query, sometimes in its path and method."""
    keys, words = vocabulary(seeds)
    return st.sampled_from(seeds).flatmap(lambda seed: _broken(seed, keys, words))


@st.composite
def _broken(draw: st.DrawFn, seed: Seed, keys: list[str], words: list[str]) -> Request:
    if seed.form is not None:
        raw = multipart(draw(mutate_form(seed.form) | st.just(list(seed.form))))
    elif seed.json is not None:
        raw = orjson.dumps(draw(mutate_json(seed.json, keys, words)))
    else:
        raw = b""
    content_type = _content_type(seed)
    body = draw(raw_body(raw))
    request = Request(seed.method, seed.path, seed.dialect, draw(chunks(body)), draw(headers(seed, content_type)),
                      draw(query(seed)))
    if request.dialect == "openai" and _anthropics(request):
        request = replace(request, dialect="anthropic")
    how = draw(st.integers(0, 15))  # hypothesis leans to 0: the seed's own route
    if how == 15:  # another route, or none
        request = replace(request, method=draw(st.sampled_from(METHODS)), dialect=None,
                          path=draw(st.sampled_from((seed.path, seed.path.rsplit("/", 1)[0])))
                          + draw(st.sampled_from(PATH_JUNK) | st.text(max_size=8)))
    elif how == 14 and ":" in seed.path:  # the same route with another model: Gemini's model is in the path
        model, verb = seed.path.rsplit(":", 1)  # (another resource's name, a store's, may be no route at all)
        request = replace(request, path=f"{model}{draw(TAILS)}:{verb}",
                          dialect=request.dialect if "/models/" in seed.path else None)
    return request


# What must hold ------------------------------------------------------------------------------------


_UNSENDABLE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")  # what uvicorn refuses in a header value


def _openai(body: Any) -> bool:
    error = body.get("error")
    return (isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error)
            and isinstance(error["message"], str) and isinstance(error["type"], str))


def _anthropic(body: Any) -> bool:
    error = body.get("error")
    return (body.get("type") == "error" and isinstance(error, dict) and isinstance(error.get("type"), str)
            and isinstance(error.get("message"), str))


def _gemini(body: Any) -> bool:
    error = body.get("error")
    return (isinstance(error, dict) and isinstance(error.get("code"), int) and isinstance(error.get("message"), str)
            and isinstance(error.get("status"), str))


SHAPES: dict[str, Callable[[Any], bool]] = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini,
                                            "utility": _openai}


def error_shape_ok(exchange: Exchange, dialect: str | None) -> bool:
    try:
        body = orjson.loads(exchange.body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(body, dict):
        return False
    shapes = [SHAPES[dialect]] if dialect else list(SHAPES.values())
    return any(shape(body) for shape in shapes)


# The gateway and its upstreams --------------------------------------------------------------------

OPENAI_MODELS = ("gpt-x", "text-embedding-3-small", "tts-1", "whisper-1", "gpt-image-1", "dall-e-3",
                 "omni-moderation-latest")


class Rig:
    """The gateway in-process with every fake upstream, all on one event loop owned by the rig."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._stack = contextlib.AsyncExitStack()
        self.fakes: list[Any] = []
        self.app: Gateway = self.run(self._start(data_dir))

    async def _start(self, data_dir: Path) -> Gateway:
        enter = self._stack.enter_async_context
        # Fuzzed histories carry no valid thinking or thought signatures: the fakes do not ask for them.
        openai, responses = await enter(fo.FakeOpenAI(OPENAI_MODELS)), await enter(fr.FakeResponses())
        anthropic = await enter(fa.FakeAnthropic(require_thinking_in_tool_turns=False))
        gemini = await enter(fg.FakeGemini(require_thought_signatures=False))
        web = await enter(FakeSearch("searxng"))  # the web search a Chat model's turn gets
        self.fakes = [openai, responses, anthropic, gemini, web]
        key = "sk-fuzz-upstream"
        providers = {"oa": {"type": "openai", "url": openai.url, "key": key, "models": list(OPENAI_MODELS)},
                     "rs": {"type": "openai", "url": responses.url, "key": key, "api": "responses"},
                     "an": {"type": "anthropic", "url": anthropic.url, "key": key},
                     "gm": {"type": "gemini", "url": gemini.url, "key": key},
                     "web": {"type": "searxng", "url": web.url}}
        config = {"server": {"data_dir": str(data_dir)}, "providers": providers,
                  "models": {"fast": {"targets": ["an/claude-x", "oa/gpt-x"]}},
                  "utilities": {"web_search": "web/default"}}
        return create_app(parse(config, {}, "fuzz"))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def send(self, request: Request) -> Exchange:
        for fake in self.fakes:
            fake.requests.clear()  # thousands of examples: keep none of them
        return self.run(asyncio.wait_for(call(self.app, request.method, request.path, body=request.body,
                                              headers=request.headers, query=request.query), TIMEOUT))

    def check(self, request: Request) -> Exchange:
        """Send `request`; assert a 2xx or 4xx with headers a server can send, a JSON answer that
        parses, and a 4xx in the dialect's error shape."""
        exchange = self.send(request)
        assert 200 <= exchange.status < 500, (exchange.status, exchange.body[:500])
        assert not any(_UNSENDABLE.search(value) for value in exchange.headers.values()), exchange.headers
        if exchange.status >= 400:
            assert error_shape_ok(exchange, request.dialect), (exchange.status, exchange.body[:500])
        elif exchange.headers.get(b"content-type") == b"application/json":
            exchange.json()
        return exchange

    def close(self) -> None:
        self.run(self.app.aclose())
        self.run(self._stack.aclose())
        self.loop.close()
