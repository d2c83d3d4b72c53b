"""The interlingua: the one typed model every dialect is parsed into and generated from.

It is a superset, not a common denominator. Each record keeps `extra`, the fields of the source
dialect that have no neutral slot, so a same-dialect round trip loses nothing; a codec for another
dialect ignores them. Opaque reasoning state is stored with the provider that minted it, so that it
is only ever sent back there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Literal

Role = Literal["system", "developer", "user", "assistant", "tool"]

# Neutral finish reasons; each codec maps to and from its own words (the README's translation tables).
FinishReason = Literal[
    "stop", "stop_sequence", "length", "tool_calls", "content_filter", "context_overflow", "pause"
]


# Content parts -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Citation:
    """A web page that backs a span of an answer's text. In a `Text` the span is in characters of
    that part (None: all of it, as Anthropic cites); in a `CitationDelta`, of the choice's text
    streamed so far."""

    url: str
    title: str = ""
    start: int | None = None
    end: int | None = None
    quote: str = ""  # the words of the page it cites, where the upstream gives them


@dataclass(slots=True)
class Text:
    text: str
    extra: dict[str, Any] | None = None
    citations: list[Citation] | None = None


@dataclass(slots=True)
class Image:
    """An image by URL or inline bytes; `data` is base64 text, as every dialect carries it."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Audio:
    data: str
    format: str
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class File:
    """A document (PDF and the like): inline base64, a URL, or a provider file id."""

    data: str | None = None
    media_type: str | None = None
    url: str | None = None
    file_id: str | None = None
    filename: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, kept as the model wrote it
    kind: Literal["function", "custom"] = "function"
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Part]
    is_error: bool = False
    name: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Reasoning:
    """Reasoning text plus its opaque state, bound to the provider and model that minted it."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    provider: str | None = None
    model: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Refusal:
    text: str


@dataclass(slots=True)
class Opaque:
    """A block only one dialect knows (Anthropic's server-tool results, Gemini's executable code):
    sent back verbatim to that dialect, left out of every other."""

    dialect: str
    data: dict[str, Any]


Part = Text | Image | Audio | File | ToolCall | ToolResult | Reasoning | Refusal | Opaque


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]
    name: str | None = None
    extra: dict[str, Any] | None = None


# Request ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    kind: Literal["function", "custom", "server"] = "function"  # server: a provider's own tool, in `extra`
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required"]
    names: list[str] | None = None  # a forced tool, or the allowed subset


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None
    strict: bool | None = None


# Context management: what a client asked the upstream to clear or shorten -------------------------


@dataclass(slots=True, frozen=True)
class ClearToolUses:
    """Anthropic's `clear_tool_uses_20250919` edit: past `trigger` (input tokens or tool uses), the
    results of all but the last `keep` tool uses become a placeholder, oldest first, unless that
    frees fewer than `clear_at_least` tokens. `clear_inputs` also empties the calls' arguments
    (True: every cleared call's; names: those tools' calls only)."""

    trigger: tuple[Literal["input_tokens", "tool_uses"], int] = ("input_tokens", 100_000)
    keep: int = 3
    clear_at_least: int = 0
    exclude_tools: tuple[str, ...] = ()
    clear_inputs: bool | tuple[str, ...] = False


@dataclass(slots=True, frozen=True)
class ClearThinking:
    """Anthropic's `clear_thinking_20251015` edit: the reasoning of all but the last `keep`
    assistant turns (all it said between two user messages) that have any is removed; `keep` None
    keeps all of it."""

    keep: int | None = 1


@dataclass(slots=True, frozen=True)
class Compaction:
    """Summarise the earlier turns once the conversation passes `threshold` input tokens
    (Responses `context_management` compaction, Anthropic's `compact_20260112`)."""

    threshold: int
    instructions: str | None = None
    pause: bool = False  # Anthropic's pause_after_compaction


ContextEdit = ClearToolUses | ClearThinking


@dataclass(slots=True)
class ContextManagement:
    """What a client asked to have done to its context before the model reads it; the gateway
    does it for an upstream whose API would not (`providers/context.py`). `edits` keep the
    client's order, as Anthropic applies and reports them; `truncate` is Responses
    `truncation: "auto"`."""

    edits: list[ContextEdit] = field(default_factory=list)
    compaction: Compaction | None = None
    truncate: bool = False


@dataclass(slots=True, frozen=True)
class AppliedEdit:
    """One context edit the gateway applied, as Anthropic reports it: `cleared` counts tool uses
    for `clear_tool_uses_20250919`, thinking turns for `clear_thinking_20251015`."""

    type: Literal["clear_tool_uses_20250919", "clear_thinking_20251015"]
    cleared: int
    cleared_input_tokens: int


# A part's `extra` key: the client marked the end of a prompt prefix to cache there, as both OpenAI
# dialects spell it (`{"mode": "explicit", "ttl"?}`).
BREAKPOINT = "prompt_cache_breakpoint"


@dataclass(slots=True, frozen=True)
class PromptCache:
    """How the client asked for prompt caching (OpenAI's `prompt_cache_options`)."""

    explicit: bool = False  # only the breakpoints marked on parts (`BREAKPOINT`), no automatic one
    ttl: str | None = None  # the lifetime asked for ("30m", "12h"); None: the upstream's default


@dataclass(slots=True)
class ChatRequest:
    """A chat turn, whatever dialect it came in.

    `native` is the client's parsed body and `dialect` its codec name: when the upstream speaks
    the same dialect, a provider sends `native` with only the model changed, or `raw`, the bytes
    `native` was parsed from, where nothing else changes (see `DeferredChatRequest`).
    """

    model: str
    messages: list[Message]
    dialect: str
    native: dict[str, Any] | None = None
    raw: bytes | None = None
    stream: bool = False
    stream_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] | None = None
    n: int | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None  # none, minimal, low, medium, high, xhigh, max
    reasoning_budget: int | None = None  # thinking tokens, where the client gave a budget
    verbosity: str | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    headers: dict[str, str] | None = None  # client headers a same-dialect upstream must see
    params: dict[str, str] | None = None  # route and query parameters (Gemini's `alt`)
    context: ContextManagement | None = None
    prompt_cache: PromptCache | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _Deferred:
    """A field of `ChatRequest` made by a decoder given to `DeferredChatRequest.defer`, on first read."""

    __slots__ = ("name", "slot")

    def __init__(self, name: str) -> None:
        self.name = name
        self.slot: Any = ChatRequest.__dict__[name]  # the field's own storage, under this descriptor

    def __get__(self, request: DeferredChatRequest | None, owner: type | None = None) -> Any:
        if request is None:
            return self
        pending = getattr(request, "_pending", None)  # unset on a copy that `replace` made
        if pending and self.name in pending:
            request.passes()
            self.slot.__set__(request, pending[self.name]())
            del pending[self.name]
        return self.slot.__get__(request, owner)

    def __set__(self, request: DeferredChatRequest, value: Any) -> None:
        pending = getattr(request, "_pending", None)  # unset while the dataclass's __init__ runs
        if pending:
            pending.pop(self.name, None)
        self.slot.__set__(request, value)


_NATIVE: Any = ChatRequest.__dict__["native"]  # the field's own storage


class _Checked:
    """`DeferredChatRequest.native`, read only once the request's check has passed."""

    __slots__ = ()

    def __get__(self, request: DeferredChatRequest | None, owner: type | None = None) -> Any:
        if request is None:
            return self
        request.passes()
        return _NATIVE.__get__(request, owner)

    def __set__(self, request: DeferredChatRequest, value: Any) -> None:
        _NATIVE.__set__(request, value)


class DeferredChatRequest(ChatRequest):
    """A chat request whose `messages` and `tools` are decoded from `native` when first read.

    A same-dialect upstream takes the client's own body, so on that path (the usual one) nobody
    reads them: decoding a coding agent's 200 KB turn costs more than all the rest of the gateway's
    work on it, and a CLI's tool schemas cost a small turn 20 to 70 µs. What the codec refuses is
    then refused by the first reader, or by the upstream, in the same dialect.
    `dataclasses.replace` reads every field, so its copy has nothing left to decode.

    A check given to `checking` (the body's nesting, 210 µs on that turn) runs before the first
    read of `native` or of a field still to decode, and what it raises every such read raises:
    the gateway's own walkers and encoder read the body that way, while a provider that sends the
    client's bytes on as they came reads `as_parsed`, and leaves the body to the upstream to judge.
    """

    __slots__ = ("_pending", "_check")
    _pending: dict[str, Callable[[], Any]]
    _check: Callable[[], None] | None

    messages = _Deferred("messages")
    tools = _Deferred("tools")
    response_format = _Deferred("response_format")
    native = _Checked()

    def defer(self, **decoders: Callable[[], Any]) -> DeferredChatRequest:
        self._pending = decoders
        return self

    def checking(self, check: Callable[[], None]) -> DeferredChatRequest:
        self._check = check
        return self

    def passes(self) -> None:
        """Run the check `checking` gave, once it passes; raise what it raises until then."""
        check = getattr(self, "_check", None)  # unset on a copy that `replace` made
        if check is not None:
            check()
            self._check = None

    @property
    def decoded(self) -> bool:
        return not getattr(self, "_pending", None)


def as_parsed(request: ChatRequest) -> dict[str, Any] | None:
    """`request.native` with no check run (see `DeferredChatRequest`): only for sending the client's
    bytes on as they came, never for walking the body or encoding it again."""
    return _NATIVE.__get__(request, type(request))


@dataclass(slots=True)
class Compacted:
    """A conversation compacted (`/v1/responses/compact`) by the gateway: its user messages as
    they were, and the rest summarised into `state`, sealed, for the client to send back."""

    messages: list[Message]
    state: str
    usage: Usage | None = None


@dataclass(slots=True)
class TokenCount:
    """The answer to a token-counting request; `exact` is False for a local estimate."""

    input_tokens: int
    exact: bool = True


# Response and stream ------------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    """One neutral usage record: totals include their sub-counts (input counts cache reads and writes,
    output counts reasoning), as docs/architecture.md describes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    extra: dict[str, Any] | None = None  # dialect fields with no neutral meaning, for a round trip
    # What the ledger meters besides tokens.
    characters: int = 0  # of text spoken, or of a document read
    pages: int = 0  # of documents read
    audio_seconds: float = 0.0  # of audio transcribed, where the upstream reports it
    images: int | None = None  # made; None for an answer that is not an image answer
    estimated: bool = False  # the upstream never reported usage: counted from what was seen

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, usage: Usage | None) -> None:
        """Count `usage` (another call's of the same request) into this one, token kinds only."""
        if usage is None:
            return
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cache_read_tokens += usage.cache_read_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.estimated = self.estimated or usage.estimated


@dataclass(slots=True)
class TokenLogprob:
    """A token of the answer's text, its log probability and the likeliest tokens in its place, as
    Chat's `logprobs.content`, the Responses `output_text.logprobs` and Gemini's `logprobsResult`
    each word them."""

    token: str
    logprob: float
    top: list[TokenLogprob] = field(default_factory=list)
    bytes: list[int] | None = None  # where the upstream gave them (a token may be part of a character)


@dataclass(slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: FinishReason | None
    logprobs: list[TokenLogprob] | None = None  # the text's tokens, where asked for
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    created: int
    choices: list[Choice]
    usage: Usage | None = None
    applied_edits: list[AppliedEdit] | None = None  # the context edits the gateway made; None: none asked
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str
    created: int
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class TextDelta:
    text: str
    choice: int = 0
    logprobs: list[TokenLogprob] | None = None  # the delta's tokens, where asked for


@dataclass(slots=True)
class CitationDelta:
    """Citations of text a choice has streamed: each span in characters of all its text deltas
    together, and always given (a decoder holds a citation until it knows where its text ends)."""

    citations: list[Citation]
    choice: int = 0


@dataclass(slots=True)
class RefusalDelta:
    text: str
    choice: int = 0


@dataclass(slots=True)
class ReasoningDelta:
    """Reasoning text, or opaque state; `provider` names whose state it is, where a client codec
    may write it into its own slot (set by `providers/slots.py`; decoders leave it unset)."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    choice: int = 0
    provider: str | None = None


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a tool call; `index` is its position among the choice's tool calls."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None
    kind: Literal["function", "custom"] = "function"
    choice: int = 0


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    choice: int = 0
    stop_sequence: str | None = None


@dataclass(slots=True)
class UsageReport:
    usage: Usage


@dataclass(slots=True)
class EditsApplied:
    """The context edits the gateway made before the upstream read the request; first in a stream."""

    edits: list[AppliedEdit]


@dataclass(slots=True)
class Progress:
    """A named step of streamed research: `query`, `source`, `note`, `delta` (report text), `done`."""

    name: str
    data: Any


@dataclass(slots=True)
class OpaqueBlock:
    """A whole output item only one dialect knows, made by the gateway (a hosted tool's call it ran,
    the grounding of a Gemini turn's file search):
    that dialect's stream encoder writes it, every other leaves it out, as `Opaque` parts."""

    dialect: str
    data: dict[str, Any]


StreamEvent = (StreamStart | TextDelta | CitationDelta | RefusalDelta | ReasoningDelta | ToolCallDelta | Finish
               | UsageReport | EditsApplied | Progress | OpaqueBlock)


# Errors -------------------------------------------------------------------------------------------

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "too_large",
    "rate_limit",
    "upstream",
    "unavailable",
    "overloaded",
    "timeout",
    "internal",
]

STATUS_OF_KIND: dict[str, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "too_large": 413,
    "rate_limit": 429,
    "internal": 500,
    "upstream": 502,
    "unavailable": 503,
    "timeout": 504,
    "overloaded": 529,
}


class GatewayError(Exception):
    """Any failure a client must see, rendered later in the client's own dialect.

    `status` is the HTTP status to answer; `kind` the neutral category each codec names in its own
    words; `code` an optional dialect-neutral code (`model_not_found`); `param` the field at fault.
    `retryable` marks failures after which a fallback target may be tried.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status or STATUS_OF_KIND[kind]
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as it was made (a document's reader process raises it in the gateway's)."""
        return type(self), (self.kind, self.message), self.__dict__


class Invalid(GatewayError):
    """A field of the wrong shape, found by the readers the codecs share for requests and answers:
    the client's fault in a request, the upstream's in an answer (where the provider turns it into
    a 502)."""


def invalid(param: str, message: str) -> Invalid:
    """A 400 that names the field at fault, as every dialect's clients expect."""
    return Invalid("invalid_request", f"{param}: {message}", param=param)


# Other capabilities -------------------------------------------------------------------------------


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[str] | list[list[int]]
    dialect: str
    native: dict[str, Any] | None = None
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] = "float"
    task_type: str | None = None
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EmbeddingResponse:
    model: str
    vectors: list[list[float]]
    usage: Usage | None = None


@dataclass(slots=True)
class Upload:
    """A file part of a multipart request, spooled once by normalisation: in memory up to a limit,
    then on disk. `head` is its first bytes, so a codec can tell what it is without I/O. Readers
    seek to their own offsets, so a fallback target can read it again from the start."""

    name: str  # the form field: file, image, image[], mask
    filename: str
    content_type: str
    file: IO[bytes]
    size: int = 0
    head: bytes = b""


@dataclass(slots=True)
class Form:
    """A multipart/form-data body as normalisation parsed it: the text fields in the order sent,
    and the file parts, spooled. Whoever parsed it closes it (`close`) when the request is over."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[Upload] = field(default_factory=list)

    def close(self) -> None:
        for upload in self.files:
            upload.file.close()


@dataclass(slots=True)
class SpeechRequest:
    """Text to speech. `native` is the client's JSON body, sent on with the model changed to a
    same-dialect upstream; `voice` is a built-in name or a custom voice's id."""

    model: str
    input: str
    voice: str
    dialect: str
    native: dict[str, Any] | None = None
    response_format: str | None = None
    speed: float | None = None
    instructions: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TranscriptionRequest:
    """Speech to text. `file` is the spooled audio; `native` the form's text fields as sent, for a
    same-dialect upstream (unknown fields included)."""

    model: str
    filename: str
    content_type: str
    dialect: str
    file: Upload | None = None
    native: list[tuple[str, str]] | None = None
    language: str | None = None
    prompt: str | None = None
    response_format: str | None = None
    temperature: float | None = None
    timestamp_granularities: list[str] | None = None
    stream: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ImageRequest:
    """Image generation, or an edit (`edit`) of uploaded images (`files`: image or image[] parts
    and the mask, spooled). `native` is the client's JSON body or the form's text fields.
    `output_format` is the file type wanted (png, jpeg, webp), for upstreams that can choose it."""

    model: str
    prompt: str
    dialect: str
    n: int | None = None
    size: str | None = None
    response_format: Literal["b64_json", "url"] | None = None
    output_format: str | None = None
    images: list[Image] | None = None
    mask: Image | None = None
    edit: bool = False
    stream: bool = False
    files: list[Upload] | None = None
    native: dict[str, Any] | list[tuple[str, str]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ImageResponse:
    """Images made, when the upstream's answer cannot reach the client as it is (another dialect's
    client, or a Gemini image model): each `Image` inline (`data`, base64) with its media type."""

    images: list[Image]
    created: int = 0
    usage: Usage | None = None


@dataclass(slots=True)
class Transcript:
    """A transcription's text, when the upstream's answer cannot reach the client as it is."""

    text: str
    usage: Usage | None = None


@dataclass(slots=True)
class UtilityRequest:
    """search, research, rerank. (render and transcribe are an `ImageRequest` and a
    `TranscriptionRequest` from the utility dialect; extract, segment, summarize and translate a
    `DocumentRequest`.)"""

    operation: str
    model: str | None
    params: dict[str, Any]
    dialect: str = "utility"


# Documents ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Page:
    """A page of an extracted document, 1-based, with its size in `unit` (point for PDF, inch for
    slides, pixel for images); None where the format has no page geometry (DOCX, HTML, text)."""

    page: int
    unit: str | None = None
    width: float | None = None
    height: float | None = None


@dataclass(slots=True)
class Block:
    """A run of text on a page: a line, a paragraph, a cell or a check box, where the backend can
    place it (`polygon`, corners clockwise from the top left, in the page's unit). `state` is
    `checked` or `unchecked` for a check box; `score` the backend's confidence (OCR)."""

    page: int
    text: str
    polygon: list[list[float]] | None = None
    state: str | None = None
    score: float | None = None


@dataclass(slots=True)
class Document:
    """A document as extracted: its text, its pages and its placed blocks, with what reading it
    cost (`usage.pages`, `usage.characters`)."""

    text: str
    pages: list[Page] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    media_type: str = "text/plain"  # the type the document was read as
    usage: Usage | None = None


@dataclass(slots=True)
class Segment:
    text: str
    start: int  # character offsets into the extracted text, end exclusive
    end: int


@dataclass(slots=True)
class Segments:
    segments: list[Segment]
    usage: Usage | None = None


@dataclass(slots=True)
class Rendered:
    """A utility's answer as bytes of its own type: a summary, a translation (text, Markdown,
    HTML or a translated document)."""

    body: bytes
    media_type: str
    usage: Usage | None = None


@dataclass(slots=True)
class DocumentRequest:
    """extract, segment, summarize or translate. The input is `text`, or `file` (an upload, the raw
    body, or the page fetched from `url` before a target is asked). `layout` asks for the document
    (pages and blocks), not just its text; `schema` for a JSON object in that JSON Schema."""

    operation: str
    model: str | None
    dialect: str
    text: str | None = None
    file: Upload | None = None
    url: str | None = None
    layout: bool = False
    schema: dict[str, Any] | None = None
    segment_length: int = 512
    segment_overlap: int = 0
    language: str | None = None


# Retrieval: search, rerank, research ----------------------------------------------------------------


@dataclass(slots=True)
class SearchRequest:
    """A web search. `domains` keep the client's spelling: a leading `!` excludes the domain.
    `model` names the search provider (or an alias of several, tried in order)."""

    model: str
    query: str
    dialect: str
    limit: int = 10
    domains: list[str] = field(default_factory=list)
    category: str | None = None
    location: str | None = None

    @property
    def included(self) -> list[str]:
        return [d for d in self.domains if not d.startswith("!")]

    @property
    def excluded(self) -> list[str]:
        return [d[1:] for d in self.domains if d.startswith("!")]


@dataclass(slots=True)
class SearchHit:
    """One result, best first; `metadata` holds what the backend says besides (date, engine, score)."""

    source: str
    title: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SearchResults:
    hits: list[SearchHit]
    usage: Usage | None = None


@dataclass(slots=True)
class RerankRequest:
    """Passages to order by relevance to `query`. `shape` is how the client asked and wants its
    answer: the gateway's own (`texts`, answered with `score` and `text`) or Cohere's and Jina's
    (`documents`, answered with `relevance_score` and `document`). `documents` keeps each of those
    as the client sent it (a string or an object), to be handed back."""

    model: str
    query: str
    texts: list[str]
    dialect: str
    limit: int | None = None
    shape: Literal["seed", "cohere"] = "seed"
    documents: list[Any] | None = None
    return_documents: bool = True


@dataclass(slots=True)
class Ranked:
    index: int
    score: float


@dataclass(slots=True)
class RerankResponse:
    """Every passage asked for (up to the limit) by descending score, with its index in the request."""

    model: str
    results: list[Ranked]
    usage: Usage | None = None


@dataclass(slots=True)
class ResearchRequest:
    model: str
    input: str
    dialect: str
    stream: bool = False


@dataclass(slots=True)
class Source:
    url: str
    title: str


@dataclass(slots=True)
class ResearchReport:
    """A Markdown report whose `[n]` markers cite `sources[n - 1]`."""

    content: str
    sources: list[Source]
    usage: Usage | None = None
