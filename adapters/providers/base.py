"""The provider interface: an upstream, its connection pool, and how one call to it is answered.

A provider renders the IR with its upstream's codec, sends it, and hands back a `Reply`
(`adapters/replies.py`). When the client speaks the upstream's own dialect the reply is the
upstream's bytes, to be passed through. Otherwise it is IR: a result object or a stream of IR
events. Failures before the first byte raise `GatewayError`, with `retryable` set where a fallback
target may be tried.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import secrets
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

import httpx
import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import openai_media as media
from interlingua.adapters.dialects import tools
from interlingua.adapters.dialects.base import MISSHAPEN, StreamDecoder, UpstreamDialect
from interlingua.adapters.dialects.openai_moderations import ModerationRequest
from interlingua.adapters.providers import (
    candidates,
    chat_utilities,
    compaction,
    context,
    one_call,
    slots,
    stops,
    verbatim,
)
from interlingua.adapters.providers.params import refuse_unsupported
from interlingua.adapters.providers.seal import Seal
from interlingua.adapters.providers.tokens import estimate_tokens
from interlingua.adapters.providers.transport import AiohttpTransport, AnswerTooLarge, read_body
from interlingua.adapters.replies import Body, Chunks, Events, Reply, Result
from interlingua.adapters.storage.reasoning import ReasoningStore
from interlingua.adapters.telemetry import OUTGOING

log = logging.getLogger("interlingua.upstream")
T = TypeVar("T")


@dataclass(slots=True, frozen=True)
class Target:
    provider: Provider
    model: str
    label: str = field(init=False, repr=False, compare=False)  # "provider/model", read several times a request
    capabilities: tuple[str, ...] = field(init=False, repr=False, compare=False)  # routing reads them each request

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", f"{self.provider.name}/{self.model}")
        object.__setattr__(self, "capabilities", self.provider.capabilities(self.model))


def transport_error(exc: httpx.HTTPError, name: str) -> ir.GatewayError:
    """A network failure as the status a client should see; the upstream URL and key stay out."""
    if isinstance(exc, httpx.ConnectError):
        return ir.GatewayError("unavailable", f"upstream {name} refused the connection", retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return ir.GatewayError("timeout", f"upstream {name} timed out", retryable=True)
    return ir.GatewayError("upstream", f"upstream {name} closed the connection: {type(exc).__name__}",
                           retryable=True)


class Provider(ABC):
    """An upstream of one kind, with one pooled connection transport.

    The chat flow is shared; a kind says where it posts (`chat_path`), how it authenticates, and
    what a same-dialect body needs besides the model name (`native_body`).
    """

    kind: str
    codec: UpstreamDialect[ir.ChatRequest, ir.ChatResponse]
    chat_path: str
    media: frozenset[str] = frozenset()  # of speech, transcription, images: what the kind implements
    signs_text = False  # whether the kind's reasoning signatures cover the thinking text (Anthropic's do)
    key_env: ClassVar[str | None] = None  # where a key usually comes from, for a kind that cannot work without

    def __init__(
        self,
        name: str,
        url: str,
        key: str | None = None,
        models: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        reasoning_store: ReasoningStore | None = None,
        drop: tuple[str, ...] = (),
        seal: Seal | None = None,
        context_windows: dict[str, int] | None = None,
        max_texts: int = 1000,
        max_chars: int = 1_000_000,
    ) -> None:
        self.name = name
        self.context_windows = context_windows or {}
        self.max_texts = max_texts  # of a rerank request
        self.max_chars = max_chars
        self.drop = drop
        self.key = key
        self.url = url.rstrip("/")
        self.models = models
        self.transport = AiohttpTransport()
        self.headers = [*self.auth_headers(key).items(), *(headers or {}).items(),
                        ("content-type", "application/json"), ("accept-encoding", "gzip, deflate")]
        self.timeout = {"connect": connect_timeout, "read": timeout, "write": timeout, "pool": connect_timeout}
        self.reasoning_store = reasoning_store
        self.seal = seal

    @abstractmethod
    def auth_headers(self, key: str | None) -> dict[str, str]: ...

    def path(self, request: ir.ChatRequest, model: str) -> str:
        """Where a chat request for `model` is posted."""
        return self.chat_path

    def native_body(self, request: ir.ChatRequest, model: str, native: dict[str, Any]) -> dict[str, Any]:
        """`native`, the client's own body, for a same-dialect upstream, with the upstream's model name."""
        body = dict(native)
        body["model"] = model
        return body

    def native_payload(self, request: ir.ChatRequest, model: str) -> bytes:
        """`native_body` as sent: the bytes the client's body came in where it changes no more than
        the model name (`verbatim.py`), else encoded from `request.native`, which checks it first."""
        if request.raw is not None:
            parsed = ir.as_parsed(request) or {}
            body = self._without_dropped(self.native_body(request, model, parsed))
            payload = verbatim.payload(request.raw, parsed, body)
            if payload is not None:
                return payload
        return orjson.dumps(self._without_dropped(self.native_body(request, model, request.native or {})))

    def _without_dropped(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in self.drop:
            body.pop(name, None)
        return body

    def forwarded_headers(self, request: ir.ChatRequest) -> list[tuple[str, str]]:
        """Client headers that a same-dialect upstream must see (Anthropic's beta flags)."""
        return list((request.headers or {}).items())

    def context_window(self, model: str) -> int:
        """The tokens `model` reads at most: as configured, else its family's (`context.WINDOWS`)."""
        return self.context_windows.get(model) or context.default_window(model)

    def is_native(self, request: ir.ChatRequest) -> bool:
        """Whether the client's own body goes upstream. A same-dialect history can still hold
        values this gateway sealed (earlier turns served by another kind): such a request goes
        the translated way, where they are opened or dropped."""
        return (request.dialect == self.codec.name and ir.as_parsed(request) is not None
                and not (self.seal is not None and slots.has_sealed(request)))

    def encode(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        """A client's request of another dialect as this upstream's body: its reasoning state
        restored, its tools as this upstream can take them (`dialects/tools.py`)."""
        return self.codec.encode_request(tools.adapt_request(self.restore_reasoning(request), self.codec.name), model)

    async def chat(self, request: ir.ChatRequest, model: str) -> Reply:
        if (n := candidates.wanted(request, self.codec.name)) > 1 and not self.is_native(request):
            one = replace(request, n=None)
            return await candidates.gather(lambda: self.chat(one, model), n)
        request, applied = await context.manage(request, self, model)
        native = self.is_native(request)
        emulated: list[str] = []
        if native:
            payload, extra = self.native_payload(request, model), self.forwarded_headers(request)
        else:
            refuse_unsupported(request, self.codec.name)
            request, emulated = stops.split(request, self.codec.name)
            payload, extra = orjson.dumps(self._without_dropped(self.encode(request, model))), []
        response = await self.open(self.path(request, model), payload, extra)
        if request.stream:
            if native:
                return Chunks(self.chunks(response), response.aclose)
            events = self.events(response, self.codec.stream_decoder())
            events = tools.restore_stream(self._keeping(request, events), request)
            if emulated:
                events = stops.cut_stream(events, emulated, request.n or 1, response.aclose,
                                          estimate_tokens(request))
            if one_call.wanted(request, self.codec.name):
                events = one_call.first_call_events(events)
            if applied is not None:
                events = context.reporting(events, applied)
            return Events(events, response.aclose)
        raw = await self.read(response)
        if native:
            return Body(raw)
        result = tools.restore_response(self.decoded(raw, self.codec.decode_response), request)
        for choice in result.choices:
            self._keep(request, choice.message.parts)
        result.applied_edits = applied
        if one_call.wanted(request, self.codec.name):
            result = one_call.first_calls(result)
        return Result(stops.cut_response(result, emulated) if emulated else result)

    async def count_tokens(self, request: ir.ChatRequest, model: str) -> ir.TokenCount:
        """Input tokens as the upstream counts them; a local estimate where it has no endpoint."""
        return ir.TokenCount(estimate_tokens(request), exact=False)

    async def compact(self, request: ir.ChatRequest, model: str) -> Reply:
        """`/v1/responses/compact` where the upstream has no such endpoint: the user messages as
        they were, and the conversation summarised by the model (earlier compactions opened into
        it), sealed so that only this gateway's secret opens it when the client sends it back."""
        if self.seal is None:
            raise ir.GatewayError("invalid_request", "compaction needs the gateway's secret to seal the summary")
        restored = self.restore_reasoning(request)
        conversation = [m for m in restored.messages if m.role not in ("system", "developer")]
        summary, usage = await compaction.summarise(self, model, conversation)
        users: list[ir.Message] = []
        for message in request.messages:
            kept: list[ir.Part] = [p for p in message.parts if not isinstance(p, ir.Opaque)]
            if message.role == "user" and kept:
                users.append(ir.Message("user", kept))
        state = self.seal.close(slots.COMPACTION, ir.Reasoning(text=summary), with_text=True)
        return Result(ir.Compacted(users, state, usage))

    def underlying(self, model: str) -> str:
        """The model whose name tells what `model` is and costs: itself, but for an alias the
        upstream keeps (an Azure deployment's name)."""
        return model

    def capabilities(self, model: str) -> tuple[str, ...]:
        """What `model` can do. Providers do not say, so the name tells: embedding models have
        `embed` in theirs (text-embedding-3-small, gemini-embedding-001, nomic-embed-text), and on
        a kind that serves audio or images (`media`), speech, transcription and image models have
        theirs (gpt-4o-mini-tts, whisper-1, gpt-4o-transcribe, dall-e-3, gpt-image-1). Elsewhere
        such words do not count: the kind cannot serve them."""
        name = self.underlying(model).lower()
        if "embed" in name:
            return ("embeddings",)
        found = tuple(c for c, words in _MEDIA_WORDS if c in self.media and any(w in name for w in words))
        return found or ("chat",)

    async def embed(self, request: ir.EmbeddingRequest, model: str) -> ir.EmbeddingResponse:
        raise ir.GatewayError("invalid_request", f"upstream {self.name} has no embeddings", param="model")

    # Audio and images: the upstream's bytes in `Reply.media_type`, on kinds listed in `media` ----

    async def speech(self, request: ir.SpeechRequest, model: str) -> Reply:
        raise self._no("speech")

    async def transcribe(self, request: ir.TranscriptionRequest, model: str) -> Reply:
        raise self._no("transcription")

    async def images(self, request: ir.ImageRequest, model: str) -> Reply:
        raise self._no("images")

    async def moderate(self, request: ModerationRequest, model: str) -> Reply:
        raise self._no("moderation")

    # Document utilities: a chat model summarises, translates and extracts into a schema -----------

    async def extract(self, request: ir.DocumentRequest, model: str) -> Reply:
        if request.schema is None:
            raise ir.GatewayError("invalid_request", f"model {self.name}/{model} is a chat model: it extracts into a "
                                  "`schema` only; without one, ask an extraction backend (local/documents)",
                                  param="model")
        return Result(await chat_utilities.extract(self, request, model))

    async def segment(self, request: ir.DocumentRequest, model: str) -> Reply:
        raise self._no("segmenting")

    async def summarize(self, request: ir.DocumentRequest, model: str) -> Reply:
        return Result(await chat_utilities.summarize(self, request, model))

    async def translate(self, request: ir.DocumentRequest, model: str) -> Reply:
        return Result(await chat_utilities.translate(self, request, model))
    # Retrieval: the kinds of adapters/providers/retrieval.py, the local fusion, research models ----

    def model_for(self, capability: str) -> str | None:
        """The model this provider serves `capability` with when a client names no model (the
        operation's name, `search`, routes to every provider that has one); None: it has none."""
        return None

    def missing_key(self) -> str | None:
        """What to set, when this provider cannot work without a key it was not given."""
        return missing_key(self.name, type(self), self.key)

    async def search(self, request: ir.SearchRequest, model: str) -> ir.SearchResults:
        raise self._no("search")

    async def rerank(self, request: ir.RerankRequest, model: str) -> ir.RerankResponse:
        raise self._no("rerank")

    def check_size(self, request: ir.RerankRequest) -> None:
        """413 for more passages, or more characters in them, than this provider takes."""
        if len(request.texts) > self.max_texts:
            raise ir.GatewayError("too_large", f"{len(request.texts)} texts are more than the limit of "
                                  f"{self.max_texts}", param="texts")
        chars = sum(map(len, request.texts))
        if chars > self.max_chars:
            raise ir.GatewayError("too_large", f"the texts hold {chars} characters, more than the limit of "
                                  f"{self.max_chars}", param="texts")

    async def research(self, request: ir.ResearchRequest, model: str) -> Reply:
        raise self._no("research")

    def _no(self, capability: str) -> ir.GatewayError:
        return ir.GatewayError("invalid_request", f"upstream {self.name} has no {capability}", param="model")

    async def aclose(self) -> None:
        await self.transport.aclose()

    def parse(self, raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:  # cut short or garbled; another target may do better
            raise ir.GatewayError("upstream", f"upstream {self.name} answered invalid JSON", retryable=True) from None

    def decoded(self, raw: bytes, decode: Callable[[Any], T]) -> T:
        """A whole answer, parsed and read by `decode` (a codec's reader) under `reading`."""
        payload = self.parse(raw)
        with self.reading():
            return decode(payload)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reading an upstream's JSON: a shape its API never sends is the upstream's fault, a 502
        that lets another target try."""
        try:
            yield
        except MISSHAPEN as exc:
            raise self.misshapen(exc) from None

    def misshapen(self, exc: Exception) -> ir.GatewayError:
        """The failure of a reader given JSON of a shape its API never sends. Where a shared reader
        named the field, the message names it; anything else is logged with the line where it
        failed, since a reader that misread a valid answer would fail the same way (not with the
        exception's own message, which may quote the answer: a prompt's words never reach the log)."""
        message = f"upstream {self.name} answered JSON in a shape its API does not have"
        if isinstance(exc, ir.Invalid):
            return ir.GatewayError("upstream", f"{message} ({exc.message})", retryable=True)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        log.warning("%s: %s in %s at %s:%s", message, type(exc).__name__, where.name, where.filename, where.lineno)
        return ir.GatewayError("upstream", message, retryable=True)

    def malformed(self, what: str) -> ir.GatewayError:
        """An answer that is JSON but not the API's shape: the upstream's fault; another may do better."""
        return ir.GatewayError("upstream", f"upstream {self.name} answered without {what}", retryable=True)

    def embedded(self, response: ir.EmbeddingResponse, request: ir.EmbeddingRequest) -> ir.EmbeddingResponse:
        """An embeddings answer with a vector for each input, in order; else the upstream's fault,
        which the client, matching vectors to inputs by position, could not tell."""
        if len(response.vectors) != len(request.inputs):
            raise self.malformed(f"one embedding for each of the {len(request.inputs)} inputs")
        return response

    def counted(self, raw: bytes, key: str) -> ir.TokenCount:
        """A token-counting endpoint's answer: the whole number under `key`, absent for 0 as Gemini
        (proto3 JSON) leaves it."""
        payload = self.parse(raw)
        value = payload.get(key, 0) if isinstance(payload, dict) else None
        if type(value) is not int or value < 0:
            raise self.malformed(f"a token count in `{key}`")
        return ir.TokenCount(value)

    # Reasoning state: sealed into the client's slot (slots.py), or kept for Chat clients -------

    def restore_reasoning(self, request: ir.ChatRequest) -> ir.ChatRequest:
        """`request` with this kind's reasoning state put back: opened from the client's slot, or,
        for a client without one, recalled from the store for the tool calls it led to. A copy
        where anything changes: the request is shared by every fallback target."""
        if slots.slot_of(request.dialect) is not None:
            seal = self.seal
            if seal is None:
                return request
            messages = [slots.open_message(m, seal, self.kind) for m in request.messages]
        else:
            store = self.reasoning_store
            if store is None:
                return request
            messages = [self.restore_message(m, store) for m in request.messages]
        if all(new is old for new, old in zip(messages, request.messages, strict=True)):
            return request
        return replace(request, messages=messages)

    def restore_message(self, message: ir.Message, store: ReasoningStore) -> ir.Message:
        """`message`, or a copy of it with the reasoning this kind signed for its tool call."""
        if message.role != "assistant" or any(
                isinstance(p, ir.Reasoning) and p.provider == self.kind and (p.signature or p.redacted)
                for p in message.parts):
            return message
        call = next((p for p in message.parts if isinstance(p, ir.ToolCall)), None)
        kept = store.recall(self.kind, call.id) if call else None
        if not kept:
            return message
        return replace(message, parts=[*kept, *(p for p in message.parts if not isinstance(p, ir.Reasoning))])

    def _keep(self, request: ir.ChatRequest, parts: list[ir.Part]) -> None:
        """An answer's reasoning state sealed into the client's slot, or remembered when it has none."""
        label = slots.slot_of(request.dialect)
        if label is None:
            self._remember(parts)
        else:
            slots.seal_parts(parts, self.seal, self.kind, label, self.signs_text)

    def _keeping(self, request: ir.ChatRequest, events: AsyncIterator[list[ir.StreamEvent]]
                 ) -> AsyncIterator[list[ir.StreamEvent]]:
        label = slots.slot_of(request.dialect)
        if label is None:
            return self._remembering(events)
        return slots.sealing(events, self.seal, self.kind, label, self.signs_text)

    def _remember(self, parts: list[ir.Part]) -> None:
        if self.reasoning_store is None:
            return
        reasoning = [p for p in parts if isinstance(p, ir.Reasoning)]
        calls = [p.id for p in parts if isinstance(p, ir.ToolCall)]
        if reasoning and calls:
            for part in reasoning:
                part.provider = self.kind
            self.reasoning_store.remember(self.kind, calls, reasoning)

    async def _remembering(self, batches: AsyncIterator[list[ir.StreamEvent]]
                           ) -> AsyncIterator[list[ir.StreamEvent]]:
        """Pass events on, and remember the signed reasoning that led to the stream's tool calls."""
        if self.reasoning_store is None:
            async for batch in batches:
                yield batch
            return
        parts: list[ir.Part] = []
        pieces: list[str] = []  # the text of the reasoning last in `parts`, joined when the next part starts
        async for batch in batches:
            for event in batch:
                if isinstance(event, ir.ReasoningDelta):
                    last = parts[-1] if parts and isinstance(parts[-1], ir.Reasoning) else None
                    if last is None or last.signature or last.redacted or event.redacted:
                        _join_last(parts, pieces)
                        last = ir.Reasoning()
                        parts.append(last)
                    pieces.append(event.text)
                    last.signature = event.signature or last.signature
                    last.redacted = event.redacted or last.redacted
                elif isinstance(event, ir.ToolCallDelta) and event.id:
                    _join_last(parts, pieces)
                    parts.append(ir.ToolCall(event.id, event.name or "", ""))
            yield batch
        _join_last(parts, pieces)
        self._remember(parts)

    async def upload(self, path: str, fields: list[tuple[str, str]], files: list[ir.Upload],
                     headers: list[tuple[str, str]] | None = None) -> httpx.Response:
        """POST a multipart body built afresh for this attempt, its files read from their spools
        as the upstream takes them; its length is known, so the upstream gets a Content-Length."""
        boundary = secrets.token_hex(16)
        pieces = media.form_pieces(fields, files, boundary)
        length = [("content-length", str(media.form_length(pieces)))]
        return await self.open(path, stream_pieces(pieces), length + (headers or []),
                               content_type=f"multipart/form-data; boundary={boundary}")

    async def open(self, path: str, body: bytes | AsyncIterable[bytes], headers: list[tuple[str, str]] | None = None,
                   content_type: str | None = None, method: str = "POST",
                   query: dict[str, str] | None = None) -> httpx.Response:
        """Send `body` (POST unless `method` says otherwise) and return the response once its status
        is known to be a success.

        The request goes straight to the transport: `AsyncClient.send` would add URL merging, auth
        and redirect hooks and a cookie jar, a third of the gateway's time per request, and a
        cookie jar shared by every client of the gateway is a leak, not a feature. `body` may be
        an async iterable (an upload streamed from its spool); `content_type` replaces JSON's.
        With `query` it is a GET of `path` with those parameters (search APIs); `body` is then empty.
        """
        url = self.url + path if query is None else str(httpx.URL(self.url + path, params=query))
        own = self.headers if content_type is None else [
            *(h for h in self.headers if h[0] != "content-type"), ("content-type", content_type)]
        traced = OUTGOING.get()
        if traced:
            headers = [*(headers or ()), *traced]
        try:
            response = await self.transport.send("GET" if query is not None else method, url,
                                                 own + headers if headers else own, body, self.timeout,
                                                 keep_url=query is None)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name) from None
        if response.status_code >= 400:
            try:
                raw = await self.read(response)
            except ir.GatewayError:
                raw = b""
            error = self.decode_error(response.status_code, raw)
            if self.key and self.key in error.message:  # some upstreams quote the key they refused
                error.message = error.message.replace(self.key, "***")
            error.retry_after = _retry_after(response.headers)
            raise error
        return response

    def decode_error(self, status: int, raw: bytes) -> ir.GatewayError:
        """An upstream's error answer as the gateway's error; its codec knows the shape."""
        return self.codec.decode_error(status, raw)

    def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        return chunks(response, self.name)

    def events(self, response: httpx.Response, decoder: StreamDecoder) -> AsyncIterator[list[ir.StreamEvent]]:
        return _events(self.chunks(response), decoder, self.misshapen)

    async def read(self, response: httpx.Response) -> bytes:
        try:
            return await read_body(response)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name) from None
        except AnswerTooLarge as exc:
            raise ir.GatewayError("upstream", f"upstream {self.name} answered {exc}", retryable=True) from None
        finally:
            await response.aclose()


async def chunks(response: httpx.Response, name: str) -> AsyncIterator[bytes]:
    """An upstream answer's bytes as they arrive; a broken upstream ends them with a GatewayError."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        raise transport_error(exc, name) from None


async def _events(chunks: AsyncIterator[bytes], decoder: StreamDecoder,
                  misshapen: Callable[[Exception], ir.GatewayError]) -> AsyncIterator[list[ir.StreamEvent]]:
    def read(step: Callable[..., list[ir.StreamEvent]], *chunk: bytes) -> list[ir.StreamEvent]:
        # `Provider.reading` as a call: a context manager would cost every read 0.35 µs more
        try:
            return step(*chunk)
        except MISSHAPEN as exc:
            raise misshapen(exc) from None

    async for chunk in chunks:
        batch = read(decoder.feed, chunk)
        if batch:
            yield batch
    rest = read(decoder.close)  # raises when the stream ended wrongly
    if rest:
        yield rest
        read(decoder.close)  # raises the failure held back for `rest`, if there is one


UPLOAD_CHUNK = 64 * 1024


def _join_last(parts: list[ir.Part], pieces: list[str]) -> None:
    """The text gathered for the reasoning last in `parts`, given it whole: joined once, not
    concatenated delta by delta (each copy of all before it, on the event loop)."""
    if pieces and parts and isinstance(parts[-1], ir.Reasoning):
        parts[-1].text = "".join(pieces)
    pieces.clear()


async def stream_pieces(pieces: list[bytes | ir.Upload]) -> AsyncIterator[bytes]:
    """The body's bytes, each upload read in chunks at this reader's own offset, so an abandoned
    attempt that still holds the spool cannot move another attempt's position. A spool on disk was
    just written and is read from the page cache, quick enough not to need a thread."""
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
            continue
        offset = 0
        while offset < piece.size:
            piece.file.seek(offset)
            chunk = piece.file.read(min(UPLOAD_CHUNK, piece.size - offset))
            if not chunk:
                raise ir.GatewayError("internal", f"upload {piece.name} is shorter than it was")
            offset += len(chunk)
            yield chunk
def missing_key(name: str, kind: type[Provider], key: str | None) -> str | None:
    """What to set for provider `name` of `kind`, given `key`; None when nothing is missing."""
    if key or kind.key_env is None:
        return None
    return f"providers.{name}.key (for example \"${{{kind.key_env}}}\")"


def read_upload(upload: ir.Upload) -> bytes:
    """An upload's bytes whole, for an upstream that takes files inline in JSON. Read from the start
    in one call, so no other reader of the spool can move this one's position meanwhile."""
    upload.file.seek(0)
    data = upload.file.read(upload.size)
    if len(data) != upload.size:
        raise ir.GatewayError("internal", f"upload {upload.name} is shorter than it was")
    return data


# The name words of each media capability (see `Provider.capabilities`).
_MEDIA_WORDS = (("speech", ("tts", "speech")), ("transcription", ("whisper", "transcribe")),
                ("images", ("dall-e", "image")))  # gpt-image-1 has `image`


MAX_RETRY_AFTER = 86_400.0  # a day: an upstream's daily quota, at most


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait, from an upstream's `retry-after-ms` (OpenAI's and Azure's, to the
    millisecond; their SDKs read it first) or `Retry-After`: seconds or an HTTP date (RFC 9110)."""
    if millis := headers.get("retry-after-ms"):
        with contextlib.suppress(ValueError):
            if (wait := _wait(float(millis) / 1000)) is not None:
                return wait
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _wait(float(value))
    except ValueError:
        try:
            return _wait(email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, OverflowError):
            return None


def _wait(seconds: float) -> float | None:
    """None for a time that is no finite wait from now: the wait is what the client is told and how
    long the target is skipped, and `inf` would skip it for good."""
    return min(seconds, MAX_RETRY_AFTER) if math.isfinite(seconds) and seconds >= 0 else None
