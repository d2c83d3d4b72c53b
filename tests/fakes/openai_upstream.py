"""A fake OpenAI-compatible upstream, served over a real socket, for the gateway's tests.

Why a real server: streaming pass-through, back-pressure, error mapping, retries and disconnect
propagation only show up on a real connection, so this fake speaks OpenAI Chat Completions byte for
byte as OpenAI's Chat Completions API reference (streaming included) gives it (compact JSON,
`data: ...\\n\\n` frames, `data: [DONE]`).

    async with FakeOpenAI() as fake:
        fake.script(text("Hel", "lo"), error(429, "Slow down", headers={"retry-after": "1"}))
        client = openai.AsyncOpenAI(base_url=fake.url, api_key="sk-test")
        ...
        assert fake.requests[0].json["model"] == "gpt-x"

Scripted replies are consumed one per chat-completion request, first in first out; when the queue
is empty the fake answers `text("Hello", " from", " fake")`, echoing the requested model.
`/v1/completions` (the legacy Completions API) takes the next scripted reply too, as text.
The audio and images endpoints (`/v1/audio/speech`, `/v1/audio/transcriptions`,
`/v1/images/generations`, `/v1/images/edits`) take the next scripted reply when it is a
`media(...)` or an `error(...)`, and otherwise answer with made-up media that tells what they
received; `form(recorded)` parses a multipart request they were sent. `/v1/moderations` answers
OpenAI's moderation object, flagging the words of `_FLAGGED` (or the next scripted reply when it is an
`error(...)`).
The same module has the other upstream failures that tests need: `refused_port()` (nothing
listening) and `ResettingUpstream` (accepts, then resets the connection).

`FakeOpenAI(azure=True)` is an Azure OpenAI resource's v1 API instead: the same endpoints under
`/openai/v1`, the key taken from the `api-key` header or a Microsoft Entra ID token from
`authorization` (a 401 in Azure's words without either), and its
content filter's results in every answer as Azure adds them: `prompt_filter_results` beside the
choices, each choice's `content_filter_results`, and a stream that opens with a chunk of prompt
filter results alone (empty id, model and object, no choice, `created` 0).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.policy
import secrets
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any, Literal

import orjson
from aiohttp import web

from tests.fakes.pacing import GARBAGE, Streaming, abort, cut_body

Json = dict[str, Any]



@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it, so tests can assert on what the gateway sent upstream."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    json: Any  # the parsed body, or None when the body is empty or not JSON
    body: bytes


@dataclass(slots=True, frozen=True)
class Usage:
    """Token counts for a reply. As on the wire, cached and reasoning tokens are sub-counts."""

    prompt_tokens: int = 10
    completion_tokens: int = 5
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def to_json(self) -> Json:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _call_id() -> str:
    return "call_" + secrets.token_hex(8)


@dataclass(slots=True, frozen=True)
class ToolCall:
    """One tool call. `fragments` are the pieces its JSON arguments stream in; for a `custom`
    (freeform) tool, such as Codex's `apply_patch`, the pieces of its raw `input` text."""

    name: str
    fragments: tuple[str, ...] = ("{}",)
    id: str = field(default_factory=_call_id)
    kind: Literal["function", "custom"] = "function"

    @property
    def arguments(self) -> str:
        return "".join(self.fragments)

    def whole(self) -> Json:
        """The call as `message.tool_calls` lists it."""
        if self.kind == "custom":
            return {"id": self.id, "type": "custom", "custom": {"name": self.name, "input": self.arguments}}
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    def deltas(self, index: int) -> list[Json]:
        """The `delta.tool_calls` entries it streams as: id, type and name first, then each fragment."""
        key, field_ = ("custom", "input") if self.kind == "custom" else ("function", "arguments")
        first = {"index": index, "id": self.id, "type": self.kind, key: {"name": self.name, field_: ""}}
        return [first, *({"index": index, key: {field_: f}} for f in self.fragments)]


@dataclass(slots=True, kw_only=True)
class Reply:
    """A successful completion. Streamed, each piece is one chunk; not streamed, pieces are joined.

    Chunks go out in this order: role, `reasoning_content` pieces, `content` pieces, tool-call
    fragments, finish, usage (only when the request asked for it), `[DONE]`.

    - `finish_reason`: defaults to "tool_calls" when there are tool calls, else "stop".
    - `model`: overrides the echoed request model.
    - `head_delay`: seconds to wait before the response headers (for timeout tests).
    - `chunk_delay`: seconds to wait before every frame after the first.
    - `gate`: awaited before every frame after the first. The fake never clears it, so a test can
      check a chunk reached the client while the upstream still holds the next, then `set()` it.
    - `fail`: end a stream early after the pieces, instead of the finish chunk: "error" writes
      `data: {"error": ...}` and ends without `[DONE]`; "drop" aborts the TCP connection; "cut"
      ends cleanly without `[DONE]`;
      "empty" and "junk" (`pacing.BEFORE_ANY_EVENT`) fail before any event;
      "garbage" sends an event that is not JSON, then ends so.
      A non-streamed request gets a 500 error body for "error" and an aborted connection for "drop";
      for "cut" and "garbage", half of its body (`pacing.cut_body`).
    """

    content: Sequence[str] = ()
    reasoning: Sequence[str] = ()
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    head_delay: float = 0.0
    chunk_delay: float = 0.0
    gate: asyncio.Event | None = None
    fail: Literal["error", "drop", "cut", "garbage", "empty", "junk"] | None = None
    fail_message: str = "The upstream failed mid-stream."


@dataclass(slots=True, kw_only=True)
class ErrorReply:
    """An HTTP error in OpenAI's shape, sent instead of a completion (streamed or not)."""

    status: int
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # e.g. retry-after, x-should-retry
    head_delay: float = 0.0

    def to_json(self) -> Json:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def text(*pieces: str, **options: Any) -> Reply:
    """A text reply; each piece is one content chunk. Options are `Reply` fields, e.g. `reasoning=`."""
    return Reply(content=pieces, **options)


def call(name: str, *fragments: str, id: str | None = None) -> ToolCall:
    """A tool call whose arguments stream as `fragments` (default `{}`)."""
    return ToolCall(name, fragments or ("{}",), id or _call_id())


def custom_call(name: str, *fragments: str, id: str | None = None) -> ToolCall:
    """A call of a custom (freeform) tool whose raw input streams as `fragments`."""
    return ToolCall(name, fragments or ("",), id or _call_id(), "custom")


def tool_calls(*calls: ToolCall, **options: Any) -> Reply:
    """A reply of parallel tool calls (stream indexes 0, 1, ...). Options are `Reply` fields."""
    return Reply(tool_calls=calls, **options)


def error(
    status: int,
    message: str,
    *,
    type: str | None = None,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    head_delay: float = 0.0,
) -> ErrorReply:
    """An HTTP error reply; `type` defaults to what OpenAI uses for the status class."""
    return ErrorReply(
        status=status,
        message=message,
        type=type or ("server_error" if status >= 500 else "invalid_request_error"),
        param=param,
        code=code,
        headers=headers or {},
        head_delay=head_delay,
    )


def fail_mid_stream(*pieces: str, drop: bool = False, message: str | None = None, **options: Any) -> Reply:
    """A stream that sends the role chunk and `pieces`, then an error frame, or drops the connection."""
    if message is not None:
        options["fail_message"] = message
    return Reply(content=pieces, fail="drop" if drop else "error", **options)


@dataclass(slots=True, kw_only=True)
class MediaReply:
    """An answer of the audio and images endpoints. Each of `pieces` is written as it is, paced as
    chat streams are (`chunk_delay`, `gate`); with no pieces, the endpoint's own made-up answer is
    sent with this pacing. `drop` aborts the connection after the pieces."""

    pieces: Sequence[bytes] = ()
    content_type: str | None = None
    head_delay: float = 0.0
    chunk_delay: float = 0.0
    gate: asyncio.Event | None = None
    drop: bool = False


def media(*pieces: bytes, **options: Any) -> MediaReply:
    """A scripted media answer; options are `MediaReply` fields, e.g. `gate=` or `content_type=`."""
    return MediaReply(pieces=pieces, **options)


@dataclass(slots=True, frozen=True)
class FormPart:
    name: str
    filename: str | None  # None for a text field
    content_type: str | None  # None when the part named none
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode()


def form(recorded: RecordedRequest) -> list[FormPart]:
    """The parts of a multipart request as received, in order. Parsed with the standard library's
    email parser, not python-multipart, so a bug the gateway's parser has cannot hide itself."""
    head = f"Content-Type: {recorded.headers.get('content-type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + recorded.body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    return [FormPart(part.get_param("name", header="content-disposition"), part.get_filename(),  # type: ignore[union-attr]
                     part.get_content_type() if "content-type" in part else None, part.get_payload(decode=True))
            for part in message.iter_parts()]  # type: ignore[union-attr]


# What the fake's speech "sounds" like: an ID3 tag, then the input; and its images: a PNG signature,
# or the signature of the `output_format` asked for.
FAKE_AUDIO_HEAD = b"ID3\x04\x00\x00fake-audio|"
FAKE_PNG_HEAD = b"\x89PNG\r\n\x1a\nfake-image|"
FAKE_IMAGE_HEADS = {"png": FAKE_PNG_HEAD, "jpeg": b"\xff\xd8\xff\xe0fake-image|",
                    "webp": b"RIFF\x00\x00\x00\x00WEBPfake-image|"}
SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                "wav": "audio/wav", "pcm": "audio/pcm"}


def _media_usage(input_tokens: int, output_tokens: int, **extra: Any) -> Json:
    return {**extra, "input_tokens": input_tokens, "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens}


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers)


def _sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


AZURE_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                 "valid key for an active subscription and use a correct regional API endpoint for your resource.")
_SAFE = {"filtered": False, "severity": "safe"}
_AZURE_FILTERED = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_AZURE_PROMPT = [{"prompt_index": 0, "content_filter_results": {
    **_AZURE_FILTERED, "jailbreak": {"filtered": False, "detected": False}}}]


class _Completion:
    """Renders one reply for one request: the id, timestamp, model and options all chunks share."""

    def __init__(self, reply: Reply, body: Json, azure: bool = False) -> None:
        self.azure = azure
        self.reply = reply
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = reply.model or body.get("model") or "fake-model"
        self.n = body.get("n") or 1
        self.logprobs = body.get("logprobs") is True
        self.top_logprobs = body.get("top_logprobs") or 0
        self.include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        self.finish_reason = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    def _head(self, obj: str) -> Json:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }

    def _token(self, piece: str) -> Json:
        """Logprobs for one piece, treated as one token; alternatives are made up but well-formed."""
        alternatives = [piece] + [f"alt{k}" for k in range(1, self.top_logprobs)]
        top = [{"token": t, "logprob": -0.1 * (k + 1), "bytes": list(t.encode())} for k, t in enumerate(alternatives)]
        return {**top[0], "top_logprobs": top[: self.top_logprobs]}

    def _logprobs(self, pieces: Sequence[str]) -> Json | None:
        return {"content": [self._token(p) for p in pieces], "refusal": None} if self.logprobs else None

    def whole(self) -> Json:
        """The non-streamed `chat.completion` object."""
        r = self.reply
        message: Json = {
            "role": "assistant",
            "content": "".join(r.content) if r.content else None,
            "refusal": None,
            "annotations": [],
        }
        if r.reasoning:
            message["reasoning_content"] = "".join(r.reasoning)
        if r.tool_calls:
            message["tool_calls"] = [c.whole() for c in r.tool_calls]
        choices = [
            {"index": i, "message": message, "logprobs": self._logprobs(r.content), "finish_reason": self.finish_reason}
            for i in range(self.n)
        ]
        whole = {**self._head("chat.completion"), "choices": choices, "usage": r.usage.to_json()}
        if self.azure:
            for choice in choices:
                choice["content_filter_results"] = _AZURE_FILTERED
            whole["prompt_filter_results"] = _AZURE_PROMPT
        return whole

    def _filtered(self, delta: Json) -> Json:
        """Azure's results for a streamed choice: of the text it holds, else none yet."""
        if not self.azure:
            return {}
        return {"content_filter_results": _AZURE_FILTERED if delta.get("content") else {}}

    def frames(self) -> list[bytes]:
        """Every SSE frame of the stream, choices interleaved per step, ending as `reply.fail` says."""
        r = self.reply
        # (delta, logprobs, finish_reason) for one choice; all n choices get the same steps.
        steps: list[tuple[Json, Json | None, str | None]] = [({"role": "assistant", "content": ""}, None, None)]
        steps += [({"reasoning_content": p}, None, None) for p in r.reasoning]
        steps += [({"content": p}, self._logprobs([p]), None) for p in r.content]
        for index, c in enumerate(r.tool_calls):
            steps += [({"tool_calls": [d]}, None, None) for d in c.deltas(index)]
        if r.fail is None:
            steps.append(({}, None, self.finish_reason))

        head = self._head("chat.completion.chunk")
        tail = {"usage": None} if self.include_usage else {}
        frames = [
            _sse({**head, "choices": [{"index": i, "delta": d, "logprobs": lp, "finish_reason": fr,
                                       **self._filtered(d)}], **tail})
            for d, lp, fr in steps
            for i in range(self.n)
        ]
        if self.azure:
            frames.insert(0, _sse({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                   "prompt_filter_results": _AZURE_PROMPT}))
        if r.fail == "error":
            frames.append(_sse({"error": {"message": r.fail_message, "type": "server_error", "code": None}}))
        elif r.fail == "garbage":
            frames.append(b"data: " + GARBAGE + b"\n\n")
        elif r.fail is None:
            if self.include_usage:
                frames.append(_sse({**head, "choices": [], "usage": r.usage.to_json()}))
            frames.append(b"data: [DONE]\n\n")
        return frames


class _TextCompletion:
    """Renders one reply to a legacy Completions request (`/v1/completions`, OpenAI's Completions
    API reference): `text_completion` objects, streamed and whole alike, one choice per prompt and
    `n`; `echo` puts the prompt before the text, `suffix` is kept by the recorded request only.
    Only `fail="error"` of the failures is rendered (an error chunk, or a 500)."""

    def __init__(self, reply: Reply, body: Json) -> None:
        self.reply = reply
        self.id = "cmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = reply.model or body.get("model") or "fake-model"
        prompt = body.get("prompt")
        self.prompts = prompt if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int) else [prompt]
        self.n = body.get("n") or 1
        self.echo = body.get("echo") is True
        self.include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        self.finish_reason = reply.finish_reason or "stop"

    def _head(self) -> Json:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "system_fingerprint": "fp_fake"}

    def _usage(self) -> Json:
        usage = self.reply.usage
        return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.prompt_tokens + usage.completion_tokens}

    def _choices(self) -> list[tuple[int, str]]:
        """(index, the text before the answer) of every choice."""
        return [(p * self.n + k, str(prompt) if self.echo else "") for p, prompt in enumerate(self.prompts)
                for k in range(self.n)]

    def whole(self) -> Json:
        text = "".join(self.reply.content)
        choices = [{"text": before + text, "index": index, "logprobs": None, "finish_reason": self.finish_reason}
                   for index, before in self._choices()]
        return {**self._head(), "choices": choices, "usage": self._usage()}

    def frames(self) -> list[bytes]:
        tail = {"usage": None} if self.include_usage else {}
        frames = []
        for index, before in self._choices():
            pieces = [before, *self.reply.content] if before else list(self.reply.content)
            frames += [_sse({**self._head(), "choices": [{"text": piece, "index": index, "logprobs": None,
                                                          "finish_reason": None}], **tail}) for piece in pieces]
            if self.reply.fail is None:
                frames.append(_sse({**self._head(), "choices": [{"text": "", "index": index, "logprobs": None,
                                                                 "finish_reason": self.finish_reason}], **tail}))
        if self.reply.fail == "error":
            failure = {"message": self.reply.fail_message, "type": "server_error", "code": None}
            return [*frames, _sse({"error": failure})]
        if self.include_usage:
            frames.append(_sse({**self._head(), "choices": [], "usage": self._usage()}))
        return [*frames, b"data: [DONE]\n\n"]


_RECORDED = web.RequestKey("recorded", RecordedRequest)
_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
               "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
               "violence/graphic")
_IMAGE_CATEGORIES = frozenset({"self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "violence",
                               "violence/graphic"})
_FLAGGED = {"hurt": "violence", "steal": "illicit", "idiot": "harassment"}


def _moderation(text: str) -> Json:
    hit = {_FLAGGED[word] for word in text.lower().split() if word in _FLAGGED}
    return {"flagged": bool(hit),
            "categories": {c: c in hit for c in _CATEGORIES},
            "category_scores": {c: 0.91 if c in hit else 0.0001 for c in _CATEGORIES},
            "category_applied_input_types": {c: ["text", "image"] if c in _IMAGE_CATEGORIES else ["text"]
                                             for c in _CATEGORIES}}


class FakeOpenAI(Streaming):
    """An OpenAI-compatible server on 127.0.0.1 (ephemeral port), run in the caller's event loop.

    Attributes: `url` (base URL ending in /v1, set on entry), `requests` (every `RecordedRequest`,
    models calls included), `disconnects` (streams whose client left before the stream ended),
    `models` (ids served by /v1/models), `default` (the reply used when the script is empty).
    """

    def __init__(self, models: Sequence[str] = ("fake-model",), *, default: Reply | ErrorReply | None = None,
                 azure: bool = False) -> None:
        self.azure = azure
        self.models = list(models)
        self.default = default or text("Hello", " from", " fake")
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self._script: deque[Reply | ErrorReply | MediaReply] = deque()

    def script(self, *replies: Reply | ErrorReply | MediaReply) -> None:
        """Queue replies for the next chat-completion requests, one each, in order."""
        self._script.extend(replies)

    async def __aenter__(self) -> FakeOpenAI:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        base = "/openai/v1" if self.azure else "/v1"
        app.router.add_post(f"{base}/chat/completions", self._chat)
        app.router.add_post(f"{base}/completions", self._completions)
        app.router.add_post(f"{base}/embeddings", self._embeddings)
        app.router.add_post(f"{base}/moderations", self._moderations)
        app.router.add_post(f"{base}/audio/speech", self._speech)
        app.router.add_post(f"{base}/audio/transcriptions", self._transcription)
        app.router.add_post(f"{base}/images/generations", self._images)
        app.router.add_post(f"{base}/images/edits", self._images)
        app.router.add_get(f"{base}/models", self._list_models)
        app.router.add_get(base + "/models/{id:.+}", self._get_model)  # ids may contain slashes
        self.url = await self.serve(app) + base
        return self

    @web.middleware
    async def _record(self, request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        request[_RECORDED] = recorded = RecordedRequest(request.method, request.path, headers, parsed, body)
        self.requests.append(recorded)
        if self.azure and not headers.get("api-key") and not headers.get("authorization", "").startswith("Bearer "):
            return _json_response({"error": {"code": "401", "message": AZURE_DENIED}}, 401)
        return await handler(request)

    async def _embeddings(self, request: web.Request) -> web.Response:
        """Vectors that tell their inputs apart: [index, length of the input, 1.0], as floats or base64."""
        body = request[_RECORDED].json or {}
        inputs = body.get("input")
        if not inputs:
            return _json_response(error(400, "'input' is required", param="input").to_json(), 400)
        items = [inputs] if isinstance(inputs, str) or isinstance(inputs[0], int) else inputs
        data = []
        for i, item in enumerate(items):
            vector = [float(i), float(len(item)), 1.0][: body.get("dimensions") or 3]
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(len(str(item).split()) for item in items)
        return _json_response({"object": "list", "data": data, "model": body.get("model"),
                               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _moderations(self, request: web.Request) -> web.Response:
        """OpenAI's moderation object: a result per string of an array, one for multi-modal parts.
        Text with a word of `_FLAGGED` is flagged in that word's category, scored 0.91."""
        body = request[_RECORDED].json or {}
        inputs = body.get("input")
        if not inputs:
            return _json_response(error(400, "'input' is a required property", param="input").to_json(), 400)
        if self._script and isinstance(self._script[0], ErrorReply):
            failure = self._script.popleft()
            assert isinstance(failure, ErrorReply)
            return _json_response(failure.to_json(), failure.status, failure.headers)
        if isinstance(inputs, str):
            groups = [[inputs]]
        elif all(isinstance(item, str) for item in inputs):
            groups = [[item] for item in inputs]
        elif any(not isinstance(item, dict) for item in inputs):
            return _json_response(error(400, "Invalid type for 'input': expected an array of strings or of "
                                             "objects, not both.", param="input").to_json(), 400)
        else:
            groups = [[part.get("text", "") for part in inputs if part.get("type") == "text"]]
        model = body.get("model") or "omni-moderation-latest"
        snapshot = {"omni-moderation-latest": "omni-moderation-2024-09-26",
                    "text-moderation-latest": "text-moderation-007"}.get(model, model)
        return _json_response({"id": f"modr-{secrets.token_hex(12)}", "model": snapshot,
                               "results": [_moderation(" ".join(texts)) for texts in groups]})

    def _model_object(self, model_id: str) -> Json:
        return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fake"}

    async def _list_models(self, request: web.Request) -> web.Response:
        return _json_response({"object": "list", "data": [self._model_object(m) for m in self.models]})

    async def _get_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["id"]
        if model_id not in self.models:
            message = f"The model '{model_id}' does not exist or you do not have access to it."
            return _json_response(error(404, message, code="model_not_found").to_json(), 404)
        return _json_response(self._model_object(model_id))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[_RECORDED].json
        if not isinstance(body, dict):
            return _json_response(error(400, "We could not parse the JSON body of your request.").to_json(), 400)
        reply = self._script.popleft() if self._script else self.default
        await asyncio.sleep(reply.head_delay)
        if isinstance(reply, ErrorReply):
            return _json_response(reply.to_json(), reply.status, reply.headers)
        completion = _Completion(reply, body, self.azure)
        if body.get("stream"):
            return await self._stream(request, completion)
        if reply.fail == "drop":
            abort(request)
            return web.Response()  # never reaches the client: the connection is gone
        if reply.fail == "error":
            return _json_response(error(500, reply.fail_message).to_json(), 500)
        if reply.fail is not None:
            return await cut_body(request, orjson.dumps(completion.whole()), reply.fail)
        return _json_response(completion.whole())

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = request[_RECORDED].json
        if not isinstance(body, dict) or body.get("prompt") is None:
            return self._missing("prompt")
        reply = self._script.popleft() if self._script else self.default
        if isinstance(reply, ErrorReply):
            return _json_response(reply.to_json(), reply.status, reply.headers)
        assert isinstance(reply, Reply), "a completion is scripted as a text reply"
        completion = _TextCompletion(reply, body)
        if body.get("stream"):
            return await self.stream(request, completion.frames(), reply, "text/event-stream; charset=utf-8", False)
        if reply.fail == "error":
            return _json_response(error(500, reply.fail_message).to_json(), 500)
        return _json_response(completion.whole())

    async def _stream(self, request: web.Request, completion: _Completion) -> web.StreamResponse:
        reply = completion.reply
        return await self.stream(request, completion.frames(), reply, "text/event-stream; charset=utf-8",
                                 reply.fail == "drop")

    # Audio and images ---------------------------------------------------------------------------

    def _scripted_media(self) -> MediaReply | ErrorReply:
        if self._script and isinstance(self._script[0], (MediaReply, ErrorReply)):
            return self._script.popleft()  # type: ignore[return-value]
        return MediaReply()

    async def _send_media(self, request: web.Request, reply: MediaReply | ErrorReply, pieces: Sequence[bytes],
                          content_type: str) -> web.StreamResponse:
        """Write the answer piece by piece (chunked, as OpenAI streams speech), or the scripted error."""
        await asyncio.sleep(reply.head_delay)
        if isinstance(reply, ErrorReply):
            return _json_response(reply.to_json(), reply.status, reply.headers)
        return await self.stream(request, reply.pieces or pieces, reply, reply.content_type or content_type, reply.drop)

    @staticmethod
    def _missing(param: str) -> web.Response:
        return _json_response(error(400, f"Missing required parameter: '{param}'.", param=param,
                                    code="missing_required_parameter").to_json(), 400)

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        """Audio of the input, in three pieces; SSE `speech.audio.delta`/`done` for `stream_format: sse`."""
        body = request[_RECORDED].json
        if not isinstance(body, dict):
            return _json_response(error(400, "We could not parse the JSON body of your request.").to_json(), 400)
        for param in ("model", "input", "voice"):
            if not body.get(param):
                return self._missing(param)
        reply = self._scripted_media()
        pieces = [FAKE_AUDIO_HEAD, body["input"].encode(), b"|end"]
        if body.get("stream_format") == "sse":
            events = [_sse({"type": "speech.audio.delta", "audio": base64.b64encode(p).decode()}) for p in pieces]
            done = {"type": "speech.audio.done", "usage": _media_usage(len(body["input"]), 3 * len(pieces))}
            return await self._send_media(request, reply, [*events, _sse(done)], "text/event-stream")
        content_type = SPEECH_TYPES.get(body.get("response_format") or "mp3", "application/octet-stream")
        return await self._send_media(request, reply, pieces, content_type)

    async def _transcription(self, request: web.Request) -> web.StreamResponse:
        """A transcript that names the file and its size, in the `response_format` asked for;
        streamed as `transcript.text.delta` events and a `done` with usage when `stream` is true
        (ignored by whisper models, as OpenAI does)."""
        try:
            parts = form(request[_RECORDED])
        except ValueError:
            return _json_response(error(400, "Could not parse multipart form").to_json(), 400)
        fields = {p.name: p.text for p in parts if p.filename is None}
        files = [p for p in parts if p.name == "file" and p.filename is not None]
        if not files:
            return self._missing("file")
        if not fields.get("model"):
            return self._missing("model")
        reply = self._scripted_media()
        model, upload = fields["model"], files[0]
        words = ["transcript", "of", upload.filename or "", f"({len(upload.data)} bytes)"]
        text = " ".join(words)
        usage = ({"type": "duration", "seconds": 1} if "whisper" in model else
                 _media_usage(len(upload.data) // 100, len(words), type="tokens"))
        if fields.get("stream") == "true" and "whisper" not in model:
            events = [_sse({"type": "transcript.text.delta", "delta": w if not i else " " + w})
                      for i, w in enumerate(words)]
            done = _sse({"type": "transcript.text.done", "text": text, "usage": usage})
            return await self._send_media(request, reply, [*events, done], "text/event-stream; charset=utf-8")
        fmt = fields.get("response_format") or "json"
        if fmt == "text":
            return await self._send_media(request, reply, [text.encode() + b"\n"], "text/plain; charset=utf-8")
        if fmt in ("srt", "vtt"):
            stamp = "00:00:00,000 --> 00:00:01,000" if fmt == "srt" else "WEBVTT\n\n00:00:00.000 --> 00:00:01.000"
            cue = f"1\n{stamp}\n{text}\n\n" if fmt == "srt" else f"{stamp}\n{text}\n\n"
            return await self._send_media(request, reply, [cue.encode()], "text/plain; charset=utf-8")
        payload: Json = {"text": text, "usage": usage}
        if fmt == "verbose_json":
            granularities = [p.text for p in parts if p.name == "timestamp_granularities[]"] or ["segment"]
            payload = {"task": "transcribe", "language": fields.get("language") or "english", "duration": 1.0,
                       "text": text, "usage": usage}
            if "segment" in granularities:
                payload["segments"] = [{"id": 0, "start": 0.0, "end": 1.0, "text": text}]
            if "word" in granularities:
                payload["words"] = [{"word": w, "start": i * 0.25, "end": (i + 1) * 0.25} for i, w in enumerate(words)]
        return await self._send_media(request, reply, [orjson.dumps(payload)], "application/json")

    async def _images(self, request: web.Request) -> web.StreamResponse:
        """`n` made-up PNGs (or JPEGs or WEBPs, by `output_format`; or URLs) of the prompt; for an
        edit, made from the uploaded images, whose count and sizes the `revised_prompt` tells.
        `stream: true` sends one partial image and a completed event per image, as gpt-image models
        do."""
        edit = request.path.endswith("/edits")
        recorded = request[_RECORDED]
        if edit and recorded.json is None:
            try:
                parts = form(recorded)
            except ValueError:
                return _json_response(error(400, "Could not parse multipart form").to_json(), 400)
            body: Json = {p.name: p.text for p in parts if p.filename is None}
            images = [p for p in parts if p.name in ("image", "image[]") and p.filename is not None]
            if not images:
                return self._missing("image")
            source = f" from {len(images)} images of {[len(p.data) for p in images]} bytes"
        else:
            body, source = recorded.json if isinstance(recorded.json, dict) else {}, ""
        if not body.get("prompt"):
            return self._missing("prompt")
        head = FAKE_IMAGE_HEADS.get(body.get("output_format") or "png")
        if head is None:
            refused = error(400, "Invalid value for 'output_format'.", param="output_format")
            return _json_response(refused.to_json(), 400)
        reply = self._scripted_media()
        n = int(body.get("n") or 1)
        usage = _media_usage(10, 100 * n, input_tokens_details={"text_tokens": 10, "image_tokens": 0})
        made = [head + f"{body['prompt']}|{i}".encode() for i in range(n)]
        if str(body.get("stream")).lower() == "true":
            kind = "image_edit" if edit else "image_generation"
            events = []
            for image in made:
                b64 = base64.b64encode(image).decode()
                events.append(_sse({"type": f"{kind}.partial_image", "b64_json": b64[:8], "partial_image_index": 0}))
                events.append(_sse({"type": f"{kind}.completed", "b64_json": b64,
                                    "usage": _media_usage(10, 100, input_tokens_details={"text_tokens": 10})}))
            return await self._send_media(request, reply, events, "text/event-stream")
        if body.get("response_format") == "url":
            data = [{"url": f"https://images.fake.invalid/{i}.png"} for i in range(n)]
        else:
            data = [{"b64_json": base64.b64encode(image).decode(), "revised_prompt": body["prompt"] + source}
                    for image in made]
        payload = {"created": int(time.time()), "data": data, "usage": usage}
        return await self._send_media(request, reply, [orjson.dumps(payload)], "application/json")


def refused_port() -> int:
    """A localhost port with nothing listening, for connection-refused tests.

    The port was just free; another process could take it before the test connects, which is
    unlikely enough for tests.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ResettingUpstream:
    """Accepts connections, reads the request head, then resets (RST) the connection.

    Reading the head first makes the client fail while waiting for the response, as with an
    upstream that crashes, rather than while sending. `connections` counts accepted connections.
    """

    def __init__(self) -> None:
        self.url = ""
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ResettingUpstream:
        self._server = await asyncio.start_server(self._reset, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _reset(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
