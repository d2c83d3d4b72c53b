"""Anthropic Message Batches (`/v1/messages/batches`), the wire only: its routes, a create's
requests checked and written as the JSONL lines the gateway's batch runner reads, and the
MessageBatch objects and results it answers with.

The gateway runs an Anthropic batch as it runs an OpenAI one (`middleware/batches.py`): its
requests become a `batch` input file of `/v1/messages` lines, each asked as the key's own request,
so a batch's models may be any upstream's. Its state is kept in OpenAI's Batch shape, and read
here into Anthropic's (`processing_status`, the five counts, RFC 3339 times, `results_url`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route, resource
from interlingua.adapters.dialects.openai_batches import FINAL, input_line

PREFIX = "/v1/messages/batches"
ENDPOINT = "/v1/messages"
MAX_REQUESTS = 100_000
MAX_PAGE = 1000
DEFAULT_PAGE = 20
RESULTS_SECONDS = 29 * 86400  # results are kept 29 days, as Anthropic keeps them
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def match(method: str, path: str) -> Route | None:
    return resource(method, path, PREFIX, {"POST": ops.BATCHES_CREATE, "GET": ops.BATCHES_LIST},
                    {"GET": ops.BATCHES_GET, "DELETE": ops.BATCHES_DELETE},
                    {("cancel", "POST"): ops.BATCHES_CANCEL, ("results", "GET"): ops.BATCHES_RESULTS})


def decode_create(body: Any) -> bytes:
    """The batch's requests as input lines (JSONL), each a `/v1/messages` request."""
    requests = f.array(f.obj(body, "body"), "requests", required=True)
    if not requests or len(requests) > MAX_REQUESTS:
        raise ir.invalid("requests", f"must hold 1 to {MAX_REQUESTS} requests")
    seen: set[str] = set()
    lines = []
    for i, request in enumerate(requests):
        at = f"requests[{i}]."
        request = f.obj(request, f"requests[{i}]")
        custom_id = f.string(request, "custom_id", at, required=True)
        if not _CUSTOM_ID.fullmatch(custom_id):
            raise ir.invalid(at + "custom_id", "must be 1 to 64 letters, digits, '_' or '-'")
        if custom_id in seen:
            raise ir.invalid(at + "custom_id", f"{custom_id!r} is used by an earlier request")
        seen.add(custom_id)
        params = f.obj(f.req(request, "params", at), at + "params")
        if params.get("stream"):
            raise ir.invalid(at + "params.stream", "a batch's requests cannot stream")
        lines.append(orjson.dumps(input_line(custom_id, ENDPOINT, params)))
    return b"\n".join(lines) + b"\n"


def batch_object(batch: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A batch the runner keeps (OpenAI's Batch shape) as Anthropic's MessageBatch; `base_url` is
    where the client reached the gateway, for `results_url`."""
    status = batch["status"]
    counts = batch["request_counts"]
    ended = status in FINAL  # the runner keeps an Anthropic batch in OpenAI's statuses
    left = counts["total"] - counts["completed"] - counts["failed"]
    ended_at = batch.get("completed_at") or batch.get("cancelled_at") or batch.get("failed_at")
    return {"id": batch["id"], "type": "message_batch",
            "processing_status": "ended" if ended else "canceling" if status == "cancelling" else "in_progress",
            "request_counts": {"processing": 0 if ended else left, "succeeded": counts["completed"],
                               "errored": counts["failed"], "canceled": left if ended else 0, "expired": 0},
            "created_at": f.rfc3339(batch["created_at"]), "expires_at": f.rfc3339(batch["expires_at"]),
            "ended_at": f.rfc3339(ended_at) if ended else None,
            "cancel_initiated_at": f.rfc3339(batch.get("cancelling_at")),
            "archived_at": None, "results_url": f"{base_url}{PREFIX}/{batch['id']}/results" if ended else None}


def batch_list(batches: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"data": batches, "has_more": has_more, "first_id": batches[0]["id"] if batches else None,
            "last_id": batches[-1]["id"] if batches else None}


def results(custom_ids: list[str], answered: dict[str, tuple[int, Any]]) -> bytes:
    """The results file: each request's message, its error, or that it was canceled unasked."""
    lines = []
    for custom_id in custom_ids:
        found = answered.get(custom_id)
        if found is None:
            result: dict[str, Any] = {"type": "canceled"}
        elif 200 <= found[0] < 300:
            result = {"type": "succeeded", "message": found[1]}
        else:
            result = {"type": "errored", "error": found[1]}
        lines.append(orjson.dumps({"custom_id": custom_id, "result": result}))
    return b"".join(line + b"\n" for line in lines)


def deleted_object(batch_id: str) -> dict[str, Any]:
    return {"id": batch_id, "type": "message_batch_deleted"}


def not_found(batch_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"Message batch {batch_id} not found.")


def listing(query_string: bytes) -> tuple[str | None, int]:
    """`after_id` and `limit` (1 to 1000, 20 by default)."""
    query = parse_qs(query_string.decode("latin-1"))
    return query.get("after_id", [None])[-1], f.page_size(query, "limit", MAX_PAGE, DEFAULT_PAGE)
