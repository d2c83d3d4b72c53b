"""Anthropic's MCP connector (`mcp_servers` on a Messages request, the `mcp-client-2025-04-04`
beta), the wire only: the servers checked, as the gateway's remote MCP servers (`openai_mcp.McpTool`,
which runs every tool without approval, as Anthropic does), and the `mcp_tool_use` and
`mcp_tool_result` blocks that report each call in the answer.
"""

from __future__ import annotations

from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.ids import safe_id
from interlingua.adapters.dialects.openai_mcp import Filter, McpTool

FIELD = "mcp_servers"


def servers(body: dict[str, Any]) -> list[McpTool]:
    """The request's MCP servers, each enabled one with its allowed tools."""
    found: list[McpTool] = []
    for i, raw in enumerate(f.array(body, FIELD) or ()):
        path = f"{FIELD}[{i}]."
        server = f.obj(raw, path[:-1])
        if f.choice(server, "type", ("url",), path) is None:
            raise ir.invalid(path + "type", "is required: url")
        url = f.string(server, "url", path, required=True)
        if not url.startswith(("https://", "http://")):
            raise ir.invalid(path + "url", "must be an http or https URL")
        token = f.string(server, "authorization_token", path)
        config = f.mapping(server, "tool_configuration", path) or {}
        allowed = f.strings(config, "allowed_tools", path + "tool_configuration.")
        if f.boolean(config, "enabled", path + "tool_configuration.") is False:
            continue
        found.append(McpTool(f.string(server, "name", path, required=True), url, None,
                             {"Authorization": f"Bearer {token}"} if token else {},
                             Filter(frozenset(allowed)) if allowed is not None else None, Filter(every=True)))
    return found


def use_block(label: str, call: ir.ToolCall, name: str) -> dict[str, Any]:
    try:
        arguments = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        arguments = {}
    return {"type": "mcp_tool_use", "id": safe_id(call.id), "name": name, "server_name": label,
            "input": arguments if isinstance(arguments, dict) else {}}


def result_block(call_id: str, told: str, failed: bool) -> dict[str, Any]:
    return {"type": "mcp_tool_result", "tool_use_id": safe_id(call_id), "is_error": failed,
            "content": [{"type": "text", "text": told}]}
