"""Gemini's Batch API (`models/{model}:batchGenerateContent`, `batches`), the wire only: its routes,
a create's inline requests written as the JSONL lines the gateway's batch runner reads, and the
batch operations it answers with.

The gateway runs a Gemini batch as it runs an OpenAI one (`middleware/batches.py`): each request
becomes a `generateContent` line of the batch's model, asked as the key's own request, so the
model may be any upstream's. Its state is kept in OpenAI's Batch shape and read here into Gemini's
long-running operation (`metadata.state`, times, `batchStats`, and once it has ended the
responses, in the requests' order: inline, each with the metadata it was sent with, for inline
requests; for a file of requests, a file of responses, each with its line's `key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route
from interlingua.adapters.dialects.openai_batches import FINAL, input_line

PREFIX = "/v1beta/batches"
MAX_REQUESTS = 100_000
MAX_PAGE = 1000
DEFAULT_PAGE = 50
RESULTS_SECONDS = 2 * 86400  # a batch's answers are kept two days, as Google keeps its files
_OPERATION = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_STATES = {"validating": "BATCH_STATE_PENDING", "completed": "BATCH_STATE_SUCCEEDED", "failed": "BATCH_STATE_FAILED",
           "cancelled": "BATCH_STATE_CANCELLED", "expired": "BATCH_STATE_EXPIRED"}
_UNASKED = {"code": 499, "message": "The request was cancelled before it ran.", "status": "CANCELLED"}


def match(method: str, path: str) -> Route | None:
    """`batches` (list), `batches/{id}` (get, delete) and `batches/{id}:cancel`."""
    rest = path[len(PREFIX):].strip("/")
    if not rest:
        return Route(ops.BATCHES_LIST, {}) if method == "GET" else None
    batch, _, verb = rest.partition(":")
    if "/" in batch:
        return None
    if verb:
        return Route(ops.BATCHES_CANCEL, {"id": batch}) if verb == "cancel" and method == "POST" else None
    operation = {"GET": ops.BATCHES_GET, "DELETE": ops.BATCHES_DELETE}.get(method)
    return Route(operation, {"id": batch}) if operation is not None else None


def endpoint(model: str) -> str:
    """Where each request of a batch for `model` goes."""
    return f"/v1beta/models/{model}:generateContent"


@dataclass(slots=True, frozen=True)
class BatchAsk:
    """What a create asks for: its requests inline (as input lines already), or the name of a file
    of them, and the batch's display name."""

    lines: bytes | None
    file: str | None
    display_name: str | None


def decode_create(body: Any, model: str) -> BatchAsk:
    """A create's requests: inline ones as input lines (JSONL), each a `generateContent` request
    of `model` that keeps its `metadata`; or the name of a file of `{"key", "request"}` lines."""
    batch = f.obj(f.req(f.obj(body, "body"), "batch"), "batch")
    name = f.string(batch, "displayName", "batch.")
    source = f.obj(f.req(batch, "inputConfig", "batch."), "batch.inputConfig")
    if "fileName" in source:
        return BatchAsk(None, f.string(source, "fileName", "batch.inputConfig.", required=True), name)
    wrapper = f.obj(f.req(source, "requests", "batch.inputConfig."), "batch.inputConfig.requests")
    requests = f.array(wrapper, "requests", "batch.inputConfig.requests.", required=True)
    at = "batch.inputConfig.requests.requests"
    return BatchAsk(_lines([(str(i), item) for i, item in enumerate(requests)], model, at, True), None, name)


def decode_file(data: bytes, model: str) -> bytes:
    """A file of requests (each line `{"key", "request"}`) as input lines, each keyed by its `key`."""
    keyed = []
    for number, text in enumerate(data.splitlines(), 1):
        if text.strip():
            try:
                item = f.obj(orjson.loads(text), f"line {number}")
            except orjson.JSONDecodeError:
                raise ir.invalid("batch.inputConfig.fileName", f"line {number} is not JSON") from None
            keyed.append((f.string(item, "key", f"line {number}: ", required=True), item))
    return _lines(keyed, model, "batch.inputConfig.fileName", False)


def _lines(items: list[tuple[str, Any]], model: str, at: str, inline: bool) -> bytes:
    """Keyed requests as input lines; an inline one's line keeps its `metadata`."""
    if not items or len(items) > MAX_REQUESTS:
        raise ir.invalid(at, f"must hold 1 to {MAX_REQUESTS} requests")
    seen: set[str] = set()
    lines = []
    for key, item in items:
        where = f"{at}[{key}]"
        item = f.obj(item, where)
        if key in seen:
            raise ir.invalid(where, f"the key {key!r} is used by an earlier request")
        seen.add(key)
        request = dict(f.obj(f.req(item, "request", where + "."), where + ".request"))
        request.pop("model", None)  # the batch's, in the path of each line
        line = input_line(key, endpoint(model), request)
        if inline:
            line["metadata"] = f.mapping(item, "metadata", where + ".")
        lines.append(orjson.dumps(line))
    return b"\n".join(lines) + b"\n"


def is_gemini(batch: dict[str, Any]) -> bool:
    """Whether a batch the runner keeps is a Gemini client's (an OpenAI or Anthropic one is not)."""
    found: str = batch["endpoint"]
    return found.startswith("/v1beta/models/") and found.endswith(":generateContent")


def responses(lines: bytes, answered: dict[str, tuple[int, Any]]) -> list[dict[str, Any]]:
    """An ended batch's responses, in its requests' order: each request's answer or its error
    (one a cancel left unasked is an error too, as Google leaves it), with the `metadata` an inline
    request was sent with, or the `key` of a file's line."""
    out = []
    for text in lines.splitlines():
        if not text.strip():
            continue
        line = orjson.loads(text)
        found = answered.get(line["custom_id"])
        if found is None:
            entry: dict[str, Any] = {"error": _UNASKED}
        elif 200 <= found[0] < 300:
            entry = {"response": found[1]}
        else:  # asked through the Gemini dialect, its error is Gemini's already
            error = found[1].get("error") if isinstance(found[1], dict) else None
            entry = {"error": error if isinstance(error, dict) else {"code": found[0], "message": str(found[1])}}
        if "metadata" not in line:
            entry = {"key": line["custom_id"], **entry}
        elif line["metadata"] is not None:
            entry["metadata"] = line["metadata"]
        out.append(entry)
    return out


def responses_file(answers: list[dict[str, Any]]) -> bytes:
    """The responses of a batch read from a file, as the file of them (JSONL, each with its `key`)."""
    return b"".join(orjson.dumps(answer) + b"\n" for answer in answers)


def batch_object(batch: dict[str, Any], output: dict[str, Any] | None = None) -> dict[str, Any]:
    """A batch the runner keeps (OpenAI's Batch shape) as Gemini's batch operation; `output` its
    responses once it has ended (`inline`, or the name of their file)."""
    counts = batch["request_counts"]
    ended = batch["status"] in FINAL
    ended_at = batch.get("completed_at") or batch.get("cancelled_at") or batch.get("failed_at")
    name = f"batches/{batch['id']}"
    model = batch["endpoint"].removeprefix("/v1beta/").partition(":")[0]
    metadata: dict[str, Any] = {
        "@type": _OPERATION, "name": name, "model": model,
        "displayName": (batch.get("metadata") or {}).get("displayName") or batch["id"],
        "state": _STATES.get(batch["status"], "BATCH_STATE_RUNNING"),
        "createTime": f.rfc3339(batch["created_at"]), "updateTime": f.rfc3339(ended_at or batch["created_at"]),
        "batchStats": {"requestCount": str(counts["total"]), "successfulRequestCount": str(counts["completed"]),
                       "failedRequestCount": str(counts["failed"]),
                       "pendingRequestCount": str(0 if ended else counts["total"] - counts["completed"]
                                                  - counts["failed"])}}
    if ended:
        metadata["endTime"] = f.rfc3339(ended_at)
    if output is not None:
        metadata["output"] = output
    return {"name": name, "metadata": metadata, "done": ended}


def batch_list(batches: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    """A page of Gemini batches; the next starts after its last (Google's clients read a page with
    a token as one that has batches, so a page is never empty but the last)."""
    listed: dict[str, Any] = {"operations": [batch_object(batch) for batch in batches]}
    if more and batches:
        listed["nextPageToken"] = batches[-1]["id"]
    return listed


def listing(query_string: bytes) -> tuple[str | None, int]:
    """`pageToken` and `pageSize` (1 to 1000, 50 by default)."""
    query = parse_qs(query_string.decode("latin-1"))
    return query.get("pageToken", [None])[-1], f.page_size(query, "pageSize", MAX_PAGE, DEFAULT_PAGE)


def not_found(batch_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"Batch batches/{batch_id} not found.")
