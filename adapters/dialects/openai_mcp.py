"""The Responses API's `mcp` tool (remote MCP servers the API calls for the model), the wire only:
the tool's spec checked, which of a server's tools the model may use and which need the client's
approval, and the items that report it (`mcp_list_tools`, `mcp_call`, `mcp_approval_request`), with
the client's `mcp_approval_response` read back from a later turn.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES

KIND = "mcp"
_APPROVALS = ("always", "never")


@dataclass(slots=True, frozen=True)
class Filter:
    """`tool_names` and `read_only` of an allow-list or an approval rule: a tool matches by either."""

    names: frozenset[str] | None = None
    read_only: bool | None = None
    every: bool = False  # `require_approval: never`: every tool
    but: frozenset[str] = frozenset()  # with `every`, the tools it leaves out (Anthropic's disabled ones)

    def matches(self, name: str, annotations: dict[str, Any]) -> bool:
        if self.every:
            return name not in self.but
        by_name = self.names is not None and name in self.names
        by_hint = self.read_only is not None and bool(annotations.get("readOnlyHint")) == self.read_only
        return by_name or by_hint


@dataclass(slots=True, frozen=True)
class McpTool:
    label: str
    url: str
    description: str | None
    headers: dict[str, str]
    allowed: Filter | None  # None: every tool
    never: Filter | None  # the tools that run without the client's approval
    pinned: tuple[dict[str, Any], ...] | None = None  # the server's tools as the client gave them, not asked for

    def allows(self, name: str, annotations: dict[str, Any]) -> bool:
        return self.allowed is None or self.allowed.matches(name, annotations)

    def needs_approval(self, name: str, annotations: dict[str, Any]) -> bool:
        """A tool the `never` rule matches (all of them for `never`) runs at once; any other waits
        for the client, as OpenAI asks by default."""
        return self.never is None or not self.never.matches(name, annotations)


def mcp_tool(spec: dict[str, Any]) -> McpTool | None:
    """A Responses `mcp` tool, checked; None for one reached through a connector or a tunnel, which
    only OpenAI can call."""
    path = "tools[mcp]."
    label = f.string(spec, "server_label", path, required=True)
    url = f.string(spec, "server_url", path)
    if url is None:
        if spec.get("connector_id") is None and spec.get("tunnel_id") is None:
            raise ir.invalid(path + "server_url", "is required (or connector_id, or tunnel_id)")
        return None
    if not url.startswith(("https://", "http://")):
        raise ir.invalid(path + "server_url", "must be an http or https URL")
    headers = {str(k): str(v) for k, v in (f.mapping(spec, "headers", path) or {}).items()}
    token = f.string(spec, "authorization", path)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    approval = spec.get("require_approval")
    never = None
    if isinstance(approval, str) or approval is None:
        if approval not in (None, *_APPROVALS):
            raise ir.invalid(path + "require_approval", "must be always, never or a filter")
        never = Filter(every=True) if approval == "never" else None
    else:
        rules = f.obj(approval, path + "require_approval")
        _filter(rules.get("always"), path + "require_approval.always")  # checked; what `never` leaves waits anyway
        never = _filter(rules.get("never"), path + "require_approval.never")
    allowed = spec.get("allowed_tools")
    return McpTool(label, url, f.string(spec, "server_description", path), headers,
                   Filter(frozenset(f.strings(spec, "allowed_tools", path) or ())) if isinstance(allowed, list)
                   else _filter(allowed, path + "allowed_tools"), never)


def listed_tools(listing: list[Any], path: str) -> tuple[dict[str, Any], ...]:
    """A server's tools as an API lists them back to its client (`input_schema`: an `mcp_list_tools`
    item's, an `mcp_tool_listing` block's), as the server lists them (`inputSchema`)."""
    out = []
    for i, raw in enumerate(listing):
        tool = f.obj(raw, f"{path}[{i}]")
        at = f"{path}[{i}]."
        out.append({"name": f.string(tool, "name", at, required=True),
                    "description": f.string(tool, "description", at),
                    "inputSchema": f.mapping(tool, "input_schema", at) or {"type": "object"},
                    "annotations": f.mapping(tool, "annotations", at) or {}})
    return tuple(out)


def with_listings(specs: list[McpTool], messages: list[ir.Message]) -> list[McpTool]:
    """Each server's spec with its tools as the conversation's last `mcp_list_tools` item lists them,
    where it has one: OpenAI's API does not ask the server for them again while that item is in
    the context."""
    listed = {str(item.get("server_label")): item for item in items_of(messages, "mcp_list_tools")
              if isinstance(item.get("tools"), list) and not item.get("error")}
    return [replace(spec, pinned=listed_tools(listed[spec.label]["tools"], "mcp_list_tools.tools"))
            if spec.pinned is None and spec.label in listed else spec for spec in specs]


def _filter(raw: Any, path: str) -> Filter | None:
    if raw is None:
        return None
    rule = f.obj(raw, path)
    names = f.strings(rule, "tool_names", path + ".")
    return Filter(frozenset(names) if names is not None else None, f.boolean(rule, "read_only", path + "."))


# Items ------------------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def list_tools_item(label: str, tools: list[dict[str, Any]], error: str | None = None) -> dict[str, Any]:
    return {"type": "mcp_list_tools", "id": new_id("mcpl"), "server_label": label, "error": error,
            "tools": [{"name": t["name"], "description": t.get("description"),
                       "input_schema": t.get("inputSchema") or {"type": "object"},
                       "annotations": t.get("annotations")} for t in tools]}


def call_item(label: str, call: ir.ToolCall, name: str, output: str | None, error: dict[str, Any] | None,
              approval: str | None = None) -> dict[str, Any]:
    return {"type": "mcp_call", "id": new_id("mcp"), "server_label": label, "name": name,
            "arguments": call.arguments or "{}", "output": output, "error": error,
            "status": "failed" if error else "completed", "approval_request_id": approval}


def approval_request_item(label: str, call: ir.ToolCall, name: str) -> dict[str, Any]:
    return {"type": "mcp_approval_request", "id": new_id("mcpr"), "server_label": label, "name": name,
            "arguments": call.arguments or "{}"}


def output_of(result: dict[str, Any]) -> tuple[str, bool]:
    """A `tools/call` result's text (its text content, or its structured content as JSON), and
    whether the server marked it an error."""
    texts = [str(c.get("text", "")) for c in result.get("content") or () if isinstance(c, dict)
             and c.get("type") == "text"]
    if not texts and result.get("structuredContent") is not None:
        texts = [orjson.dumps(result["structuredContent"]).decode()]
    return "\n".join(texts), bool(result.get("isError"))


def items_of(messages: list[ir.Message], kind: str) -> list[dict[str, Any]]:
    """The conversation's Responses items of `kind`, oldest first."""
    return [p.data for m in messages for p in m.parts
            if isinstance(p, ir.Opaque) and p.dialect == RESPONSES and p.data.get("type") == kind]
