"""The MCP dialect, client side: `/v1/mcp` and `/v1/mcp/{id}[/...]`, answered in JSON-RPC.

MCP is passed through, not translated, so this codec only names the operation and renders the
gateway's own errors (a bad key, an unknown server, a body that is not JSON-RPC) as JSON-RPC error
objects with the HTTP status, which is what MCP clients read. The id of the request is unknown
at that point, or the error concerns no request, so it is null, as JSON-RPC says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects.base import ClientDialect, Passthrough, Route, StreamEncoder
from interlingua.adapters.mcp import jsonrpc

PREFIX = "/v1/mcp"


class Mcp(ClientDialect[None]):
    name = "mcp"

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        if path == PREFIX or path == PREFIX + "/":
            return Route(ops.MCP_INDEX, {})
        if not path.startswith(PREFIX + "/"):
            return None
        server, _, rest = path[len(PREFIX) + 1:].partition("/")
        return Route(ops.MCP_MESSAGE, {"server": server, "rest": "/" + rest if rest else ""})

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> None:
        raise TypeError("MCP bodies pass through the MCP layer; they are never decoded to IR")

    def stream_encoder(self, request: None) -> StreamEncoder:
        raise TypeError("MCP streams pass through the MCP layer; they are never encoded from IR")

    def passthrough(self, request: None) -> Passthrough:
        raise TypeError("MCP streams pass through the MCP layer")

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return orjson.dumps(jsonrpc.error(None, code_of(error), error.message))


def code_of(error: ir.GatewayError) -> int:
    """The JSON-RPC code: the one the MCP layer chose, else by status (a bad request, or the
    implementation-defined server error)."""
    if error.code is not None and error.code.lstrip("-").isdigit():
        return int(error.code)
    return jsonrpc.INVALID_REQUEST if error.status == 400 else jsonrpc.SERVER_ERROR


CODEC = Mcp()
