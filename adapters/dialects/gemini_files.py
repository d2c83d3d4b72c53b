"""Gemini Files (`client.files` in google-genai), the wire only: its routes (the resumable upload's
start and pieces under `/upload/v1beta/files`, and `/v1beta/files`), the start's body, a list's
query, and the File resources it answers with.

An upload starts with the key's credential and gets an upload URL whose `upload_id` is the session's
unguessable id; its pieces are sent there without the key, as Google's clients send them
(`operations.FILES_UPLOAD` is `keyless`). The file lands in the store both other dialects' Files
APIs share, and a `fileData` part whose `fileUri` names it is read on any upstream (`file_refs.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route, resource
from interlingua.adapters.dialects.files import Listing, StoredFile

UPLOAD = "/upload/v1beta/files"
PREFIX = "/v1beta/files"  # not /v1/files, which is OpenAI's
DOWNLOAD = ":download"  # a file's bytes: `files/{id}:download?alt=media`, where Google lets only generated ones
EXPIRY = 48 * 3600  # a Gemini file is kept two days, as Google keeps them
MAX_PAGE = 100
DEFAULT_PAGE = 10


@dataclass(slots=True, frozen=True)
class UploadStart:
    """What a resumable upload's start says of the file to come."""

    display_name: str
    media_type: str
    size: int


def match(method: str, path: str, query: bytes) -> Route | None:
    if path == UPLOAD and method == "POST":
        session = parse_qs(query.decode("latin-1")).get("upload_id", [""])[-1]
        return Route(ops.FILES_UPLOAD, {"upload": session}) if session else Route(ops.FILES_CREATE, {})
    if method == "GET" and path.endswith(DOWNLOAD) and path.startswith(PREFIX + "/"):
        return Route(ops.FILES_CONTENT, {"id": path[len(PREFIX) + 1:-len(DOWNLOAD)]})
    return resource(method, path, PREFIX, {"GET": ops.FILES_LIST}, {"GET": ops.FILES_GET, "DELETE": ops.FILES_DELETE})


def decode_start(body: Any, headers: Mapping[bytes, bytes]) -> UploadStart:
    file = f.mapping(f.obj(body or {}, "body"), "file") or {}  # proto JSON: either spelling of a field

    def field(camel: str, snake: str) -> Any:
        return file.get(camel, file.get(snake))
    return upload_start(headers, field("mimeType", "mime_type"), field("sizeBytes", "size_bytes"),
                        field("displayName", "display_name"))


def upload_start(headers: Mapping[bytes, bytes], media_type: Any, size: Any, name: Any) -> UploadStart:
    """A resumable upload's start (its headers, and what its body says of the file): for Files and
    for File Search stores alike."""
    if headers.get(b"x-goog-upload-protocol") != b"resumable" or headers.get(b"x-goog-upload-command") != b"start":
        raise ir.invalid("X-Goog-Upload-Protocol", "uploads here are resumable: start one with "
                         "`X-Goog-Upload-Protocol: resumable` and `X-Goog-Upload-Command: start`")
    size = headers.get(b"x-goog-upload-header-content-length", b"").decode("latin-1") or str(size or "")
    media_type = headers.get(b"x-goog-upload-header-content-type", b"").decode("latin-1") or media_type
    if not size.isdigit() or not isinstance(media_type, str) or not media_type:
        raise ir.invalid("file.sizeBytes", "the file's size and type are required (`X-Goog-Upload-Header-"
                         "Content-Length`, `X-Goog-Upload-Header-Content-Type`)")
    return UploadStart(name if isinstance(name, str) and name else "file", media_type, int(size))


def listing(query_string: bytes) -> Listing:
    """`pageSize` (1 to 100, 10 by default) and `pageToken`, newest first."""
    query = parse_qs(query_string.decode("latin-1"))
    return Listing(None, query.get("pageToken", [None])[-1], f.page_size(query, "pageSize", MAX_PAGE, DEFAULT_PAGE),
                   True)


def file_object(stored: StoredFile, base_url: str) -> dict[str, Any]:
    made = f.rfc3339(stored.created)
    return {"name": f"files/{stored.id}", "displayName": stored.filename, "mimeType": stored.media_type,
            "sizeBytes": str(stored.size), "createTime": made, "updateTime": made,
            "expirationTime": f.rfc3339(stored.expires), "uri": f"{base_url}{PREFIX}/{stored.id}",
            "downloadUri": f"{base_url}{PREFIX}/{stored.id}{DOWNLOAD}?alt=media", "state": "ACTIVE",
            "source": "UPLOADED"}


def file_list(files: list[StoredFile], has_more: bool, base_url: str) -> dict[str, Any]:
    found: dict[str, Any] = {"files": [file_object(stored, base_url) for stored in files]}
    if has_more and files:
        found["nextPageToken"] = files[-1].id
    return found


def not_found(name: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"File {name} not found.")


def file_id(name: str) -> str:
    """The store's id of a file named `files/ID` (the path's `ID` alone is taken too)."""
    return name.removeprefix("files/")
