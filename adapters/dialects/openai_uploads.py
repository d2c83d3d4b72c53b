"""OpenAI Uploads (`/v1/uploads`, the Uploads API reference), the wire only: a file larger than one
request may carry, sent in parts and assembled into a File.

`POST /v1/uploads` says the file's size, name, type and purpose; each `POST .../parts` carries one
part (`data`, at most the gateway's body cap); `POST .../complete` names the parts in order and
makes the File, which then is the Files API's like any upload; `POST .../cancel` drops it. The state
is the Files store's (`adapters/storage/files.py`), so any worker or replica takes the next part.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route, resource
from interlingua.adapters.dialects.files import StoredFile, the_upload
from interlingua.adapters.dialects.openai_files import BATCH_EXPIRY, PURPOSES, expiry, file_object

PREFIX = "/v1/uploads"
# OpenAI takes 8 GB; here a file is one value of its store (SQLite's and PostgreSQL's hold 1 GB at
# most), assembled in memory once.
MAX_BYTES = 512 * 2**20
MAX_PARTS = 10_000


def match(method: str, path: str) -> Route | None:
    return resource(method, path, PREFIX, {"POST": ops.UPLOADS_CREATE}, {},
                    {("parts", "POST"): ops.UPLOADS_PART, ("complete", "POST"): ops.UPLOADS_COMPLETE,
                     ("cancel", "POST"): ops.UPLOADS_CANCEL})


@dataclass(slots=True, frozen=True)
class UploadAsk:
    """What `POST /v1/uploads` asks for: the File it will make."""

    size: int
    filename: str
    media_type: str
    purpose: str
    expires_in: int | None  # the File's, in seconds from its creation


@dataclass(slots=True, frozen=True)
class Completion:
    """What `POST /v1/uploads/{id}/complete` asks for: the parts, in the file's order, and the
    MD5 the client expects of their bytes, where it gives one."""

    part_ids: list[str]
    md5: str | None = None


def decode_create(body: Any) -> UploadAsk:
    body = f.obj(body, "body")
    size = f.integer(body, "bytes", minimum=0)
    if size is None or size > MAX_BYTES:
        raise ir.invalid("bytes", f"is required, at most {MAX_BYTES} bytes")
    purpose = f.choice(body, "purpose", PURPOSES)
    if purpose is None:
        raise ir.invalid("purpose", "is required")
    expires_in = BATCH_EXPIRY if purpose == "batch" else None
    expires = f.mapping(body, "expires_after")
    if expires is not None:
        expires_in = expiry(f.string(expires, "anchor", "expires_after."),
                            f.integer(expires, "seconds", "expires_after."))
    return UploadAsk(size, f.string(body, "filename", required=True), f.string(body, "mime_type", required=True),
                     purpose, expires_in)


def decode_part(body: Any) -> ir.Upload:
    return the_upload(body, "data")


def decode_complete(body: Any) -> Completion:
    body = f.obj(body, "body")
    part_ids = f.strings(body, "part_ids")
    if not part_ids or len(part_ids) > MAX_PARTS:
        raise ir.invalid("part_ids", f"is required: the ids of the parts, in order (at most {MAX_PARTS})")
    return Completion(part_ids, (f.string(body, "md5") or "").lower() or None)


def new_upload_id() -> str:
    return f"upload_{secrets.token_hex(16)}"


def new_part_id() -> str:
    return f"part_{secrets.token_hex(16)}"


def upload_object(upload_id: str, made: StoredFile, expires_at: int, status: str) -> dict[str, Any]:
    """An Upload; `made` is the File it makes, listed as its `file` once it is made."""
    return {"id": upload_id, "object": "upload", "bytes": made.size, "created_at": made.created,
            "expires_at": expires_at, "filename": made.filename, "purpose": made.purpose, "status": status,
            "file": file_object(made) if status == "completed" else None}


def part_object(part_id: str, upload_id: str, created: int) -> dict[str, Any]:
    return {"id": part_id, "object": "upload.part", "created_at": created, "upload_id": upload_id}


def not_found(upload_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"No such Upload object: {upload_id}", param="upload_id")
