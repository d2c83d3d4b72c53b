"""A fake Gemini Developer API upstream, served over a real socket, for the gateway's tests.

Why a real server: streaming, CRLF framing, mid-stream errors and disconnects only show up on a
real connection, so this fake speaks the Gemini API (v1beta) byte for byte as Google's Gemini API
reference (generateContent, streamGenerateContent) gives it: camelCase keys, compact JSON, SSE frames
`data: {chunk}` ended by CRLF CRLF (no `event:` lines, no `[DONE]`), or without `alt=sse` one JSON
array streamed element by element. It also rejects what the real API rejects, in Google's error
shape `{"error": {"code", "message", "status"}}`, so a gateway that translates a conversation badly
fails its tests here instead of in production.

    async with FakeGemini() as fake:
        fake.script(function_calls(call("get_weather", {"city": "Paris"})), text("Sunny."))
        client = genai.Client(
            api_key="g-test", http_options=types.HttpOptions(base_url=fake.url, api_version="v1beta")
        )
        ...
        assert fake.requests[0].model == "gemini-x"

Scripted replies are consumed one per accepted generateContent or streamGenerateContent request,
first in first out; a request rejected by validation consumes nothing. When the queue is empty the
fake answers `text("Hello", " from", " fake")`, with `modelVersion` echoing the requested model;
or, when `generationConfig.responseModalities` includes IMAGE (which only a model with `image` in
its name accepts, as on the real API), a text part and an `inlineData` PNG whose bytes tell what
the request held (`drawing`).

Thought signatures behave as on Gemini 3: every reply mints one (standard base64 of random bytes)
for the first functionCall part of each candidate, and the fake remembers the decoded bytes in
`signatures`. A request is refused when a functionCall step of the current turn (the model turns
after the last user turn that is not only function responses, as the real API scopes it) has no
signature on its first functionCall part, or when any model part carries a signature the fake never
minted. The documented escape hatch `skip_thought_signature_validator` (literal, or base64 of those
bytes) is accepted. Signatures are compared as decoded bytes: the official SDK sends back URL-safe
base64, and minted signatures start with `+/+/` in standard base64 so the difference always shows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import string
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes.pacing import GARBAGE, Streaming, abort, cut_body

Json = dict[str, Any]

#: The google.rpc status name for each HTTP status, as the real API sends them (reference section 4.6).
STATUSES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: The dummy signature Google documents for history the model did not produce.
SKIP_SIGNATURE = "skip_thought_signature_validator"

#: What the real API says for a 500; also the default mid-stream failure.
INTERNAL_MESSAGE = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)

#: The response modalities a request may ask for, and the aspect ratios an image model draws.
MODALITIES = frozenset({"MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"})
ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})

#: What the fake's images start with: a PNG signature, so they pass for PNGs (see `drawing`).
FAKE_PNG_HEAD = b"\x89PNG\r\n\x1a\nfake-gemini-image|"

_API = "/v1beta/"
_SIGNATURE_PREFIX = b"\xfb\xff\xbf"  # "+/+/" in standard base64, "-_-_" in URL-safe base64
_SIGNATURE_DOCS = "https://ai.google.dev/gemini-api/docs/thought-signatures"
_FUNCTION_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}")
_CALL_ID_ALPHABET = string.ascii_lowercase + string.digits
_PROTO = "type.googleapis.com/google.ai.generativelanguage.v1beta."

#: A Part's `data` oneof: exactly one must be set.
_DATA_FIELDS = frozenset(
    {
        "text",
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
        "toolCall",
        "toolResponse",
    }
)
_PART_FIELDS = _DATA_FIELDS | {"thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution"}
_CONTENT_FIELDS = frozenset({"role", "parts"})
#: The OpenAPI-subset `Schema` of `parameters`, `response` and `responseSchema`; any other key,
#: JSON-Schema ones such as `additionalProperties`, `$ref` or `const` included, is an unknown name.
_SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_GENERATION_CONFIG_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "audioTranscriptionConfig",
    }
)


def _camel(name: str) -> str:
    """The lowerCamel JSON name of a proto field: the real API accepts both spellings, and so must we."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), name)


def _get(obj: Json, name: str) -> Any:
    """Field `name` (camelCase) of a request object sent in either spelling (the SDK mixes them)."""
    return obj[name] if name in obj else obj.get(_snake(name))


def _decode_signature(value: Any) -> bytes | None:
    """Bytes of a base64 field, standard or URL-safe, padded or not (as proto3 JSON allows); None if invalid."""
    if not isinstance(value, str):
        return None
    data = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        return None


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it, so tests can assert on what the gateway sent upstream."""

    method: str
    path: str  # e.g. "/v1beta/models/gemini-x:streamGenerateContent"
    query: str  # the raw query string, e.g. "alt=sse"
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    json: Any  # the parsed body, or None when the body is empty or not JSON
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query))

    @property
    def api_key(self) -> str | None:
        """The credential, from `x-goog-api-key` (what the SDK sends) or else `?key=`."""
        return self.headers.get("x-goog-api-key") or self.params.get("key")

    @property
    def model(self) -> str | None:
        """The model id of a model path, without `models/`; it may itself contain `/`."""
        resource = self.path.removeprefix(_API).rpartition(":")[0] or self.path.removeprefix(_API)
        return resource.removeprefix("models/") if resource.startswith("models/") else None

    @property
    def action(self) -> str | None:
        """The custom method after the last `:`, e.g. "generateContent", or None for plain GETs."""
        _, colon, action = self.path.rpartition(":")
        return action if colon else None


@dataclass(slots=True, frozen=True)
class Usage:
    """Token counts for a reply. As on the wire, `candidates` excludes `thoughts`, and `cached` is
    part of `prompt`; the total is prompt + candidates + thoughts."""

    prompt: int = 10
    candidates: int = 5
    thoughts: int = 0
    cached: int = 0

    def prompt_only(self) -> Json:
        """The usage of a response with no output yet: a blocked prompt, or an early stream chunk."""
        usage: Json = {
            "promptTokenCount": self.prompt,
            "totalTokenCount": self.prompt,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt}],
        }
        if self.cached:
            usage["cachedContentTokenCount"] = self.cached
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached}]
        return usage

    def to_json(self) -> Json:
        """The final `usageMetadata`; the real API leaves zero thought and cache counts out."""
        usage: Json = {
            "promptTokenCount": self.prompt,
            "candidatesTokenCount": self.candidates,
            "totalTokenCount": self.prompt + self.candidates + self.thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt}],
        }
        if self.thoughts:
            usage["thoughtsTokenCount"] = self.thoughts
        if self.cached:
            usage["cachedContentTokenCount"] = self.cached
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached}]
        return usage


@dataclass(slots=True, frozen=True)
class Text:
    """A text part; streamed, each piece is one chunk. A thought part is only sent when the request
    sets `thinkingConfig.includeThoughts`, as the real API does."""

    pieces: tuple[str, ...]
    thought: bool = False


def _call_id() -> str:
    return "".join(secrets.choice(_CALL_ID_ALPHABET) for _ in range(8))


@dataclass(slots=True, frozen=True)
class FunctionCall:
    """A functionCall part. Gemini never streams arguments: the part arrives whole in one chunk."""

    name: str
    args: Json
    id: str | None  # Gemini 3 sends ids; older models send none


@dataclass(slots=True, frozen=True)
class InlineData:
    """An inlineData part, such as an image an image model made; it arrives whole in one chunk."""

    mime_type: str
    data: bytes


Part = Text | FunctionCall | InlineData


@dataclass(slots=True, frozen=True)
class Candidate:
    """One candidate: its parts in order, how it finished, and what grounded it (Google Search's
    `groundingMetadata`, given with the finish, as Gemini sends it on the last chunk)."""

    parts: tuple[Part, ...] = ()
    finish_reason: str = "STOP"
    finish_message: str | None = None  # e.g. the detail of a MALFORMED_FUNCTION_CALL
    grounding: Json | None = None


@dataclass(slots=True, kw_only=True)
class Reply:
    """A successful response.

    Streamed, every text piece is one chunk and consecutive function calls share one chunk; the
    last chunk alone carries `finishReason` and the final `usageMetadata`. With several candidates,
    chunk k carries the k-th chunk of each candidate that has one, each with its `index`.

    - `candidates`: a single candidate is repeated to fill the request's `candidateCount`.
    - `block_reason`: the prompt was blocked: `promptFeedback.blockReason` and no candidates.
    - `model_version`: overrides the echoed request model.
    - `sign_calls`: mint a signature for the first functionCall part (Gemini 3); off, as Gemini 2.5
      without thinking.
    - `text_signature`: for candidates without calls, "part" signs the last text part; "empty_chunk"
      sends the signature on an empty text part in an extra last chunk (on the last text part when
      not streamed).
    - `usage_on_every_chunk`: earlier chunks carry prompt-only usage too, as the real API may; a
      client must keep the last one.
    - `head_delay`: seconds to wait before the response headers (for timeout tests).
    - `chunk_delay`: seconds to wait before every chunk after the first (a slow upstream).
    - `gate`: awaited before every chunk after the first. The fake never clears it, so a test can
      check a chunk reached the client while the upstream still holds the next, then `set()` it.
    - `fail`: end a stream after its pieces, with no finishReason or usage: "error" sends a
      `{"error": ...}` chunk (`fail_status`, `fail_message`) and ends; "drop" aborts the TCP
      connection; "cut" ends cleanly;
      "empty" and "junk" (`pacing.BEFORE_ANY_EVENT`) fail before any event;
      "garbage" sends a chunk that is not JSON, then ends so.
      Not streamed, "error" is an HTTP error and "drop" an aborted connection; "cut" and "garbage"
      half of the body (`pacing.cut_body`).
    """

    candidates: Sequence[Candidate] = ()
    block_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model_version: str | None = None
    sign_calls: bool = True
    text_signature: Literal["part", "empty_chunk"] | None = None
    usage_on_every_chunk: bool = False
    head_delay: float = 0.0
    chunk_delay: float = 0.0
    gate: asyncio.Event | None = None
    fail: Literal["error", "drop", "cut", "garbage", "empty", "junk"] | None = None
    fail_status: int = 500
    fail_message: str = INTERNAL_MESSAGE


@dataclass(slots=True, kw_only=True)
class ErrorReply:
    """An HTTP error in Google's shape, sent instead of a response (streamed or not)."""

    code: int
    message: str
    status: str
    details: Sequence[Json] = ()  # google.rpc detail objects, each with its "@type"
    headers: dict[str, str] = field(default_factory=dict)
    head_delay: float = 0.0


def say(*pieces: str) -> Text:
    """A text part; each piece is one streamed chunk."""
    return Text(pieces)


def thought(*pieces: str) -> Text:
    """A thought-summary part (`"thought": true`), sent only when the request includes thoughts."""
    return Text(pieces, thought=True)


def inline(data: bytes, mime_type: str = "image/png") -> InlineData:
    """An inlineData part, e.g. `reply(say("Here it is."), inline(png_bytes))`."""
    return InlineData(mime_type, data)


def drawing(body: Json) -> bytes:
    """What the fake "draws" for an image request: `FAKE_PNG_HEAD`, the request's text parts, and
    the sizes of the inline images it was given, in order, so a test can tell what reached it."""
    texts: list[str] = []
    sizes: list[int] = []
    for content in _get(body, "contents"):
        for part in content["parts"]:
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            data = _get(part, "inlineData")
            if isinstance(data, dict):
                sizes.append(len(_decode_signature(data.get("data")) or b""))
    return FAKE_PNG_HEAD + " ".join(texts).encode() + f"|{sizes}".encode()


def call(name: str, args: Json | None = None, *, id: str | bool = True) -> FunctionCall:
    """A functionCall part with whole `args`; `id=True` mints a Gemini 3 style id, `False` sends none."""
    return FunctionCall(name, args or {}, _call_id() if id is True else id or None)


def candidate(*parts: Part, finish_reason: str = "STOP", finish_message: str | None = None) -> Candidate:
    """One candidate, for `candidates(...)`."""
    return Candidate(parts, finish_reason, finish_message)


def reply(*parts: Part, finish_reason: str = "STOP", finish_message: str | None = None,
          grounding: Json | None = None, **options: Any) -> Reply:
    """A one-candidate response made of `parts`, e.g. `reply(thought("Hmm"), call("f", {"a": 1}))`.

    Options are `Reply` fields.
    """
    return Reply(candidates=(Candidate(parts, finish_reason, finish_message, grounding),), **options)


def text(*pieces: str, **options: Any) -> Reply:
    """A response of one text part; each piece is one chunk. Options are `reply` options."""
    return reply(Text(pieces), **options)


def function_calls(*calls: FunctionCall, **options: Any) -> Reply:
    """A response of parallel function calls; finishReason is STOP, as Gemini has no tool reason."""
    return reply(*calls, **options)


def candidates(*choices: Candidate, **options: Any) -> Reply:
    """A response of several candidates, indexes 0, 1, ... Options are `Reply` fields."""
    return Reply(candidates=choices, **options)


def blocked(reason: str = "SAFETY", **options: Any) -> Reply:
    """A blocked prompt: `promptFeedback.blockReason` with no candidates. Options are `Reply` fields."""
    return Reply(block_reason=reason, **options)


def error(
    code: int,
    message: str,
    *,
    status: str | None = None,
    details: Sequence[Json] = (),
    retry_delay: str | None = None,
    headers: dict[str, str] | None = None,
    head_delay: float = 0.0,
) -> ErrorReply:
    """An HTTP error reply; `status` defaults to Google's name for `code` (`STATUSES`).

    `retry_delay` (e.g. "30s") adds the `RetryInfo` detail a real 429 carries.
    """
    all_details = list(details)
    if retry_delay is not None:
        all_details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    return ErrorReply(
        code=code,
        message=message,
        status=status or STATUSES.get(code, "UNKNOWN"),
        details=all_details,
        headers=headers or {},
        head_delay=head_delay,
    )


def fail_mid_stream(
    *pieces: str, drop: bool = False, status: int = 500, message: str = INTERNAL_MESSAGE, **options: Any
) -> Reply:
    """A text stream that sends `pieces`, then an error chunk, or drops the connection."""
    return text(*pieces, fail="drop" if drop else "error", fail_status=status, fail_message=message, **options)


def count_tokens(body: Json) -> int:
    """The fake's deterministic token count: characters of all text // 4 + 1.

    "All text" is every `text` field at any depth of `contents` and `systemInstruction` of the
    counted request (the `generateContentRequest` when that form is used); tools, function call
    arguments and response values are not counted.
    """
    request = _get(body, "generateContentRequest") or body

    def chars(value: Any, key: str = "") -> int:
        if isinstance(value, str):
            return len(value) if key == "text" else 0
        if isinstance(value, dict):
            return sum(chars(v, k) for k, v in value.items())
        if isinstance(value, list):
            return sum(chars(v, key) for v in value)
        return 0

    return (chars(_get(request, "contents")) + chars(_get(request, "systemInstruction"))) // 4 + 1


def _google_error(code: int, message: str, status: str | None = None, details: Sequence[Json] = ()) -> Json:
    body: Json = {"code": code, "message": message, "status": status or STATUSES.get(code, "UNKNOWN")}
    if details:
        body["details"] = list(details)
    return {"error": body}


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json", charset="UTF-8", headers=headers
    )


def _error(
    code: int,
    message: str,
    status: str | None = None,
    details: Sequence[Json] = (),
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error response in Google's shape."""
    return _json_response(_google_error(code, message, status, details), code, headers)


class _Generation:
    """Renders one reply for one request: the response id, model version and signatures all chunks share."""

    def __init__(self, reply: Reply, body: Json, model: str, mint: Callable[[], str]) -> None:
        self.reply = reply
        self.response_id = secrets.token_urlsafe(16)[:22]
        self.model_version = reply.model_version or model
        config = _get(body, "generationConfig") or {}
        thinking = _get(config, "thinkingConfig") or {}
        include_thoughts = bool(_get(thinking, "includeThoughts"))
        count = _get(config, "candidateCount") or 1
        self.logprobs = _get(config, "responseLogprobs") is True
        self.top = _get(config, "logprobs") or 0
        choices = list(reply.candidates)
        if len(choices) == 1 and isinstance(count, int) and count > 1:
            choices *= count
        self.candidates = choices
        rendered = [self._render(c, include_thoughts, mint) for c in choices]
        self.wholes = [whole for whole, _ in rendered]
        self.frames = [frames for _, frames in rendered]

    def _render(
        self, choice: Candidate, include_thoughts: bool, mint: Callable[[], str]
    ) -> tuple[list[Json], list[list[Json]]]:
        """The candidate's whole parts, and the parts of each of its stream chunks, signatures placed."""
        reply = self.reply
        whole: list[Json] = []
        frames: list[list[Json]] = []
        last_text: tuple[int, int | None] | None = None  # whole and frame index of the last answer text
        calls_signed = False
        previous_was_call = False
        for part in choice.parts:
            if isinstance(part, InlineData):
                data: Json = {"inlineData": {"mimeType": part.mime_type, "data": base64.b64encode(part.data).decode()}}
                whole.append(data)
                frames.append([data])
                previous_was_call = False
                continue
            if isinstance(part, Text):
                if part.thought and not include_thoughts:
                    continue
                flag: Json = {"thought": True} if part.thought else {}
                whole.append({"text": "".join(part.pieces), **flag})
                frames.extend([{"text": piece, **flag}] for piece in part.pieces)
                if not part.thought:
                    last_text = (len(whole) - 1, len(frames) - 1 if part.pieces else None)
                previous_was_call = False
                continue
            function_call: Json = {"name": part.name, "args": part.args}
            if part.id is not None:
                function_call = {"id": part.id, **function_call}
            rendered: Json = {"functionCall": function_call}
            if reply.sign_calls and not calls_signed:
                rendered["thoughtSignature"] = mint()
                calls_signed = True
            whole.append(rendered)
            if previous_was_call:
                frames[-1].append(rendered)
            else:
                frames.append([rendered])
            previous_was_call = True
        has_calls = any(isinstance(part, FunctionCall) for part in choice.parts)
        if reply.text_signature and not has_calls and last_text is not None:
            signature = mint()
            whole_index, frame_index = last_text
            whole[whole_index] = {**whole[whole_index], "thoughtSignature": signature}
            if reply.text_signature == "empty_chunk":
                frames.append([{"text": "", "thoughtSignature": signature}])
            elif frame_index is not None:
                frames[frame_index] = [{**frames[frame_index][0], "thoughtSignature": signature}]
        return whole, frames

    def _logprobs(self, parts: list[Json]) -> Json:
        """A `logprobsResult` with each answer text piece one token (and `alt1`... below it), as Gemini
        gives it where `responseLogprobs` asks: on the candidate, per chunk when streamed."""
        if not self.logprobs:
            return {}
        pieces = [p["text"] for p in parts if p.get("text") and not p.get("thought")]
        chosen = [{"token": piece, "logProbability": -0.25} for piece in pieces]
        top = [{"candidates": [{"token": t, "logProbability": -0.25 * (k + 1)}
                               for k, t in enumerate([piece] + [f"alt{k}" for k in range(1, self.top)])][: self.top]}
               for piece in pieces]
        result: Json = {"topCandidates": top, "chosenCandidates": chosen, "logProbabilitySum": -0.25 * len(pieces)}
        return {"logprobsResult": result, "avgLogprobs": -0.25} if pieces else {}

    def _envelope(self, response: Json) -> Json:
        response["modelVersion"] = self.model_version
        response["responseId"] = self.response_id
        return response

    def _finish(self, index: int) -> Json:
        choice = self.candidates[index]
        finish: Json = {"finishReason": choice.finish_reason}
        if choice.finish_message is not None:
            finish["finishMessage"] = choice.finish_message
        if choice.grounding is not None:
            finish["groundingMetadata"] = choice.grounding
        return finish

    def _blocked(self) -> Json:
        feedback = {"blockReason": self.reply.block_reason}
        return self._envelope({"promptFeedback": feedback, "usageMetadata": self.reply.usage.prompt_only()})

    def whole(self) -> Json:
        """The non-streamed GenerateContentResponse."""
        if self.reply.block_reason:
            return self._blocked()
        entries = []
        for index, parts in enumerate(self.wholes):
            entry: Json = {"content": {"parts": parts, "role": "model"}} if parts else {}
            frames = [p for frame in self.frames[index] for p in frame]  # the pieces: a token each
            entries.append({**entry, **self._logprobs(frames), **self._finish(index), "index": index})
        return self._envelope({"candidates": entries, "usageMetadata": self.reply.usage.to_json()})

    def chunks(self) -> list[Json]:
        """Every streamed GenerateContentResponse; a failing stream ends without finish and usage."""
        reply = self.reply
        if reply.block_reason:
            return [self._blocked()]
        finishing = reply.fail is None
        count = max((len(frames) for frames in self.frames), default=0)
        if finishing:
            count = max(count, 1)
        chunks = []
        for k in range(count):
            last = finishing and k == count - 1
            entries = []
            for index, frames in enumerate(self.frames):
                entry: Json = ({"content": {"parts": frames[k], "role": "model"}, **self._logprobs(frames[k])}
                               if k < len(frames) else {})
                if last:
                    entry |= self._finish(index)
                if entry:
                    entries.append({**entry, "index": index})
            chunk: Json = {"candidates": entries} if entries else {}
            if last:
                chunk["usageMetadata"] = reply.usage.to_json()
            elif reply.usage_on_every_chunk:
                chunk["usageMetadata"] = reply.usage.prompt_only()
            chunks.append(self._envelope(chunk))
        return chunks


def _unknown(name: str, at: str) -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."


MAX_DEPTH = 100  # protobuf's JSON parser's (kDefaultMaxRecursionDepth), which the API parses with


def _too_deep(body: Any) -> str | None:
    """The member whose value first takes the body past `MAX_DEPTH` objects and arrays, in
    document order, or None: the parser refuses the whole body there, before any field is read."""
    stack: list[tuple[Any, int, str]] = [(body, 1, "")]
    while stack:
        node, depth, key = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            return key
        children = list(node.items()) if isinstance(node, dict) else [(key, child) for child in node]
        stack.extend((child, depth + 1, name) for name, child in reversed(children))
    return None


def _invalid_value(at: str, kind: str, value: Any) -> str:
    return f"Invalid value at '{at}' ({kind}), {orjson.dumps(value).decode()}"


def _not_repeated(value: Any, at: str, kind: str) -> str | None:
    """What the proto parser says of a repeated field given one value: no list, no start."""
    return None if value is None or isinstance(value, list) else _invalid_value(at, kind, value)


_RESPONSE_FIELDS = frozenset({"id", "name", "response", "parts", "willContinue", "scheduling"})
_RESPONSE_DATA = ("inlineData", "fileData")


def _function_response(value: dict[str, Any], at: str) -> str | None:
    """A FunctionResponse's fields, and its media `parts` (FunctionResponsePart: inline data or a
    file by URI, one of them)."""
    for key in value:
        if _camel(key) not in _RESPONSE_FIELDS:
            return _unknown(key, at)
    parts = _get(value, "parts")
    problem = _not_repeated(parts, f"{at}.parts", _PROTO + "FunctionResponsePart")
    if problem:
        return problem
    for j, part in enumerate(parts or []):
        where = f"{at}.parts[{j}]"
        if not isinstance(part, dict):
            return _invalid_value(where, _PROTO + "FunctionResponsePart", part)
        for key in part:
            if _camel(key) not in _RESPONSE_DATA:
                return _unknown(key, where)
        if len(part) != 1:
            return f"Invalid value at '{where}' (oneof), oneof field 'data' must have one initialized field"
    return None


class _Validator:
    """The real API's checks that a gateway's translation can get wrong; each returns a 400 message or None.

    Messages follow the real API's two families: "Invalid JSON payload received..." for what its
    proto parser refuses, and "* GenerateContentRequest.<field path>: ..." for what it validates.
    """

    def __init__(
        self, body: Json, signatures: set[bytes], *, counting: bool, require_signatures: bool, request_name: str
    ) -> None:
        self.body = body
        self.signatures = signatures
        self.counting = counting  # countTokens checks the shape, not the conversation
        self.require_signatures = require_signatures
        self.request_name = request_name

    def problem(self) -> str | None:
        checks = [self._contents, self._system, self._tools, self._generation_config]
        if not self.counting:
            checks += [self._function_turns, self._signatures]
        for check in checks:
            problem = check()
            if problem:
                return problem
        return None

    def _field(self, path: str, text: str) -> str:
        return f"* {self.request_name}.{path}: {text}\n"

    def _contents(self) -> str | None:
        contents = _get(self.body, "contents")
        if not contents:
            return self._field("contents", "contents is not specified")
        if not isinstance(contents, list):
            return _invalid_value("contents", _PROTO + "Content", contents)
        for i, content in enumerate(contents):
            at = f"contents[{i}]"
            if not isinstance(content, dict):
                return _invalid_value(at, _PROTO + "Content", content)
            for key in content:
                if _camel(key) not in _CONTENT_FIELDS:
                    return _unknown(key, at)
            if content.get("role") not in (None, "", "user", "model"):
                return "Please use a valid role: user, model."
            parts = content.get("parts")
            if not parts or not isinstance(parts, list):
                return self._field(f"{at}.parts", "contents.parts must not be empty.")
            for j, part in enumerate(parts):
                problem = self._part(part, f"{at}.parts[{j}]")
                if problem:
                    return problem
        return None

    def _part(self, part: Any, at: str) -> str | None:
        if not isinstance(part, dict):
            return _invalid_value(at, _PROTO + "Part", part)
        for key in part:
            if _camel(key) not in _PART_FIELDS:
                return _unknown(key, at)
        data = [key for key in part if _camel(key) in _DATA_FIELDS]
        if not data:
            return self._field(f"{at}.data", "required oneof field 'data' must have one initialized field")
        if len(data) > 1:
            return f"Invalid value at '{at}' (oneof), oneof field 'data' is already set. Cannot set '{_camel(data[1])}'"
        signature = _get(part, "thoughtSignature")
        if signature is not None and _decode_signature(signature) is None:
            return f"Invalid value at '{at}.thought_signature' (TYPE_BYTES), Base64 decoding failed for \"{signature}\""
        for name, value_key in (("functionCall", "args"), ("functionResponse", "response")):
            value = _get(part, name)
            if value is None:
                continue
            at_field = f"{at}.{_snake(name)}"
            if not isinstance(value, dict):
                return _invalid_value(at_field, _PROTO + name[0].upper() + name[1:], value)
            for key in ("name", "id"):  # string fields, as the proto parser takes them
                if value.get(key) is not None and not isinstance(value[key], str):
                    return _invalid_value(f"{at_field}.{key}", "TYPE_STRING", value[key])
            if not value.get("name"):
                return self._field(f"{at_field}.name", "Name cannot be empty.")
            inner = value.get(value_key)
            if inner is not None and not isinstance(inner, dict):
                return _invalid_value(f"{at_field}.{value_key}", "type.googleapis.com/google.protobuf.Struct", inner)
            if name == "functionResponse":
                problem = _function_response(value, at_field)
                if problem:
                    return problem
        return None

    def _system(self) -> str | None:
        system = _get(self.body, "systemInstruction")
        if not isinstance(system, dict):
            return None
        parts = system.get("parts")
        problem = _not_repeated(parts, "system_instruction.parts", _PROTO + "Part")
        if problem:
            return problem
        for j, part in enumerate(parts or []):
            problem = self._part(part, f"system_instruction.parts[{j}]")
            if problem:
                return problem
        return None

    def _tools(self) -> str | None:
        tools = _get(self.body, "tools")
        problem = _not_repeated(tools, "tools", _PROTO + "Tool")
        if problem:
            return problem
        for t, tool in enumerate(tools or []):
            if not isinstance(tool, dict):
                continue
            declarations = _get(tool, "functionDeclarations")
            problem = _not_repeated(declarations, f"tools[{t}].function_declarations", _PROTO + "FunctionDeclaration")
            if problem:
                return problem
            for d, declaration in enumerate(declarations or []):
                at = f"tools[{t}].function_declarations[{d}]"
                if not isinstance(declaration, dict):
                    return _invalid_value(at, _PROTO + "FunctionDeclaration", declaration)
                if not _FUNCTION_NAME.fullmatch(str(declaration.get("name", ""))):
                    return self._field(
                        f"{at}.name",
                        "Invalid function name. Must start with a letter or an underscore. Must be alphameric "
                        "(a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum "
                        "length of 64.",
                    )
                parameters = _get(declaration, "parameters")
                if parameters is not None and _get(declaration, "parametersJsonSchema") is not None:
                    return self._field(
                        f"{at}.parameters_json_schema",
                        "parameters_json_schema and parameters are mutually exclusive; set only one of them.",
                    )
                problem = self._schema(parameters, f"{at}.parameters") or self._schema(
                    _get(declaration, "response"), f"{at}.response"
                )
                if problem:
                    return problem
        return None

    def _schema(self, schema: Any, at: str) -> str | None:
        """Keys outside the OpenAPI subset are unknown names; so is a JSON-Schema list of types."""
        if not isinstance(schema, dict):
            return None
        for key, value in schema.items():
            if _camel(key) not in _SCHEMA_FIELDS:
                return _unknown(key, at)
            if _camel(key) == "type" and isinstance(value, list):
                return (
                    f"Invalid JSON payload received. Unknown name \"{key}\" at '{at}': "
                    "Proto field is not repeating, cannot start list."
                )
        properties = _get(schema, "properties")
        children: list[tuple[Any, str]] = []
        if isinstance(properties, dict):
            children += [(v, f"{at}.properties[{n}].value") for n, v in enumerate(properties.values())]
        children.append((_get(schema, "items"), f"{at}.items"))
        any_of = _get(schema, "anyOf")
        problem = _not_repeated(any_of, f"{at}.any_of", _PROTO + "Schema")
        if problem:
            return problem
        children += [(v, f"{at}.any_of[{n}]") for n, v in enumerate(any_of or [])]
        for child, child_at in children:
            problem = self._schema(child, child_at)
            if problem:
                return problem
        return None

    def _generation_config(self) -> str | None:
        config = _get(self.body, "generationConfig")
        if config is None:
            return None
        if not isinstance(config, dict):
            return _invalid_value("generation_config", _PROTO + "GenerationConfig", config)
        for key in config:
            if _camel(key) not in _GENERATION_CONFIG_FIELDS:
                return _unknown(key, "generation_config")
        modalities = _get(config, "responseModalities")
        if modalities is not None:
            if not isinstance(modalities, list):
                return _invalid_value("generation_config.response_modalities", "TYPE_ENUM", modalities)
            for i, modality in enumerate(modalities):
                if modality not in MODALITIES:
                    return _invalid_value(f"generation_config.response_modalities[{i}]", "TYPE_ENUM", modality)
        image = _get(config, "imageConfig")
        if image is not None:
            if not isinstance(image, dict):
                return _invalid_value("generation_config.image_config", _PROTO + "ImageConfig", image)
            for key in image:
                if _camel(key) not in ("aspectRatio", "imageSize"):
                    return _unknown(key, "generation_config.image_config")
            ratio = _get(image, "aspectRatio")
            if ratio is not None and ratio not in ASPECT_RATIOS:
                return self._field("generation_config.image_config.aspect_ratio", f"Unsupported aspect ratio: {ratio}")
        thinking = _get(config, "thinkingConfig")
        if thinking is not None and not isinstance(thinking, dict):
            return _invalid_value("generation_config.thinking_config", _PROTO + "ThinkingConfig", thinking)
        if thinking is not None:
            budget, level = _get(thinking, "thinkingBudget"), _get(thinking, "thinkingLevel")
            if budget is not None and level is not None:
                return "You can only set only one of thinking budget and thinking level."
        return self._schema(_get(config, "responseSchema"), "generation_config.response_schema")

    def _function_turns(self) -> str | None:
        """Function responses answer exactly the calls of the model turn right before them."""
        contents: list[Json] = _get(self.body, "contents")
        for i, content in enumerate(contents):
            answers = ((j, _get(p, "functionResponse")) for j, p in enumerate(content["parts"]))
            responses = [(j, r) for j, r in answers if r is not None]
            if not responses:
                continue
            previous = contents[i - 1] if i else {}
            previous_parts: list[Json] = previous["parts"] if previous.get("role") == "model" else []
            calls = [c for c in (_get(p, "functionCall") for p in previous_parts) if c is not None]
            if not calls:
                return "Please ensure that function response turn comes immediately after a function call turn."
            if len(responses) != len(calls):
                return (
                    "Please ensure that the number of function response parts is equal to the number of "
                    "function call parts of the function call turn."
                )
            ids = {c.get("id") for c in calls if c.get("id")}
            for j, response in responses:
                response_id = response.get("id")
                if response_id and response_id not in ids:
                    return self._field(
                        f"contents[{i}].parts[{j}].function_response.id",
                        f"function response id `{response_id}` matches no function call id of the previous model turn.",
                    )
        return None

    def _known(self, signature: str) -> bool:
        decoded = _decode_signature(signature)
        return signature == SKIP_SIGNATURE or decoded == SKIP_SIGNATURE.encode() or decoded in self.signatures

    def _signatures(self) -> str | None:
        """Gemini 3: every signature must be one the model minted, and each functionCall step of the
        current turn must carry one on its first functionCall part."""
        if not self.require_signatures:
            return None
        contents: list[Json] = _get(self.body, "contents")
        turn_start = 0
        for i, content in enumerate(contents):
            if content.get("role") != "model" and any(_get(p, "functionResponse") is None for p in content["parts"]):
                turn_start = i + 1
        for i, content in enumerate(contents):
            if content.get("role") != "model":
                continue
            parts: list[Json] = content["parts"]
            for part in parts:
                signature = _get(part, "thoughtSignature")
                if signature is not None and not self._known(signature):
                    return "Corrupted thought signature."
            calls = [p for p in parts if _get(p, "functionCall") is not None]
            if i >= turn_start and calls and _get(calls[0], "thoughtSignature") is None:
                name = _get(calls[0], "functionCall")["name"]
                return (
                    "Function call is missing a thought_signature in functionCall parts. This is required for "
                    "tools to work correctly, and missing thought_signature may lead to degraded model "
                    f"performance. Additional data, function call `default_api:{name}` , position {i + 1}. "
                    f"Please refer to {_SIGNATURE_DOCS} for more details."
                )
        return None


_RECORDED = web.RequestKey("recorded", RecordedRequest)


class FakeGemini(Streaming):
    """A Gemini API (v1beta) server on 127.0.0.1 (ephemeral port), run in the caller's event loop.

    Attributes: `url` (base URL without /v1beta, as the SDK's `base_url` expects; set on entry),
    `requests` (every `RecordedRequest`, rejected ones and models calls included), `disconnects`
    (streams whose client left before the stream ended), `signatures` (the decoded bytes of every
    thought signature minted), `models` (ids served by /v1beta/models), `default` (the reply used
    when the script is empty), `require_thought_signatures` (Gemini 3 validation, see the module
    docstring; switch it off to act as Gemini 2.5), `sse_separator` (what ends each SSE event:
    CRLF CRLF as the real API sends, or b"\\n\\n").

    Every request needs a credential in `x-goog-api-key` or `?key=` (else 403 PERMISSION_DENIED);
    when `api_keys` is given, any other key is a 400 API_KEY_INVALID, as the real API answers.
    """

    def __init__(
        self,
        models: Sequence[str] = ("gemini-fake",),
        *,
        default: Reply | ErrorReply | None = None,
        require_thought_signatures: bool = True,
        api_keys: Sequence[str] | None = None,
        sse_separator: bytes = b"\r\n\r\n",
    ) -> None:
        self.models = list(models)
        self.default = default or text("Hello", " from", " fake")
        self.require_thought_signatures = require_thought_signatures
        self.api_keys = None if api_keys is None else set(api_keys)
        self.sse_separator = sse_separator
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.signatures: set[bytes] = set()
        self._script: deque[Reply | ErrorReply] = deque()

    def script(self, *replies: Reply | ErrorReply) -> None:
        """Queue replies for the next accepted generate requests, one each, in order."""
        self._script.extend(replies)

    async def __aenter__(self) -> FakeGemini:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1beta/models", self._list_models)
        # Model ids may contain "/" and ":", so one catch-all route splits `name:action` itself.
        app.router.add_route("*", "/v1beta/{name:.+}", self._dispatch)
        self.url = await self.serve(app)
        return self

    def _mint(self) -> str:
        signature = _SIGNATURE_PREFIX + secrets.token_bytes(29)
        self.signatures.add(signature)
        return base64.b64encode(signature).decode()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record the request, then refuse it as the real API would without a (valid) key."""
        body = await request.read()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        recorded = RecordedRequest(request.method, request.path, request.query_string, headers, parsed, body)
        request[_RECORDED] = recorded
        self.requests.append(recorded)
        key = recorded.api_key
        if not key:
            return _error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use "
                "API Key or other form of API consumer identity to call this API.",
            )
        if self.api_keys is not None and key not in self.api_keys:
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
            return _error(400, "API key not valid. Please pass a valid API key.", details=[info])
        deep = _too_deep(parsed)
        if deep is not None:
            return _error(400, f"Invalid JSON payload received. Message too deep. Max recursion depth reached for key "
                               f"'{deep}'")
        return await handler(request)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        resource, colon, action = name.rpartition(":")
        if not colon:
            if request.method == "GET" and name.startswith("models/"):
                return self._get_model(name.removeprefix("models/"))
            return _error(404, f"Method not found: {name}.")
        if request.method != "POST" or not resource.startswith(("models/", "tunedModels/")):
            return _error(404, f"Method not found: {name}.")
        model = resource.split("/", 1)[1]
        if action == "generateContent":
            return await self._generate(request, model, stream=False)
        if action == "streamGenerateContent":
            return await self._generate(request, model, stream=True)
        if action == "countTokens":
            return self._count_tokens(request)
        if action == "batchEmbedContents":
            return self._embed(request, model)
        return _error(404, f"Method not found: {action}.")

    def _embed(self, request: web.Request, model: str) -> web.Response:
        """Vectors that tell texts apart: [position, length of the text, 1.0], cut to outputDimensionality."""
        body = request[_RECORDED].json
        entries = body.get("requests") if isinstance(body, dict) else None
        if not entries:
            return _error(400, "* BatchEmbedContentsRequest.requests: must not be empty\n")
        embeddings = []
        for i, entry in enumerate(entries):
            if entry.get("model") != f"models/{model}":
                return _error(400, f"* BatchEmbedContentsRequest.requests[{i}].model: does not match the URL model\n")
            text = "".join(p.get("text", "") for p in (entry.get("content") or {}).get("parts") or ())
            values = [float(i), float(len(text)), 1.0][: _get(entry, "outputDimensionality") or 3]
            embeddings.append({"values": values})
        return _json_response({"embeddings": embeddings})

    def _model_object(self, model_id: str) -> Json:
        return {
            "name": f"models/{model_id}",
            "baseModelId": model_id,
            "version": "001",
            "displayName": model_id,
            "description": f"Fake model {model_id}",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": [
                "generateContent",
                "countTokens",
                "createCachedContent",
                "batchGenerateContent",
            ],
            "temperature": 1,
            "maxTemperature": 2,
            "topP": 0.95,
            "topK": 64,
            "thinking": True,
        }

    async def _list_models(self, request: web.Request) -> web.Response:
        """One page of models; `nextPageToken` is opaque (the offset, base64) and absent on the last page."""
        params = request[_RECORDED].params
        try:
            size = int(params.get("pageSize") or 50)
            token = params.get("pageToken")
            offset = int(base64.b64decode(token, altchars=b"-_", validate=True)) if token else 0
        except (ValueError, binascii.Error):
            return _error(400, "Invalid page token or page size.")
        size = min(max(size, 1), 1000)
        page: Json = {"models": [self._model_object(m) for m in self.models[offset : offset + size]]}
        if offset + size < len(self.models):
            page["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return _json_response(page)

    def _get_model(self, model_id: str) -> web.Response:
        if model_id not in self.models:
            return _error(404, f"models/{model_id} is not found for API version v1beta.")
        return _json_response(self._model_object(model_id))

    def _invalid(
        self, body: Any, *, counting: bool, request_name: str = "GenerateContentRequest"
    ) -> web.Response | None:
        """The 400 the real API would send for this body, or None if it is acceptable."""
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON payload received. Unexpected token.")
        validator = _Validator(
            body,
            self.signatures,
            counting=counting,
            require_signatures=self.require_thought_signatures,
            request_name=request_name,
        )
        problem = validator.problem()
        return _error(400, problem) if problem else None

    def _count_tokens(self, request: web.Request) -> web.Response:
        body = request[_RECORDED].json
        inner = _get(body, "generateContentRequest") if isinstance(body, dict) else None
        if inner is not None:
            if _get(body, "contents") is not None:
                return _error(400, "contents and generate_content_request are mutually exclusive; set only one.")
            if not isinstance(inner, dict) or not inner.get("model"):
                return _error(400, "* GenerateContentRequest.model: unexpected model name format\n")
            rejected = self._invalid(inner, counting=True)
        else:
            rejected = self._invalid(body, counting=True, request_name="CountTokensRequest")
        if rejected:
            return rejected
        total = count_tokens(body)
        details = [{"modality": "TEXT", "tokenCount": total}]
        return _json_response({"totalTokens": total, "promptTokensDetails": details})

    async def _generate(self, request: web.Request, model: str, *, stream: bool) -> web.StreamResponse:
        body = request[_RECORDED].json
        rejected = self._invalid(body, counting=False)
        if rejected:
            return rejected
        drawn = "IMAGE" in (_get(_get(body, "generationConfig") or {}, "responseModalities") or ())
        if drawn and "image" not in model:
            return _error(400, "Model does not support the requested response modalities: image")
        if self._script:
            reply = self._script.popleft()
        elif drawn:
            reply = Reply(candidates=(Candidate((Text(("Here is the image.",)), inline(drawing(body)))),),
                          usage=Usage(candidates=1290))  # an image is 1290 output tokens
        else:
            reply = self.default
        await asyncio.sleep(reply.head_delay)
        if isinstance(reply, ErrorReply):
            return _error(reply.code, reply.message, reply.status, reply.details, reply.headers)
        generation = _Generation(reply, body, model, self._mint)
        if stream:
            return await self._stream(request, generation, sse=request[_RECORDED].params.get("alt") == "sse")
        if reply.fail == "drop":
            abort(request)
            return web.Response()  # never reaches the client: the connection is gone
        if reply.fail == "error":
            return _error(reply.fail_status, reply.fail_message)
        if reply.fail is not None:
            return await cut_body(request, orjson.dumps(generation.whole()), reply.fail)
        return _json_response(generation.whole())

    def _frames(self, generation: _Generation, *, sse: bool) -> list[bytes]:
        """The body's writes: SSE events, or the elements of one JSON array (`[`, `,\\r\\n`-separated, `]`)."""
        reply = generation.reply
        elements = [orjson.dumps(chunk) for chunk in generation.chunks()]
        if reply.fail == "error":
            elements.append(orjson.dumps(_google_error(reply.fail_status, reply.fail_message)))
        elif reply.fail == "garbage":
            elements.append(GARBAGE)
        if sse:
            return [b"data: " + element + self.sse_separator for element in elements]
        frames = [(b",\r\n" if k else b"[") + element for k, element in enumerate(elements)]
        if reply.fail != "drop":
            if frames:
                frames[-1] += b"]"
            else:
                frames = [b"[]"]
        return frames

    async def _stream(self, request: web.Request, generation: _Generation, *, sse: bool) -> web.StreamResponse:
        reply = generation.reply
        content_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
        return await self.stream(request, self._frames(generation, sse=sse), reply, content_type, reply.fail == "drop")
