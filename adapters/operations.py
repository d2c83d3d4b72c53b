"""Every operation the gateway serves, declared once, for every layer to read.

A codec's `match` names the operation a request asks for; the dialect layer stores it in the
request's state. Routing reads the capability the routed model needs, metering whether a row goes
to the ledger, the dispatcher how one upstream target is asked. Adding an operation is one entry
here plus its own code: a codec route, its IR request and, if it goes upstream, a provider method.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlingua.adapters.replies import Reply, Result

if TYPE_CHECKING:
    from interlingua.adapters.providers.base import Provider

Call = Callable[["Provider", Any, str], Awaitable[Reply]]


@dataclass(slots=True, frozen=True, eq=False)  # each is declared once: identity, and a cheap set lookup
class Operation:
    name: str  # as the ledger and the logs name it
    capability: str | None = None  # what the routed model must be able to do
    call: Call | None = None  # how one target is asked; None: the gateway answers by itself
    metered: bool = True  # whether each request becomes a ledger row
    streams: bool = False  # whether the client may ask for the answer as a stream
    by_chat: bool = False  # a chat model can serve it too: the gateway asks the model in words
    defaulted: bool = False  # `model` is optional: the config's [utilities] names the default
    takes_document: bool = False  # the body may be a document itself, spooled as the upload `file`
    lazy: bool = False  # decoded as read (`ir.DeferredChatRequest`): a JSON body's nesting is checked then
    reads_body: bool = True  # False: a POST the gateway answers from its path alone (any body is ignored)
    keyless: bool = False  # the request is its own credential (an upload session's id): auth lets it by
    empty_body: bool = False  # an empty body is an empty object (Google's clients send none when nothing is set)


async def _count(provider: Provider, request: Any, model: str) -> Reply:
    return Result(await provider.count_tokens(request, model))


async def _embed(provider: Provider, request: Any, model: str) -> Reply:
    return Result(await provider.embed(request, model))


async def _search(provider: Provider, request: Any, model: str) -> Reply:
    return Result(await provider.search(request, model))


async def _rerank(provider: Provider, request: Any, model: str) -> Reply:
    return Result(await provider.rerank(request, model))


CHAT = Operation("chat", "chat", lambda p, request, model: p.chat(request, model), streams=True, lazy=True)
COMPLETIONS = Operation("completions", "chat", lambda p, request, model: p.chat(request, model), streams=True)
COUNT_TOKENS = Operation("count_tokens", "chat", _count)
RESPONSES_COMPACT = Operation("responses.compact", "chat", lambda p, request, model: p.compact(request, model))
EMBEDDINGS = Operation("embeddings", "embeddings", _embed)
MODERATIONS = Operation("moderations", "moderation", lambda p, request, model: p.moderate(request, model))
SPEECH = Operation("audio.speech", "speech", lambda p, request, model: p.speech(request, model), streams=True)
TRANSCRIPTIONS = Operation("audio.transcriptions", "transcription",
                           lambda p, request, model: p.transcribe(request, model), streams=True)
IMAGE_GENERATIONS = Operation("images.generations", "images", lambda p, request, model: p.images(request, model),
                              streams=True)
IMAGE_EDITS = Operation("images.edits", "images", lambda p, request, model: p.images(request, model), streams=True)
RENDER = Operation("render", "images", lambda p, request, model: p.images(request, model))
TRANSCRIBE = Operation("transcribe", "transcription", lambda p, request, model: p.transcribe(request, model))
EXTRACT = Operation("extract", "extract", lambda p, request, model: p.extract(request, model), by_chat=True,
                    defaulted=True, takes_document=True)
SEGMENT = Operation("segment", "segment", lambda p, request, model: p.segment(request, model), defaulted=True,
                    takes_document=True)
SUMMARIZE = Operation("summarize", "summarize", lambda p, request, model: p.summarize(request, model), by_chat=True,
                      defaulted=True, takes_document=True)
TRANSLATE = Operation("translate", "translate", lambda p, request, model: p.translate(request, model), by_chat=True,
                      defaulted=True, takes_document=True)
SEARCH = Operation("search", "search", _search)
RERANK = Operation("rerank", "rerank", _rerank)
RESEARCH = Operation("research", "research", lambda p, request, model: p.research(request, model), streams=True)
MODELS_LIST = Operation("models.list", metered=False)
MODELS_GET = Operation("models.get", metered=False)
RESPONSES_GET = Operation("responses.get", metered=False)
RESPONSES_DELETE = Operation("responses.delete", metered=False)
RESPONSES_INPUT_ITEMS = Operation("responses.input_items", metered=False)
RESPONSES_CANCEL = Operation("responses.cancel", metered=False, reads_body=False)
CONVERSATIONS_CREATE = Operation("conversations.create", metered=False)
CONVERSATIONS_GET = Operation("conversations.get", metered=False)
CONVERSATIONS_UPDATE = Operation("conversations.update", metered=False)
CONVERSATIONS_DELETE = Operation("conversations.delete", metered=False)
CONVERSATION_ITEMS_CREATE = Operation("conversations.items.create", metered=False)
CONVERSATION_ITEMS_LIST = Operation("conversations.items.list", metered=False)
CONVERSATION_ITEM_GET = Operation("conversations.items.get", metered=False)
CONVERSATION_ITEM_DELETE = Operation("conversations.items.delete", metered=False)
FILES_CREATE = Operation("files.create", metered=False)
FILES_LIST = Operation("files.list", metered=False)
FILES_GET = Operation("files.get", metered=False)
FILES_CONTENT = Operation("files.content", metered=False)
FILES_DELETE = Operation("files.delete", metered=False)
# A piece of a Gemini resumable upload: the session's unguessable id in the upload URL stands for the
# key that started it, as on Google's API, whose clients send these without their key.
FILES_UPLOAD = Operation("files.upload", metered=False, reads_body=False, keyless=True)
CHAT_COMPLETIONS_LIST = Operation("chat.completions.list", metered=False)  # stored Chat Completions
CHAT_COMPLETIONS_GET = Operation("chat.completions.get", metered=False)
CHAT_COMPLETIONS_UPDATE = Operation("chat.completions.update", metered=False)
CHAT_COMPLETIONS_DELETE = Operation("chat.completions.delete", metered=False)
CHAT_COMPLETION_MESSAGES = Operation("chat.completions.messages", metered=False)
UPLOADS_CREATE = Operation("uploads.create", metered=False)  # OpenAI's Uploads: a large file in parts
UPLOADS_PART = Operation("uploads.parts.create", metered=False)
UPLOADS_COMPLETE = Operation("uploads.complete", metered=False)
UPLOADS_CANCEL = Operation("uploads.cancel", metered=False, reads_body=False)
CACHES_CREATE = Operation("caches.create", metered=False)  # Gemini's cachedContents, kept by the gateway
CACHES_LIST = Operation("caches.list", metered=False)
CACHES_GET = Operation("caches.get", metered=False)
CACHES_UPDATE = Operation("caches.update", metered=False)
CACHES_DELETE = Operation("caches.delete", metered=False)
VECTOR_STORES_CREATE = Operation("vector_stores.create", metered=False)  # OpenAI's Vector Stores, kept by the gateway
VECTOR_STORES_LIST = Operation("vector_stores.list", metered=False)
VECTOR_STORES_GET = Operation("vector_stores.get", metered=False)
VECTOR_STORES_UPDATE = Operation("vector_stores.update", metered=False)
VECTOR_STORES_DELETE = Operation("vector_stores.delete", metered=False)
VECTOR_STORES_SEARCH = Operation("vector_stores.search", metered=False)
VECTOR_FILES_CREATE = Operation("vector_stores.files.create", metered=False)
VECTOR_FILES_LIST = Operation("vector_stores.files.list", metered=False)
VECTOR_FILES_GET = Operation("vector_stores.files.get", metered=False)
VECTOR_FILES_UPDATE = Operation("vector_stores.files.update", metered=False)
VECTOR_FILES_DELETE = Operation("vector_stores.files.delete", metered=False)
VECTOR_FILES_CONTENT = Operation("vector_stores.files.content", metered=False)
VECTOR_BATCHES_CREATE = Operation("vector_stores.file_batches.create", metered=False)
VECTOR_BATCHES_GET = Operation("vector_stores.file_batches.get", metered=False)
VECTOR_BATCHES_CANCEL = Operation("vector_stores.file_batches.cancel", metered=False, reads_body=False)
VECTOR_BATCHES_FILES = Operation("vector_stores.file_batches.files", metered=False)
# Gemini's File Search stores, over the same stores
FILE_SEARCH_STORES_CREATE = Operation("file_search_stores.create", metered=False, empty_body=True)
FILE_SEARCH_STORES_LIST = Operation("file_search_stores.list", metered=False)
FILE_SEARCH_STORES_GET = Operation("file_search_stores.get", metered=False)
FILE_SEARCH_STORES_DELETE = Operation("file_search_stores.delete", metered=False)
FILE_SEARCH_IMPORT = Operation("file_search_stores.import_file", metered=False)
FILE_SEARCH_UPLOAD = Operation("file_search_stores.upload", metered=False)
FILE_SEARCH_UPLOAD_PIECE = Operation("file_search_stores.upload.piece", metered=False, reads_body=False, keyless=True)
FILE_SEARCH_OPERATIONS_GET = Operation("file_search_stores.operations.get", metered=False)
FILE_SEARCH_DOCUMENTS_LIST = Operation("file_search_stores.documents.list", metered=False)
FILE_SEARCH_DOCUMENTS_GET = Operation("file_search_stores.documents.get", metered=False)
FILE_SEARCH_DOCUMENTS_DELETE = Operation("file_search_stores.documents.delete", metered=False)
BATCHES_CREATE = Operation("batches.create", metered=False)
BATCHES_LIST = Operation("batches.list", metered=False)
BATCHES_GET = Operation("batches.get", metered=False)
BATCHES_CANCEL = Operation("batches.cancel", metered=False, reads_body=False)
BATCHES_RESULTS = Operation("batches.results", metered=False)  # Anthropic's: a batch's results file
BATCHES_DELETE = Operation("batches.delete", metered=False)  # Anthropic's
# MCP passes through (middleware/mcp.py); only a `tools/call` is itemised in the ledger, the MCP
# layer switching a request's operation to it once the body has said so.
MCP_INDEX = Operation("mcp.index", metered=False)  # /v1/mcp: the server list, or the federated server
MCP_MESSAGE = Operation("mcp.message", metered=False)  # /v1/mcp/{id}: any other message or stream
MCP_TOOL_CALL = Operation("mcp.tools/call")

VECTOR_STORES = frozenset({
    VECTOR_STORES_CREATE, VECTOR_STORES_LIST, VECTOR_STORES_GET, VECTOR_STORES_UPDATE, VECTOR_STORES_DELETE,
    VECTOR_STORES_SEARCH, VECTOR_FILES_CREATE, VECTOR_FILES_LIST, VECTOR_FILES_GET, VECTOR_FILES_UPDATE,
    VECTOR_FILES_DELETE, VECTOR_FILES_CONTENT, VECTOR_BATCHES_CREATE, VECTOR_BATCHES_GET, VECTOR_BATCHES_CANCEL,
    VECTOR_BATCHES_FILES})
FILE_SEARCH_STORES = frozenset({
    FILE_SEARCH_STORES_CREATE, FILE_SEARCH_STORES_LIST, FILE_SEARCH_STORES_GET, FILE_SEARCH_STORES_DELETE,
    FILE_SEARCH_IMPORT, FILE_SEARCH_UPLOAD, FILE_SEARCH_UPLOAD_PIECE, FILE_SEARCH_OPERATIONS_GET,
    FILE_SEARCH_DOCUMENTS_LIST, FILE_SEARCH_DOCUMENTS_GET, FILE_SEARCH_DOCUMENTS_DELETE})
OPERATIONS: Mapping[str, Operation] = {op.name: op for op in (
    CHAT, COMPLETIONS, COUNT_TOKENS, RESPONSES_COMPACT, EMBEDDINGS, MODERATIONS, SPEECH, TRANSCRIPTIONS,
    IMAGE_GENERATIONS, IMAGE_EDITS, RENDER, TRANSCRIBE, EXTRACT, SEGMENT, SUMMARIZE, TRANSLATE, SEARCH, RERANK,
    RESEARCH, MODELS_LIST, MODELS_GET, RESPONSES_GET, RESPONSES_DELETE, RESPONSES_INPUT_ITEMS, RESPONSES_CANCEL,
    CONVERSATIONS_CREATE, CONVERSATIONS_GET, CONVERSATIONS_UPDATE, CONVERSATIONS_DELETE, CONVERSATION_ITEMS_CREATE,
    CONVERSATION_ITEMS_LIST, CONVERSATION_ITEM_GET, CONVERSATION_ITEM_DELETE, FILES_CREATE, FILES_LIST, FILES_GET,
    FILES_CONTENT, FILES_DELETE, FILES_UPLOAD, UPLOADS_CREATE, UPLOADS_PART, UPLOADS_COMPLETE, UPLOADS_CANCEL,
    CHAT_COMPLETIONS_LIST, CHAT_COMPLETIONS_GET, CHAT_COMPLETIONS_UPDATE,
    CHAT_COMPLETIONS_DELETE, CHAT_COMPLETION_MESSAGES, CACHES_CREATE, CACHES_LIST, CACHES_GET, CACHES_UPDATE,
    CACHES_DELETE, *VECTOR_STORES, *FILE_SEARCH_STORES, BATCHES_CREATE, BATCHES_LIST, BATCHES_GET, BATCHES_CANCEL,
    BATCHES_RESULTS, BATCHES_DELETE, MCP_INDEX, MCP_MESSAGE, MCP_TOOL_CALL)}
MCP = frozenset({MCP_INDEX, MCP_MESSAGE, MCP_TOOL_CALL})
STORED_RESPONSES = frozenset({RESPONSES_GET, RESPONSES_DELETE, RESPONSES_INPUT_ITEMS, RESPONSES_CANCEL})
CONVERSATIONS = frozenset({CONVERSATIONS_CREATE, CONVERSATIONS_GET, CONVERSATIONS_UPDATE, CONVERSATIONS_DELETE,
                           CONVERSATION_ITEMS_CREATE, CONVERSATION_ITEMS_LIST, CONVERSATION_ITEM_GET,
                           CONVERSATION_ITEM_DELETE})
UPLOADS = frozenset({UPLOADS_CREATE, UPLOADS_PART, UPLOADS_COMPLETE, UPLOADS_CANCEL})
FILES = frozenset({FILES_CREATE, FILES_LIST, FILES_GET, FILES_CONTENT, FILES_DELETE, FILES_UPLOAD, *UPLOADS})
STORED_COMPLETIONS = frozenset({CHAT_COMPLETIONS_LIST, CHAT_COMPLETIONS_GET, CHAT_COMPLETIONS_UPDATE,
                                CHAT_COMPLETIONS_DELETE, CHAT_COMPLETION_MESSAGES})
CACHES = frozenset({CACHES_CREATE, CACHES_LIST, CACHES_GET, CACHES_UPDATE, CACHES_DELETE})
BATCHES = frozenset({BATCHES_CREATE, BATCHES_LIST, BATCHES_GET, BATCHES_CANCEL, BATCHES_RESULTS, BATCHES_DELETE})
