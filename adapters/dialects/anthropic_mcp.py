"""Anthropic's MCP connector (`mcp_servers` on a Messages request, with each server's tools
configured by an `mcp_toolset` tool, the `mcp-client-2025-11-20` beta, or by its own
`tool_configuration`, `mcp-client-2025-04-04`), the wire only: the servers checked, as the gateway's
remote MCP servers (`openai_mcp.McpTool`, which runs every tool without approval, as Anthropic
does), and the blocks that report them in the answer (`mcp_tool_listing`, `mcp_tool_use`,
`mcp_tool_result`).
"""

from __future__ import annotations

from typing import Any, Literal

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.ids import safe_id
from interlingua.adapters.dialects.openai_mcp import Filter, McpTool, listed_tools

FIELD = "mcp_servers"
TOOLSET = "mcp_toolset"
LISTING = "mcp_tool_listing"


def servers(body: dict[str, Any]) -> list[McpTool]:
    """The request's MCP servers, each with the tools it lets the model use: those its
    `mcp_toolset` enables (the `mcp-client-2025-11-20` form), else its `tool_configuration`'s
    (`mcp-client-2025-04-04`); a server whose tools are all disabled is left out. Its tools are
    known without asking it where the toolset pins them, or an earlier answer's `mcp_tool_listing`
    block lists them."""
    toolsets = _toolsets(body)
    listed = _listings(body)
    found: list[McpTool] = []
    names: set[str] = set()
    for i, raw in enumerate(f.array(body, FIELD) or ()):
        path = f"{FIELD}[{i}]."
        server = f.obj(raw, path[:-1])
        if f.choice(server, "type", ("url",), path) is None:
            raise ir.invalid(path + "type", "is required: url")
        name = f.string(server, "name", path, required=True)
        if name in names:
            raise ir.invalid(path + "name", f"{name!r} names two servers")
        names.add(name)
        url = f.string(server, "url", path, required=True)
        if not url.startswith(("https://", "http://")):
            raise ir.invalid(path + "url", "must be an http or https URL")
        token = f.string(server, "authorization_token", path)
        toolset = toolsets.pop(name, None)
        allowed = _configured(server, path) if toolset is None else _enabled(*toolset)
        if allowed is False:
            continue
        pinned = _pinned(*toolset) if toolset is not None else None
        found.append(McpTool(name, url, None, {"Authorization": f"Bearer {token}"} if token else {},
                             allowed, Filter(every=True),
                             pinned if pinned is not None else listed.get(name)))
    if toolsets:
        name, (_, path) = next(iter(toolsets.items()))
        raise ir.invalid(path + "mcp_server_name", f"names no server of `{FIELD}`: {name!r}")
    return found


def _toolsets(body: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """The request's `mcp_toolset` tools by the server each configures, with each one's path."""
    out: dict[str, tuple[dict[str, Any], str]] = {}
    for i, tool in enumerate(f.array(body, "tools") or ()):
        if isinstance(tool, dict) and tool.get("type") == TOOLSET:
            path = f"tools[{i}]."
            name = f.string(tool, "mcp_server_name", path, required=True)
            if name in out:
                raise ir.invalid(path + "mcp_server_name", f"configures {name!r} a second time")
            out[name] = (tool, path)
    return out


def _configured(server: dict[str, Any], path: str) -> Filter | None | Literal[False]:
    """A 2025-04-04 server's `tool_configuration`: its allow-list, None for every tool, False for
    none (disabled)."""
    config = f.mapping(server, "tool_configuration", path) or {}
    if f.boolean(config, "enabled", path + "tool_configuration.") is False:
        return False
    allowed = f.strings(config, "allowed_tools", path + "tool_configuration.")
    return Filter(frozenset(allowed)) if allowed is not None else None


def _enabled(toolset: dict[str, Any], path: str) -> Filter | Literal[False]:
    """The tools a toolset enables: every one but those `configs` disables, or where
    `default_config` disables them, only those `configs` enables; False for none."""
    default = f.mapping(toolset, "default_config", path) or {}
    every = f.boolean(default, "enabled", path + "default_config.") is not False
    configs = f.mapping(toolset, "configs", path) or {}
    switched: dict[str, bool] = {}
    for name, config in configs.items():
        at = f"{path}configs.{name}"
        enabled = f.boolean(f.obj(config, at), "enabled", at + ".")
        if enabled is not None:
            switched[name] = enabled
    if every:
        return Filter(every=True, but=frozenset(n for n, on in switched.items() if not on))
    chosen = frozenset(n for n, on in switched.items() if on)
    return Filter(chosen) if chosen else False


def _pinned(toolset: dict[str, Any], path: str) -> tuple[dict[str, Any], ...] | None:
    listing = f.array(toolset, "tools", path)
    return None if listing is None else listed_tools(listing, path + "tools")


def _listings(body: dict[str, Any]) -> dict[str, tuple[dict[str, Any], ...]]:
    """Each server's tools as the conversation's last `mcp_tool_listing` block gives them."""
    out: dict[str, tuple[dict[str, Any], ...]] = {}
    for message in f.array(body, "messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == LISTING and isinstance(block.get("tools"), list):
                out[str(block.get("mcp_server_name"))] = listed_tools(block["tools"], LISTING + ".tools")
    return out


def listing_block(label: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A server's tools as it listed them, for the client to send back so that a later turn need not
    ask the server again."""
    return {"type": LISTING, "mcp_server_name": label,
            "tools": [{"name": t["name"], "description": t.get("description"),
                       "input_schema": t.get("inputSchema") or {"type": "object"}} for t in tools]}


def use_block(label: str, call: ir.ToolCall, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The call as made: `arguments` are the call's, read (none where they were no JSON object)."""
    return {"type": "mcp_tool_use", "id": safe_id(call.id), "name": name, "server_name": label, "input": arguments}


def result_block(call_id: str, told: str, failed: bool) -> dict[str, Any]:
    return {"type": "mcp_tool_result", "tool_use_id": safe_id(call_id), "is_error": failed,
            "content": [{"type": "text", "text": told}]}
