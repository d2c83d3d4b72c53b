"""Just enough JSON-RPC for a pass-through: what a message asks, never a full model of MCP.

The proxy forwards bodies as they came. It reads the method, the id and, for `tools/call`, the
tool's name (for the ledger and the allow-list), and checks the envelope, so that a body that is
not JSON-RPC is refused with -32700 or -32600 before it reaches a server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from interlingua.adapters.ir import GatewayError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # the start of the implementation-defined range: the gateway's own failures


# The MCP revisions negotiated by `initialize`, oldest first (the `mcp` SDK's HANDSHAKE_PROTOCOL_VERSIONS).
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")


@dataclass(slots=True)
class Message:
    """One message of a body: a request (method and id), a notification (method, no id) or a
    response (id, no method: the client answering a server's request)."""

    raw: dict[str, Any]
    method: str | None
    id: Any
    tool: str | None = None  # the tool a `tools/call` names

    @property
    def is_request(self) -> bool:
        return self.method is not None and "id" in self.raw


@dataclass(slots=True)
class Body:
    """A POST body read as JSON-RPC: one message or a batch (2025-03-26 allows batches)."""

    messages: list[Message]
    batch: bool = False
    requests: list[Message] = field(default_factory=list)

    @property
    def method(self) -> str | None:
        return self.messages[0].method if len(self.messages) == 1 else None

    @property
    def tool(self) -> str | None:
        return next((m.tool for m in self.messages if m.tool is not None), None)


def jsonrpc_error(code: int, message: str, status: int = 400) -> GatewayError:
    """A gateway error that the MCP dialect renders as a JSON-RPC error with `code`."""
    return GatewayError("invalid_request" if status == 400 else "upstream", message, status=status,
                        code=str(code))


def parse(body: bytes) -> Body:
    """The messages of a POST body; raises -32700 for bytes that are not JSON, -32600 for JSON that
    is not a JSON-RPC 2.0 message or a non-empty batch of them."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise jsonrpc_error(PARSE_ERROR, "Parse error: the body is not JSON") from None
    batch = isinstance(value, list)
    items = value if batch else [value]
    if not items:
        raise jsonrpc_error(INVALID_REQUEST, "Invalid Request: an empty batch")
    messages = [_message(item) for item in items]
    return Body(messages, batch, [m for m in messages if m.is_request])


def _message(item: Any) -> Message:
    if not isinstance(item, dict) or item.get("jsonrpc") != "2.0":
        raise jsonrpc_error(INVALID_REQUEST, 'Invalid Request: not a JSON-RPC 2.0 message ("jsonrpc": "2.0")')
    method = item.get("method")
    ident = item.get("id")
    if ident is not None and not isinstance(ident, (str, int)) or isinstance(ident, bool):
        raise jsonrpc_error(INVALID_REQUEST, "Invalid Request: id must be a string or a number")
    if method is None:
        if "id" not in item or ("result" in item) == ("error" in item):
            raise jsonrpc_error(INVALID_REQUEST, "Invalid Request: a message needs a method, or an id and "
                                "one of result or error")
        return Message(item, None, ident)
    if not isinstance(method, str):
        raise jsonrpc_error(INVALID_REQUEST, "Invalid Request: method must be a string")
    params = item.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        raise jsonrpc_error(INVALID_REQUEST, "Invalid Request: params must be an object or an array")
    tool = None
    if method == "tools/call":
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str):
            raise jsonrpc_error(INVALID_PARAMS, "Invalid params: tools/call needs a tool name")
        tool = name
    return Message(item, method, ident, tool)


def error(ident: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}


def errors(requests: Iterable[Message], code: int, message: str, batch: bool) -> bytes:
    """The answer to every request of a body with one error: an array for a batch."""
    out = [error(m.id, code, message) for m in requests]
    return orjson.dumps(out if batch else out[0])


def outcome(payload: bytes) -> int | None:
    """The JSON-RPC error code of a response's bytes, 0 for a result, None for anything else."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or "id" not in value:
        return None
    failure = value.get("error")
    if isinstance(failure, dict):
        code = failure.get("code")
        return code if isinstance(code, int) else INTERNAL_ERROR
    return 0 if "result" in value else None
