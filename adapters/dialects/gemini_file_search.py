"""Gemini File Search (`client.file_search_stores` in google-genai), the wire only: its routes, the
bodies of a store's create, a file's import and a resumable upload's start, and the FileSearchStore,
Document and Operation resources it answers with; and the `fileSearch` tool of a generateContent
turn, with the `groundingMetadata` that reports what it found.

A File Search store is one of the gateway's vector stores (`openai_vector_stores.py`), so either
dialect's clients reach the same stores: a Document is a store's file (named by the file's id), its
`customMetadata` the file's attributes. An import or upload is done when its document is indexed:
the Operation is named by the document, so it needs no record of its own.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import gemini_files, metadata_filter
from interlingua.adapters.dialects import openai_vector_stores as vectors
from interlingua.adapters.dialects.base import Route
from interlingua.adapters.dialects.files import StoredFile

PREFIX = "/v1beta/fileSearchStores"
UPLOAD = "/upload/v1beta/fileSearchStores"
NAME = "fileSearchStores/"
MAX_PAGE = 20
DEFAULT_PAGE = 10
MAX_METADATA = 20  # custom metadata a document may carry, as Google's
DEFAULT_TOP_K = 10
TOOL = "fileSearch"
_TYPES = "type.googleapis.com/google.ai.generativelanguage.v1beta."
_ID_SLUG = 27  # a made name's characters from the display name, before `-` and 12 random ones (40 in all)

_STORE = {"GET": ops.FILE_SEARCH_STORES_GET, "DELETE": ops.FILE_SEARCH_STORES_DELETE}
_DOCUMENT = {"GET": ops.FILE_SEARCH_DOCUMENTS_GET, "DELETE": ops.FILE_SEARCH_DOCUMENTS_DELETE}


def match(method: str, path: str, query: bytes) -> Route | None:
    """`/v1beta/fileSearchStores[/{store}[:importFile | /documents[/{document}] | [/upload]/operations/{op}]]`
    and `/upload/v1beta/fileSearchStores/{store}:uploadToFileSearchStore`; params `id`, `document`,
    `operation` (with `via`, `upload` or `operations`) and, for an upload's pieces, `upload`."""
    if path.startswith(UPLOAD + "/") and method == "POST":
        store_id, _, verb = path[len(UPLOAD) + 1:].rpartition(":")
        if verb != "uploadToFileSearchStore" or not store_id or "/" in store_id:
            return None
        session = parse_qs(query.decode("latin-1")).get("upload_id", [""])[-1]
        if session:
            return Route(ops.FILE_SEARCH_UPLOAD_PIECE, {"id": store_id, "upload": session})
        return Route(ops.FILE_SEARCH_UPLOAD, {"id": store_id})
    rest = path[len(PREFIX):].rstrip("/")
    if not path.startswith(PREFIX) or rest and rest[0] != "/":
        return None
    if not rest:
        listed = {"POST": ops.FILE_SEARCH_STORES_CREATE, "GET": ops.FILE_SEARCH_STORES_LIST}.get(method)
        return Route(listed, {}) if listed is not None else None
    parts = rest[1:].split("/")
    store_id, _, verb = parts[0].partition(":")
    params = {"id": store_id}
    operation: ops.Operation | None = None
    if len(parts) == 1:
        operation = (ops.FILE_SEARCH_IMPORT if verb == "importFile" and method == "POST"
                     else None if verb else _STORE.get(method))
    elif not verb and parts[1] == "documents" and len(parts) <= 3:
        if len(parts) == 2:
            operation = ops.FILE_SEARCH_DOCUMENTS_LIST if method == "GET" else None
        else:
            params["document"], operation = parts[2], _DOCUMENT.get(method)
    elif not verb and method == "GET" and parts[1:-1] in (["operations"], ["upload", "operations"]):
        params |= {"operation": parts[-1], "via": parts[1]}
        operation = ops.FILE_SEARCH_OPERATIONS_GET
    if operation is None or not all(params.values()):
        return None
    return Route(operation, params)


# What clients ask -------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class StoreCreate:
    display_name: str


@dataclass(slots=True, frozen=True)
class UploadAsk:
    """A resumable upload's start: the file to come, and the document it becomes."""

    start: gemini_files.UploadStart
    document: vectors.FileAsk  # its file id is made when the upload starts


FileSearchRequest = StoreCreate | vectors.FileAsk | UploadAsk


def decode(operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes]) -> FileSearchRequest:
    body = f.obj(body or {}, "body")
    if operation is ops.FILE_SEARCH_STORES_CREATE:
        f.string(body, f.spelled(body, "embeddingModel"))  # accepted: the gateway embeds with its own model
        return StoreCreate(f.string(body, f.spelled(body, "displayName")) or "")
    if operation is ops.FILE_SEARCH_UPLOAD:
        name = f.string(body, f.spelled(body, "displayName"))
        start = gemini_files.upload_start(headers, f.string(body, f.spelled(body, "mimeType")), None, name)
        return UploadAsk(start, _document("", body))
    file_name = f.string(body, f.spelled(body, "fileName"), required=True)
    return _document(gemini_files.file_id(file_name), body)


def _document(file_id: str, body: dict[str, Any]) -> vectors.FileAsk:
    return vectors.FileAsk(file_id, _metadata(body), _chunking(body))


def _metadata(body: dict[str, Any]) -> vectors.Attributes | None:
    key = f.spelled(body, "customMetadata")
    listed = f.array(body, key)
    if listed is None:
        return None
    if len(listed) > MAX_METADATA:
        raise ir.invalid(key, f"may hold at most {MAX_METADATA} entries")
    attributes: vectors.Attributes = {}
    for i, raw in enumerate(listed):
        path = f"{key}[{i}]."
        entry = f.obj(raw, path[:-1])
        name = f.string(entry, "key", path, required=True)
        if len(name) > vectors.MAX_KEY:
            raise ir.invalid(path + "key", f"is at most {vectors.MAX_KEY} characters long")
        text = f.string(entry, f.spelled(entry, "stringValue"), path)
        number = f.number(entry, f.spelled(entry, "numericValue"), path)
        listing = f.mapping(entry, f.spelled(entry, "stringListValue"), path)
        values = f.strings(listing, "values", path + "stringListValue.") if listing is not None else None
        given = [v for v in (text, number, values) if v is not None]
        if len(given) != 1:
            raise ir.invalid(path[:-1], "takes one of stringValue, numericValue and stringListValue")
        attributes[name] = given[0]
    return attributes


def _chunking(body: dict[str, Any]) -> vectors.Chunking:
    config = f.mapping(body, f.spelled(body, "chunkingConfig"))
    spaces = f.mapping(config, f.spelled(config, "whiteSpaceConfig"), "chunkingConfig.") if config else None
    if not spaces:
        return vectors.Chunking()
    path = "chunkingConfig.whiteSpaceConfig."
    size = f.integer(spaces, f.spelled(spaces, "maxTokensPerChunk"), path) or vectors.AUTO_CHUNK[0]
    overlap = f.integer(spaces, f.spelled(spaces, "maxOverlapTokens"), path, minimum=0)
    if not vectors.CHUNK_SIZES[0] <= size <= vectors.CHUNK_SIZES[1]:
        raise ir.invalid(path + "maxTokensPerChunk", f"must be from {vectors.CHUNK_SIZES[0]} to "
                                                     f"{vectors.CHUNK_SIZES[1]}")
    overlap = min(size // 2, vectors.AUTO_CHUNK[1]) if overlap is None else overlap
    if overlap > size // 2:
        raise ir.invalid(path + "maxOverlapTokens", "must be at most half of maxTokensPerChunk")
    return vectors.Chunking(size, overlap)


def listing(query_string: bytes) -> tuple[str | None, int]:
    """A list's `pageToken` and `pageSize` (1 to 20, 10 by default)."""
    query = parse_qs(query_string.decode("latin-1"))
    return query.get("pageToken", [None])[-1], f.page_size(query, "pageSize", MAX_PAGE, DEFAULT_PAGE)


def forced(query_string: bytes) -> bool:
    """A delete's `force`: remove what the store or document holds too."""
    return parse_qs(query_string.decode("latin-1")).get("force", ["false"])[-1].lower() == "true"


def new_store_id(display_name: str) -> str:
    """A store's id as Google makes one: the display name's letters and digits, then 12 random ones."""
    slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")[:_ID_SLUG].strip("-")
    suffix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    return f"{slug}-{suffix}" if slug else suffix


# The `fileSearch` tool of a generateContent turn --------------------------------------------------


def file_search_tool(spec: dict[str, Any]) -> vectors.FileSearchTool:
    """A turn's `fileSearch` tool (`{"fileSearch": {...}}`, either spelling): its stores and search."""
    tool = f.obj(spec.get(TOOL, spec.get("file_search")), "tools[fileSearch]")
    path = "tools[fileSearch]."
    names = f.strings(tool, f.spelled(tool, "fileSearchStoreNames"), path)
    if not names:
        raise ir.invalid(path + "fileSearchStoreNames", "is required: the File Search stores to search")
    top_k = f.integer(tool, f.spelled(tool, "topK"), path)
    if top_k is not None and not 1 <= top_k <= vectors.MAX_RESULTS:
        raise ir.invalid(path + "topK", f"must be from 1 to {vectors.MAX_RESULTS}")
    text = f.string(tool, f.spelled(tool, "metadataFilter"), path)
    filters = metadata_filter.parse(text) if text else None
    store_ids = list(dict.fromkeys(store_id(name) for name in names))
    return vectors.FileSearchTool(store_ids, vectors.SearchAsk([], top_k or DEFAULT_TOP_K, filters, True, 0.0))


def grounding(found: list[tuple[str, vectors.Hit]]) -> dict[str, Any]:
    """A candidate's `groundingMetadata`: each passage the searches found, with its store."""
    return {"groundingChunks": [{"retrievedContext": {
        "title": hit.filename, "text": hit.text, "fileSearchStore": NAME + store,
        **({"customMetadata": _metadata_out(hit.attributes)} if hit.attributes else {})}} for store, hit in found]}


# What it answers --------------------------------------------------------------------------------


def store_id(name: str) -> str:
    return name.removeprefix(NAME)


def store_object(store: vectors.StoredStore) -> dict[str, Any]:
    counts = store.counts
    found: dict[str, Any] = {"name": NAME + store.id, "displayName": store.name,
                             "createTime": f.rfc3339(store.created), "updateTime": f.rfc3339(store.last_active)}
    for field, value in (("activeDocumentsCount", counts.completed), ("pendingDocumentsCount", counts.in_progress),
                         ("failedDocumentsCount", counts.failed), ("sizeBytes", store.usage_bytes)):
        if value:  # int64s, as proto JSON writes them: strings, and none when zero
            found[field] = str(value)
    return found


def store_list(stores: list[vectors.StoredStore], has_more: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"fileSearchStores": [store_object(s) for s in stores]}
    if has_more and stores:
        found["nextPageToken"] = stores[-1].id
    return found


_STATES = {"in_progress": "STATE_PENDING", "completed": "STATE_ACTIVE"}


def document_name(store: str, file_id: str) -> str:
    return f"{NAME}{store}/documents/{file_id}"


def document_object(stored: vectors.StoredVectorFile, made: StoredFile | None) -> dict[str, Any]:
    """A store's file as a Document; `made`, its file in the Files store, while it is kept."""
    found: dict[str, Any] = {"name": document_name(stored.store_id, stored.file_id), "displayName": stored.filename,
                             "state": _STATES.get(stored.status, "STATE_FAILED"),
                             "createTime": f.rfc3339(stored.created), "updateTime": f.rfc3339(stored.created)}
    if stored.attributes:
        found["customMetadata"] = _metadata_out(stored.attributes)
    if made is not None:
        found |= {"sizeBytes": str(made.size), "mimeType": made.media_type}
    return found


def document_list(documents: list[dict[str, Any]], has_more: bool, last: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"documents": documents}
    if has_more and last:
        found["nextPageToken"] = last
    return found


def _metadata_out(attributes: vectors.Attributes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, value in attributes.items():
        if isinstance(value, list):
            out.append({"key": key, "stringListValue": {"values": value}})
        elif isinstance(value, str):
            out.append({"key": key, "stringValue": value})
        else:
            out.append({"key": key, "numericValue": float(value)})
    return out


def operation_object(stored: vectors.StoredVectorFile, uploaded: bool) -> dict[str, Any]:
    """The import's (or upload's) Operation: done once its document is indexed, with the
    document's name, or the reason it failed."""
    store = NAME + stored.store_id
    kind = "UploadToFileSearchStoreResponse" if uploaded else "ImportFileResponse"
    found: dict[str, Any] = {"name": f"{store}/{'upload/' if uploaded else ''}operations/{stored.file_id}",
                             "done": stored.status != "in_progress"}
    if stored.status == "completed":
        found["response"] = {"@type": _TYPES + kind, "parent": store,
                             "documentName": document_name(stored.store_id, stored.file_id)}
    elif found["done"]:
        message = stored.error[1] if stored.error else "the file could not be indexed"
        found["error"] = {"code": 3, "message": message}  # google.rpc.Code INVALID_ARGUMENT
    return found


def store_not_found(name: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"FileSearchStore {name} not found.")


def document_not_found(name: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"Document {name} not found.")


def not_empty(what: str) -> ir.GatewayError:
    """A delete of what still holds something, without `force`."""
    return ir.GatewayError("invalid_request", f"{what} is not empty; delete it with force=true to delete what "
                                              "it holds too.", code="failed_precondition")
