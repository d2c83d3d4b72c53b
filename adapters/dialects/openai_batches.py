"""OpenAI Batch (`/v1/batches`, the Batch API reference), the wire only: its routes, a create's body
checked into a `BatchAsk`, the input file's JSONL lines checked, and the objects and output lines
it answers with.

The gateway runs a batch itself (`middleware/batches.py`): each line goes through the gateway as
its own request of the batch's key, so a batch of Chat Completions or Responses requests runs on
any upstream, with the key's limits and its ledger rows; the output and error files are kept in the
gateway's Files store.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route, resource
from interlingua.adapters.dialects.openai_conversations import metadata_of

PREFIX = "/v1/batches"
# The endpoints a batch may name that the gateway serves with a JSON body.
ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/moderations",
             "/v1/images/generations")
WINDOW = "24h"
OUTPUT_EXPIRY = (3600, 2_592_000)  # `output_expires_after.seconds`; thirty days when not given
MAX_LINES = 50_000
MAX_PAGE = 100
DEFAULT_PAGE = 20
# A batch's statuses while it runs, and once it has ended.
RUNNING = ("validating", "in_progress", "finalizing", "cancelling")
FINAL = ("completed", "failed", "expired", "cancelled")


@dataclass(slots=True)
class BatchAsk:
    """What `POST /v1/batches` asks for."""

    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    output_expires_in: int


@dataclass(slots=True, frozen=True)
class Line:
    """One request of a batch's input file: its line number (from 1), its id and its JSON body."""

    number: int
    custom_id: str
    body: bytes


def match(method: str, path: str) -> Route | None:
    return resource(method, path, PREFIX, {"POST": ops.BATCHES_CREATE, "GET": ops.BATCHES_LIST},
                    {"GET": ops.BATCHES_GET}, {("cancel", "POST"): ops.BATCHES_CANCEL})


def decode_create(body: Any) -> BatchAsk:
    body = f.obj(body, "body")
    endpoint = f.string(body, "endpoint", required=True)
    if endpoint not in ENDPOINTS:
        raise ir.invalid("endpoint", f"must be one of {', '.join(ENDPOINTS)}")
    if f.string(body, "completion_window", required=True) != WINDOW:
        raise ir.invalid("completion_window", f"must be {WINDOW}")
    expires_in = OUTPUT_EXPIRY[1]
    after = f.mapping(body, "output_expires_after")
    if after is not None:
        if after.get("anchor") != "created_at":
            raise ir.invalid("output_expires_after.anchor", "must be created_at")
        seconds = after.get("seconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not (
                OUTPUT_EXPIRY[0] <= seconds <= OUTPUT_EXPIRY[1]):
            raise ir.invalid("output_expires_after.seconds",
                             f"must be an integer from {OUTPUT_EXPIRY[0]} to {OUTPUT_EXPIRY[1]}")
        expires_in = seconds
    return BatchAsk(f.string(body, "input_file_id", required=True), endpoint, metadata_of(body), expires_in)


def input_line(custom_id: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """One request of an input file, as `read_lines` reads it: how the other dialects' batches
    (Anthropic's, Gemini's) are written for the runner."""
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def read_lines(data: bytes, endpoint: str) -> tuple[list[Line], list[dict[str, Any]]]:
    """The requests of an input file, or what is wrong with it, as the Batch object's `errors`
    list them: every line a JSON object with a unique `custom_id`, `method` POST, the batch's
    endpoint as `url` and an object `body` that does not ask to stream."""
    lines: list[Line] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, text in enumerate(data.splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = orjson.loads(text)
        except orjson.JSONDecodeError:
            errors.append(_error(number, "invalid_json_line", "This line is not parseable as valid JSON."))
            continue
        why = _wrong(line, endpoint, seen)
        if why is not None:
            errors.append(_error(number, *why))
            continue
        try:
            body = orjson.dumps(line["body"])
        except orjson.JSONEncodeError:  # nested past what JSON is written with
            errors.append(_error(number, "invalid_request", "The body of this request nests too deep.", "body"))
            continue
        seen.add(line["custom_id"])
        lines.append(Line(number, line["custom_id"], body))
    if not lines and not errors:
        errors.append(_error(None, "empty_file", "The input file has no requests."))
    if len(lines) > MAX_LINES:
        errors.append(_error(None, "too_many_requests", f"A batch may hold at most {MAX_LINES} requests."))
    return lines, errors


def _wrong(line: Any, endpoint: str, seen: set[str]) -> tuple[str, str, str] | None:
    if not isinstance(line, dict):
        return "invalid_request", "Each line must be a JSON object.", ""
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_required_parameter", "Each request needs a `custom_id`.", "custom_id"
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id {custom_id!r} is used by an earlier request.", "custom_id"
    if line.get("method") != "POST":
        return "invalid_method", "The method of each request must be POST.", "method"
    if line.get("url") != endpoint:
        return "mismatched_endpoint", f"The url of each request must be the batch's endpoint, {endpoint}.", "url"
    body = line.get("body")
    if not isinstance(body, dict):
        return "invalid_request", "The body of each request must be a JSON object.", "body"
    if body.get("stream"):
        return "invalid_request", "A batch's requests cannot stream.", "body.stream"
    return None


def _error(line: int | None, code: str, message: str, param: str = "") -> dict[str, Any]:
    return {"code": code, "message": message, "param": param or None, "line": line}


def new_batch(batch_id: str, ask: BatchAsk, created: int) -> dict[str, Any]:
    """A Batch object as created; the gateway fills in the rest as it runs."""
    return {"id": batch_id, "object": "batch", "endpoint": ask.endpoint, "model": None, "errors": None,
            "input_file_id": ask.input_file_id, "completion_window": WINDOW, "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": created, "in_progress_at": None,
            "expires_at": created + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
            "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": ask.metadata}


def output_line(custom_id: str, status: int, request_id: str, body: bytes) -> bytes:
    """One line of an output or error file: the request's answer as the endpoint gave it."""
    try:
        answer: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = body.decode("utf-8", "replace")
    return orjson.dumps({"id": f"batch_req_{secrets.token_hex(16)}", "custom_id": custom_id,
                         "response": {"status_code": status, "request_id": request_id, "body": answer},
                         "error": None})


def new_batch_id(prefix: str = "batch") -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def batch_list(batches: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": batches, "first_id": batches[0]["id"] if batches else None,
            "last_id": batches[-1]["id"] if batches else None, "has_more": has_more}


def not_found(batch_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"No batch found with id '{batch_id}'.", param="batch_id")
