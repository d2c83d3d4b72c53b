"""Anthropic Files (the beta `/v1/files`, `client.beta.files` in the SDK), the wire only: the upload
form, a list's query, and the objects it answers with. Its routes are OpenAI's (`files.route`),
told apart by the `anthropic-version` header every Anthropic client sends.

The files are the gateway's, in the one store both dialects' Files APIs share (`files.py`), so a
message's `document` or `image` block whose source is `{"type": "file", "file_id"}` reads the file
on any upstream (`file_refs.py`). Uploads are downloadable here, as only files a tool made are on
Anthropic's API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import forms
from interlingua.adapters.dialects.files import FileUpload, Listing, StoredFile, media_type_of, the_upload

EXPIRY = (3600, 7_776_000)  # `expires_in_seconds`: one hour to ninety days
MAX_PAGE = 1000
DEFAULT_PAGE = 20
PAGE = "page_"  # a list's cursor: this, then the id of the page's last file
PURPOSE = "user_data"  # what an OpenAI client lists these files under


def decode_upload(body: Any) -> FileUpload:
    upload = the_upload(body)
    expires_in = forms.integer(forms.values(body), "expires_in_seconds")
    if expires_in is not None and not EXPIRY[0] <= expires_in <= EXPIRY[1]:
        raise ir.invalid("expires_in_seconds", f"must be an integer from {EXPIRY[0]} to {EXPIRY[1]}")
    return FileUpload(upload, PURPOSE, media_type_of(upload), expires_in)


def listing(query_string: bytes) -> Listing:
    """`limit` (1 to 1000, 20 by default) and the cursor: `page` (the SDK's), or `after_id` (older SDKs')."""
    query = parse_qs(query_string.decode("latin-1"))
    limit = f.page_size(query, "limit", MAX_PAGE, DEFAULT_PAGE)
    page = query.get("page", [""])[-1]
    if page and not page.startswith(PAGE):
        raise ir.invalid("page", "must be a cursor from a list's `next_page`")
    after = page[len(PAGE):] or query.get("after_id", [None])[-1]
    return Listing(None, after, limit, True)


def file_object(stored: StoredFile) -> dict[str, Any]:
    return {"id": stored.id, "type": "file", "filename": stored.filename, "mime_type": stored.media_type,
            "size_bytes": stored.size, "created_at": f.rfc3339(stored.created), "expires_at": f.rfc3339(stored.expires),
            "downloadable": True}


def file_list(files: list[StoredFile], has_more: bool) -> dict[str, Any]:
    last = files[-1].id if files else None
    return {"data": [file_object(stored) for stored in files], "has_more": has_more,
            "first_id": files[0].id if files else None, "last_id": last,
            "next_page": PAGE + last if has_more and last else None}


def deleted_object(file_id: str) -> dict[str, Any]:
    return {"id": file_id, "type": "file_deleted"}


def not_found(file_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"File not found: {file_id}")
