"""OpenAI Files (`/v1/files`, the Files API reference), the wire only: the upload form checked into a
`FileUpload`, a list's query, and the objects it answers with (the routes are `files.route`).

The gateway keeps the files itself (`middleware/files.py`, `adapters/storage/files.py`), so a
file uploaded once is read by a Chat or Responses turn on any upstream: the turn's references by
id become the file's content inline (`file_refs.py`).
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import forms
from interlingua.adapters.dialects import openai_pages as pages
from interlingua.adapters.dialects.files import FileUpload, Listing, StoredFile, media_type_of, the_upload

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
EXPIRY = (3600, 2_592_000)  # `expires_after[seconds]`: one hour to thirty days
BATCH_EXPIRY = 2_592_000  # a `batch` file expires after thirty days unless told otherwise, as OpenAI's
MAX_PAGE = 10_000  # a list's `limit`, at most and by default


def decode_upload(body: Any) -> FileUpload:
    upload = the_upload(body)
    values = forms.values(body)
    purpose = forms.choice(values, "purpose", PURPOSES)
    if purpose is None:
        raise ir.invalid("purpose", "is required")
    expires_in = BATCH_EXPIRY if purpose == "batch" else None
    if "expires_after[anchor]" in values or "expires_after[seconds]" in values:
        expires_in = expiry(forms.text(values, "expires_after[anchor]"),
                            forms.integer(values, "expires_after[seconds]"))
    return FileUpload(upload, purpose, media_type_of(upload), expires_in)


def expiry(anchor: str | None, seconds: int | None) -> int:
    """`expires_after`'s seconds, checked (an upload's form fields, or an Upload's JSON)."""
    if anchor != "created_at":
        raise ir.invalid("expires_after.anchor", "must be created_at")
    if seconds is None or not EXPIRY[0] <= seconds <= EXPIRY[1]:
        raise ir.invalid("expires_after.seconds", f"must be an integer from {EXPIRY[0]} to {EXPIRY[1]}")
    return seconds


def listing(query_string: bytes) -> Listing:
    return Listing(pages.query_value(query_string, "purpose"), *pages.page_of(query_string, MAX_PAGE, MAX_PAGE))


def file_object(stored: StoredFile) -> dict[str, Any]:
    return {"id": stored.id, "object": "file", "bytes": stored.size, "created_at": stored.created,
            "filename": stored.filename, "purpose": stored.purpose, "status": "processed",
            "expires_at": stored.expires, "status_details": None}


def file_list(files: list[StoredFile], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": [file_object(stored) for stored in files],
            "first_id": files[0].id if files else None, "last_id": files[-1].id if files else None,
            "has_more": has_more}


def deleted_object(file_id: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "deleted": True}


def not_found(file_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"No such File object: {file_id}", param="id")
