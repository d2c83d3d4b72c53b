"""OpenAI Vector Stores (`/v1/vector_stores`, the Vector Stores API reference), the wire only: its
routes, the bodies of creates, updates, file batches and searches checked, attribute filters, and
the objects it answers with.

The gateway keeps the stores itself (`middleware/vector_stores.py`): a store's files are files of
the gateway's Files store, read, cut into chunks and embedded by the gateway's own local model, so
`client.vector_stores` works with no upstream at all, on any deployment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route
from interlingua.adapters.dialects.openai_conversations import metadata_of

PREFIX = "/v1/vector_stores"
STATUSES = ("in_progress", "completed", "failed", "cancelled")
MAX_ATTRIBUTES = 16
MAX_KEY = 64
MAX_VALUE = 512
MAX_BATCH = 2000  # files a batch (or a store's create) may name, as OpenAI's
MAX_RESULTS = 50
DEFAULT_RESULTS = 10
MAX_QUERIES = 16
MAX_FILTER_DEPTH = 8
# `auto` chunking, as OpenAI's: 800 tokens a chunk, 400 of them shared with the next.
AUTO_CHUNK = (800, 400)
CHUNK_SIZES = (100, 4096)
RANKERS = ("none", "auto", "default-2024-11-15")
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
EXPIRY_DAYS = (1, 365)

_STORE = {"POST": ops.VECTOR_STORES_UPDATE, "GET": ops.VECTOR_STORES_GET, "DELETE": ops.VECTOR_STORES_DELETE}
_FILE = {"GET": ops.VECTOR_FILES_GET, "POST": ops.VECTOR_FILES_UPDATE, "DELETE": ops.VECTOR_FILES_DELETE}


def match(method: str, path: str) -> Route | None:
    """`/v1/vector_stores[/{id}[/search | /files[/{file}[/content]] | /file_batches/{batch}[/cancel |
    /files]]]`; params `id`, `file` and `batch`."""
    rest = path[len(PREFIX):].rstrip("/")
    if not path.startswith(PREFIX) or rest and rest[0] != "/":
        return None
    parts = rest[1:].split("/") if rest else []
    operation: ops.Operation | None = None
    params: dict[str, str] = {"id": parts[0]} if parts else {}
    if not parts:
        operation = {"POST": ops.VECTOR_STORES_CREATE, "GET": ops.VECTOR_STORES_LIST}.get(method)
    elif len(parts) == 1:
        operation = _STORE.get(method)
    elif parts[1] == "search" and len(parts) == 2:
        operation = ops.VECTOR_STORES_SEARCH if method == "POST" else None
    elif parts[1] == "files":
        if len(parts) == 2:
            operation = {"POST": ops.VECTOR_FILES_CREATE, "GET": ops.VECTOR_FILES_LIST}.get(method)
        else:
            params["file"] = parts[2]
            if len(parts) == 3:
                operation = _FILE.get(method)
            elif len(parts) == 4 and parts[3] == "content" and method == "GET":
                operation = ops.VECTOR_FILES_CONTENT
    elif parts[1] == "file_batches":
        if len(parts) == 2:
            operation = ops.VECTOR_BATCHES_CREATE if method == "POST" else None
        else:
            params["batch"] = parts[2]
            tail = (parts[3] if len(parts) == 4 else "", method) if len(parts) <= 4 else None
            operation = {("", "GET"): ops.VECTOR_BATCHES_GET, ("cancel", "POST"): ops.VECTOR_BATCHES_CANCEL,
                         ("files", "GET"): ops.VECTOR_BATCHES_FILES}.get(tail) if tail else None
    if operation is None or not all(params.values()):
        return None
    return Route(operation, params)


# What clients ask -------------------------------------------------------------------------------

Attributes = dict[str, str | float | bool | list[str]]  # a list: a Gemini document's `stringListValue`


@dataclass(slots=True, frozen=True)
class Chunking:
    """A file's chunks: at most `size` tokens each, the next starting `overlap` tokens before the
    end of the last."""

    size: int = AUTO_CHUNK[0]
    overlap: int = AUTO_CHUNK[1]


@dataclass(slots=True, frozen=True)
class FileAsk:
    """A file to add to a store, with its attributes and chunking."""

    file_id: str
    attributes: Attributes | None = None
    chunking: Chunking = Chunking()


@dataclass(slots=True, frozen=True)
class StoreAsk:
    """A create (`POST /v1/vector_stores`) or an update (`POST .../{id}`): what it sets; None
    leaves a field as it is (an update's `expires_after: null` clears the policy: `clear_expiry`)."""

    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    expires_days: int | None = None
    clear_expiry: bool = False
    files: list[FileAsk] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class AttributesUpdate:
    """`POST .../files/{file}`: the attributes that replace the file's."""

    attributes: Attributes | None


@dataclass(slots=True, frozen=True)
class SearchAsk:
    queries: list[str]
    limit: int
    filters: dict[str, Any] | None
    rank: bool  # `ranking_options.ranker` other than `none`: the lexical ranking is fused in
    threshold: float


VectorRequest = StoreAsk | FileAsk | list[FileAsk] | AttributesUpdate | SearchAsk


def decode(operation: ops.Operation, body: Any) -> VectorRequest:
    body = f.obj(body, "body")
    if operation is ops.VECTOR_STORES_CREATE or operation is ops.VECTOR_STORES_UPDATE:
        return _store_ask(body, operation is ops.VECTOR_STORES_CREATE)
    if operation is ops.VECTOR_FILES_CREATE:
        return _file_ask(body, "")
    if operation is ops.VECTOR_FILES_UPDATE:
        if "attributes" not in body:
            raise ir.invalid("attributes", "is required (null removes them)")
        return AttributesUpdate(attributes_of(body, "attributes"))
    if operation is ops.VECTOR_BATCHES_CREATE:
        return _batch_ask(body)
    return _search_ask(body)


def _store_ask(body: dict[str, Any], create: bool) -> StoreAsk:
    expires = body.get("expires_after")
    days = None
    if expires is not None:
        expires = f.obj(expires, "expires_after")
        if f.string(expires, "anchor", "expires_after.") != "last_active_at":
            raise ir.invalid("expires_after.anchor", "must be last_active_at")
        days = f.integer(expires, "days", "expires_after.")
        if days is None or not EXPIRY_DAYS[0] <= days <= EXPIRY_DAYS[1]:
            raise ir.invalid("expires_after.days", f"must be an integer from {EXPIRY_DAYS[0]} to {EXPIRY_DAYS[1]}")
    files: list[FileAsk] = []
    if create:
        chunking = _chunking(body.get("chunking_strategy"), "chunking_strategy")
        file_ids = f.strings(body, "file_ids") or []
        if len(file_ids) > MAX_BATCH:
            raise ir.invalid("file_ids", f"may name at most {MAX_BATCH} files")
        files = [FileAsk(file_id, None, chunking) for file_id in dict.fromkeys(file_ids)]
    elif "chunking_strategy" in body or "file_ids" in body:
        raise ir.invalid("file_ids" if "file_ids" in body else "chunking_strategy",
                         "cannot be updated: add files through /files or /file_batches")
    return StoreAsk(f.string(body, "name"), f.string(body, "description") if create else None, metadata_of(body),
                    days, not create and "expires_after" in body and expires is None, files)


def _file_ask(body: dict[str, Any], path: str) -> FileAsk:
    file_id = f.string(body, "file_id", path, required=True)
    if not file_id:
        raise ir.invalid(path + "file_id", "must be a file id")
    return FileAsk(file_id, attributes_of(body, "attributes", path),
                   _chunking(body.get("chunking_strategy"), path + "chunking_strategy"))


def _batch_ask(body: dict[str, Any]) -> list[FileAsk]:
    file_ids, listed = f.strings(body, "file_ids"), f.array(body, "files")
    if (file_ids is None) == (listed is None):
        raise ir.invalid("file_ids", "a batch names its files by `file_ids` or by `files`, one of the two")
    if listed is not None:
        asks = [_file_ask(f.obj(item, f"files[{i}]"), f"files[{i}].") for i, item in enumerate(listed)]
    else:
        attributes = attributes_of(body, "attributes")
        chunking = _chunking(body.get("chunking_strategy"), "chunking_strategy")
        asks = [FileAsk(file_id, attributes, chunking) for file_id in file_ids or ()]
    if not asks or len(asks) > MAX_BATCH:
        raise ir.invalid("files" if listed is not None else "file_ids", f"must name 1 to {MAX_BATCH} files")
    return list({ask.file_id: ask for ask in asks}.values())


def _chunking(raw: Any, path: str) -> Chunking:
    if raw is None:
        return Chunking()
    strategy = f.obj(raw, path)
    kind = f.choice(strategy, "type", ("auto", "static"), path + ".")
    if kind != "static":
        if kind is None:
            raise ir.invalid(path + ".type", "is required: auto or static")
        return Chunking()
    static = f.obj(strategy.get("static"), path + ".static")
    size = f.integer(static, "max_chunk_size_tokens", path + ".static.")
    overlap = f.integer(static, "chunk_overlap_tokens", path + ".static.", minimum=0)
    if size is None or not CHUNK_SIZES[0] <= size <= CHUNK_SIZES[1]:
        raise ir.invalid(path + ".static.max_chunk_size_tokens", f"must be from {CHUNK_SIZES[0]} to {CHUNK_SIZES[1]}")
    if overlap is None or overlap > size // 2:
        raise ir.invalid(path + ".static.chunk_overlap_tokens", "must be from 0 to half of max_chunk_size_tokens")
    return Chunking(size, overlap)


def attributes_of(body: dict[str, Any], key: str, path: str = "") -> Attributes | None:
    attributes = f.mapping(body, key, path)
    if attributes is None:
        return None
    if len(attributes) > MAX_ATTRIBUTES:
        raise ir.invalid(path + key, f"may hold at most {MAX_ATTRIBUTES} pairs")
    for name, value in attributes.items():
        if len(name) > MAX_KEY:
            raise ir.invalid(path + key, f"keys are at most {MAX_KEY} characters long")
        if not isinstance(value, str | int | float) or isinstance(value, str) and len(value) > MAX_VALUE:
            raise ir.invalid(f"{path}{key}.{name}", f"must be a string of at most {MAX_VALUE} characters, "
                                                    "a number or a boolean")
    return attributes


def _search_ask(body: dict[str, Any]) -> SearchAsk:
    query = body.get("query")
    queries = [query] if isinstance(query, str) else f.strings(body, "query")
    if not queries or len(queries) > MAX_QUERIES or not all(q.strip() for q in queries):
        raise ir.invalid("query", f"is required: a string, or 1 to {MAX_QUERIES} strings, none empty")
    f.boolean(body, "rewrite_query")  # accepted; the gateway searches for the query as written
    return SearchAsk(queries, *_searching(body, ""))


def _searching(body: dict[str, Any], path: str) -> tuple[int, dict[str, Any] | None, bool, float]:
    """A search's `max_num_results`, `filters` and `ranking_options` (whether to fuse, the score
    threshold), checked: a search request's or a `file_search` tool's."""
    limit = f.integer(body, "max_num_results", path)
    if limit is not None and not 1 <= limit <= MAX_RESULTS:
        raise ir.invalid(path + "max_num_results", f"must be from 1 to {MAX_RESULTS}")
    filters = body.get("filters")
    if filters is not None:
        check_filter(filters, path + "filters", 0)
    ranking = f.mapping(body, "ranking_options", path) or {}
    ranker = f.choice(ranking, "ranker", RANKERS, path + "ranking_options.")
    threshold = f.number(ranking, "score_threshold", path + "ranking_options.")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ir.invalid(path + "ranking_options.score_threshold", "must be from 0 to 1")
    return limit or DEFAULT_RESULTS, filters, ranker != "none", threshold or 0.0


def check_filter(raw: Any, path: str, depth: int) -> None:
    """A comparison (`key`, `type`, `value`) or a compound (`and`/`or` of `filters`), checked."""
    item = f.obj(raw, path)
    kind = f.choice(item, "type", (*COMPARISONS, "and", "or"), path + ".")
    if kind is None:
        raise ir.invalid(path + ".type", "is required")
    if kind in ("and", "or"):
        if depth >= MAX_FILTER_DEPTH:
            raise ir.invalid(path, f"compound filters nest at most {MAX_FILTER_DEPTH} deep")
        for i, inner in enumerate(f.array(item, "filters", path + ".", required=True)):
            check_filter(inner, f"{path}.filters[{i}]", depth + 1)
        return
    f.string(item, "key", path + ".", required=True)
    value = item.get("value")
    if kind in ("in", "nin"):
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            raise ir.invalid(path + ".value", f"must be an array of strings or numbers for {kind}")
    elif not isinstance(value, str | int | float):
        raise ir.invalid(path + ".value", "must be a string, a number or a boolean")


def matches(filters: dict[str, Any] | None, attributes: Attributes) -> bool:
    """Whether a file's attributes pass a checked filter. A comparison of a missing attribute, or of
    values that do not compare (a string with a number), is false; `ne` and `nin` then hold."""
    if filters is None:
        return True
    kind = filters["type"]
    if kind == "and":
        return all(matches(inner, attributes) for inner in filters["filters"])
    if kind == "or":
        return any(matches(inner, attributes) for inner in filters["filters"])
    if kind == "not":  # Gemini's negation (`metadata_filter.py`)
        return not matches(filters["filters"][0], attributes)
    value, wanted = attributes.get(filters["key"]), filters["value"]
    if kind in ("in", "nin"):
        return (value is not None and value in wanted) == (kind == "in")
    if isinstance(value, list):  # a Gemini document's string list: whether it holds the value
        return kind in ("eq", "ne") and (wanted in value) == (kind == "eq")
    if kind in ("eq", "ne"):
        return (value is not None and type(value) is type(wanted) and value == wanted
                or _numbers(value, wanted) and value == wanted) == (kind == "eq")
    if not (_numbers(value, wanted) or isinstance(value, str) and isinstance(wanted, str)):
        return False
    assert value is not None
    return {"gt": value > wanted, "gte": value >= wanted, "lt": value < wanted, "lte": value <= wanted}[kind]


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


# The Responses API's `file_search` tool, run by the gateway ---------------------------------------

FILE_SEARCH = "file_search"  # the function the model is given in the hosted tool's place
RESULTS = "file_search_call.results"  # what a Responses request `include`s to get each call's results
_DESCRIPTION = ("Search the files the user has provided for passages that answer the queries. Returns the best "
                "matching passages, each with its file's name and a relevance score from 0 to 1.")
_PARAMETERS = {"type": "object", "properties": {"queries": {
    "type": "array", "items": {"type": "string"},
    "description": "One or more search queries, each a question or keywords in the files' language."}},
    "required": ["queries"], "additionalProperties": False}


def search_function() -> ir.Tool:
    """The function the model calls in the hosted tool's place."""
    return ir.Tool(FILE_SEARCH, _DESCRIPTION, orjson.loads(orjson.dumps(_PARAMETERS)))


@dataclass(slots=True, frozen=True)
class FileSearchTool:
    """A Responses `file_search` tool (or a Gemini `fileSearch` one): the stores to search and how."""

    store_ids: list[str]
    ask: SearchAsk  # without queries: the model gives them


def file_search_tool(spec: dict[str, Any]) -> FileSearchTool:
    path = "tools[file_search]."
    store_ids = f.strings(spec, "vector_store_ids", path)
    if not store_ids:
        raise ir.invalid(path + "vector_store_ids", "is required: the vector stores to search")
    return FileSearchTool(list(dict.fromkeys(store_ids)), SearchAsk([], *_searching(spec, path)))


def queries_of(arguments: str) -> list[str]:
    """The queries a model's call of `FILE_SEARCH` asks (a lone `query` too); none if it is not JSON."""
    try:
        asked = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return []
    found = asked.get("queries", asked.get("query")) if isinstance(asked, dict) else None
    found = [found] if isinstance(found, str) else found if isinstance(found, list) else []
    return [q for q in found if isinstance(q, str) and q.strip()][:MAX_QUERIES]


def file_search_call(item_id: str, queries: list[str], hits: list[Hit], with_results: bool) -> dict[str, Any]:
    """The `file_search_call` output item of a search the gateway ran; its results if asked for."""
    results = [{"file_id": h.file_id, "filename": h.filename, "score": h.score, "text": h.text,
                "attributes": h.attributes} for h in hits] if with_results else None
    return {"type": "file_search_call", "id": item_id, "status": "completed", "queries": queries, "results": results}


def results_text(hits: list[Hit]) -> str:
    """The passages found, as the model reads them in the call's result."""
    if not hits:
        return "No passage of the files matches these queries."
    return "\n\n".join(f"[{n}] {h.filename} (file {h.file_id}, score {h.score:.2f})\n{h.text}"
                        for n, h in enumerate(hits, start=1))


# What the store keeps ---------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Counts:
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled


@dataclass(slots=True, frozen=True)
class StoredStore:
    id: str
    name: str
    description: str | None
    metadata: dict[str, str]
    created: int
    last_active: int
    expires_days: int | None
    counts: Counts = Counts()
    usage_bytes: int = 0


@dataclass(slots=True, frozen=True)
class StoredVectorFile:
    store_id: str
    file_id: str
    filename: str
    created: int
    status: str
    attributes: Attributes
    chunking: Chunking
    usage_bytes: int = 0
    error: tuple[str, str] | None = None  # (code, message)
    batch_id: str | None = None


@dataclass(slots=True, frozen=True)
class StoredBatch:
    id: str
    store_id: str
    created: int
    cancelled: bool
    counts: Counts = Counts()


@dataclass(slots=True, frozen=True)
class Hit:
    """A chunk found by a search, with its file's name and attributes."""

    file_id: str
    filename: str
    attributes: Attributes
    text: str
    score: float


def new_store_id() -> str:
    return f"vs_{secrets.token_hex(12)}"


def new_batch_id() -> str:
    return f"vsfb_{secrets.token_hex(12)}"


# What it answers --------------------------------------------------------------------------------


def expires_at(store: StoredStore) -> int | None:
    return store.last_active + store.expires_days * 86400 if store.expires_days is not None else None


def expired(store: StoredStore, now: float) -> bool:
    end = expires_at(store)
    return end is not None and end <= now


def _counts(counts: Counts) -> dict[str, int]:
    return {"in_progress": counts.in_progress, "completed": counts.completed, "failed": counts.failed,
            "cancelled": counts.cancelled, "total": counts.total}


def store_object(store: StoredStore, now: float) -> dict[str, Any]:
    status = "expired" if expired(store, now) else "in_progress" if store.counts.in_progress else "completed"
    return {"id": store.id, "object": "vector_store", "created_at": store.created, "name": store.name,
            "description": store.description, "usage_bytes": store.usage_bytes, "file_counts": _counts(store.counts),
            "status": status, "last_active_at": store.last_active, "metadata": store.metadata,
            "expires_after": None if store.expires_days is None else {"anchor": "last_active_at",
                                                                      "days": store.expires_days},
            "expires_at": expires_at(store)}


def file_object(stored: StoredVectorFile) -> dict[str, Any]:
    error = {"code": stored.error[0], "message": stored.error[1]} if stored.error else None
    return {"id": stored.file_id, "object": "vector_store.file", "usage_bytes": stored.usage_bytes,
            "created_at": stored.created, "vector_store_id": stored.store_id, "status": stored.status,
            "last_error": error, "attributes": stored.attributes,
            "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": stored.chunking.size,
                                                               "chunk_overlap_tokens": stored.chunking.overlap}}}


def batch_object(batch: StoredBatch) -> dict[str, Any]:
    counts = batch.counts
    status = ("cancelled" if batch.cancelled and not counts.in_progress else "in_progress" if counts.in_progress
              else "failed" if counts.failed and not counts.completed else "completed")
    return {"id": batch.id, "object": "vector_store.files_batch", "created_at": batch.created,
            "vector_store_id": batch.store_id, "status": status, "file_counts": _counts(counts)}


def deleted_object(kind: str, item_id: str) -> dict[str, Any]:
    return {"id": item_id, "object": f"{kind}.deleted", "deleted": True}


def search_page(queries: list[str], hits: list[Hit]) -> dict[str, Any]:
    return {"object": "vector_store.search_results.page", "search_query": queries,
            "data": [{"file_id": hit.file_id, "filename": hit.filename, "score": hit.score,
                      "attributes": hit.attributes, "content": [{"type": "text", "text": hit.text}]}
                     for hit in hits],
            "has_more": False, "next_page": None}


def content_page(texts: list[str]) -> dict[str, Any]:
    return {"object": "vector_store.file_content.page", "data": [{"type": "text", "text": t} for t in texts],
            "has_more": False, "next_page": None}


def store_not_found(store_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"No vector store found with id '{store_id}'.")


def file_not_found(file_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"No file found with id '{file_id}'.")


def batch_not_found(batch_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"No vector store file batch found with id '{batch_id}'.")
