"""The Responses API's `mcp` tool (remote MCP servers), run by the gateway as an MCP client, whatever
the upstream.

A Responses turn whose `mcp` tools name servers by `server_url` is asked of its upstream with each
server's tools as functions (those `allowed_tools` lets through), and always translated (the answer
must be read). When the model calls one, the gateway calls the tool on its server (`tools/call`,
Streamable HTTP, with the tool's `headers` and `authorization`) and gives the model its output,
asking again up to `MAX_ROUNDS` times (then once more without the tools, for an answer). A tool
that needs the client's approval (`require_approval`, `always` unless it says `never`) is not
called: the turn ends with an `mcp_approval_request` item, and the client's `mcp_approval_response`
in the next turn (with `previous_response_id`, or the items sent back) has it called, or refused,
before the model is asked again. The client sees what OpenAI's API shows: an `mcp_list_tools` item
per server the conversation has not listed yet, an `mcp_call` item per call (its output, or its
error), the approval requests, the answer, and every round's usage; streamed, each item whole with
its phases as it happens. Earlier calls reach the model as the calls and results they were.

Anthropic's MCP connector (`mcp_servers`, with `mcp_toolset` tools, `mcp-client-2025-11-20`, or
the `mcp-client-2025-04-04` form) runs the same way for Anthropic's clients, on any upstream: every
call made without approval, as Anthropic makes them, each shown as its `mcp_tool_use` and
`mcp_tool_result` blocks; in the toolset form, a server asked for its tools is shown as an
`mcp_tool_listing` block, which, sent back, spares the next turn asking it again.

A server is reached only where `[fetch]` lets the gateway fetch (private addresses are refused
unless allowed); a server reached through a `connector_id` or `tunnel_id` is left to the upstream.

Sits above the file search layer, which it asks once a round, so a turn may have both.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import anthropic_mcp
from interlingua.adapters.dialects import openai_mcp as wire
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.fetching import Fetcher
from interlingua.adapters.mcp.client import AnyHttpClient
from interlingua.adapters.mcp.http import Upstreams
from interlingua.adapters.mcp.servers import HTTP, McpServer
from interlingua.middleware import rounds
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import CLIENT_REQUEST, OPERATION, REQUEST, state_of

MAX_ROUNDS = 8  # rounds of calls a turn may make, before one more is asked for an answer without the tools
VERSION = "2025-06-18"  # the MCP protocol version the gateway asks servers for
TIMEOUT = 120.0  # seconds a server may take to answer
_NAME = re.compile(r"[^a-zA-Z0-9_-]")  # what a function's name may not hold, on any upstream


@dataclasses.dataclass(slots=True)
class _Server:
    spec: wire.McpTool
    client: AnyHttpClient
    tools: dict[str, dict[str, Any]]  # the allowed tools by name, as the server lists them
    listed: list[dict[str, Any]] | None  # every tool the server listed this turn; None where they were pinned


Functions = dict[str, tuple[_Server, dict[str, Any]]]  # a function the model calls: its server and tool


class HostedMcpMiddleware:
    def __init__(self, app: Any, fetcher: Fetcher | None, upstreams: Upstreams | None = None) -> None:
        self.app = app
        self.fetcher = fetcher
        self.upstreams = upstreams or Upstreams()  # its pools closed by their owner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        request = state.get(REQUEST)
        if (scope["type"] != "http" or self.fetcher is None or state.get(OPERATION) is not ops.CHAT
                or not isinstance(request, ir.ChatRequest) or not _declared(request)):
            await self.app(scope, receive, send)
            return
        servers: list[_Server] = []
        try:
            declared, specs = _specs(request)
            if not specs:
                await self.app(scope, receive, send)
                return
            request.messages  # noqa: B018  # a lazy body's faults, answered here
            for spec in specs:
                servers.append(await self._open(spec))
        except ir.GatewayError as error:
            await _closed(servers)
            await send_error(scope, send, error)
            return
        try:
            await self._run(scope, receive, send, request, declared, servers)
        finally:
            await _closed(servers)

    async def _open(self, spec: wire.McpTool) -> _Server:
        """A session on the server, and its tools listed (every page of them)."""
        assert self.fetcher is not None
        await self.fetcher.check(spec.url)
        server = McpServer(spec.label, HTTP, url=spec.url, headers=spec.headers, timeout=TIMEOUT)
        client = AnyHttpClient(server, VERSION, self.upstreams)
        if spec.pinned is not None:
            return _Server(spec, client, {t["name"]: t for t in spec.pinned
                                          if spec.allows(t["name"], t.get("annotations") or {})}, None)
        tools: dict[str, dict[str, Any]] = {}
        listed: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            while True:
                answer = await client.request("tools/list", {"cursor": cursor} if cursor else None)
                result = answer.get("result")
                if not isinstance(result, dict):
                    raise ir.GatewayError("upstream", f"MCP server {spec.label}: tools/list failed: "
                                                      f"{answer.get('error')}")
                for tool in result.get("tools") or ():
                    if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                        listed.append(tool)
                        if spec.allows(tool["name"], tool.get("annotations") or {}):
                            tools[tool["name"]] = tool
                cursor = result.get("nextCursor") if isinstance(result.get("nextCursor"), str) else None
                if not cursor:
                    return _Server(spec, client, tools, listed)
        except ir.GatewayError:
            await client.close()  # a session the server may have opened
            raise

    async def _run(self, scope: dict[str, Any], receive: Any, send: Any, request: ir.ChatRequest,
                   declared: list[ir.Tool], servers: list[_Server]) -> None:
        state_of(scope).setdefault(CLIENT_REQUEST, request)
        others = [t for t in request.tools or () if not any(t is d for d in declared)]
        functions = _functions(servers, {t.name for t in others})
        fresh = [s for s in servers if s.listed is not None]  # asked for their tools this turn: listed first
        if request.dialect == RESPONSES:
            pending = [ir.Opaque(RESPONSES, wire.list_tools_item(s.spec.label, list(s.tools.values()))) for s in fresh]
        else:  # Anthropic's listing blocks, in its toolset form only
            pending = [ir.Opaque(ANTHROPIC, anthropic_mcp.listing_block(s.spec.label, s.listed or []))
                       for s in fresh if declared]
        messages, answered = await _replayed(request.messages, servers, functions)
        pending += answered
        extra = {k: v for k, v in request.extra.items() if k != anthropic_mcp.FIELD}  # not for Claude to run too
        offered = [ir.Tool(name, _described(server, tool), tool.get("inputSchema") or {"type": "object"})
                   for name, (server, tool) in functions.items()]
        working = dataclasses.replace(request, native=None, raw=None, messages=messages, extra=extra,
                                      tools=[*others, *offered], tool_choice=_chosen(request.tool_choice, functions))

        async def make(calls: list[ir.ToolCall], show: rounds.Show) -> tuple[list[ir.ToolResult], bool]:
            results, waiting = [], False
            for call in calls:
                server, tool = functions[call.name]
                name = tool["name"]
                if server.spec.needs_approval(name, tool.get("annotations") or {}):
                    made = [ir.Opaque(RESPONSES, wire.approval_request_item(server.spec.label, call, name))]
                    waiting = True
                else:
                    made, result = await _called(request.dialect, server, name, call)
                    results.append(result)
                for part in made:
                    await show(part)
            return results, waiting

        # the lists and the approved calls first, as OpenAI shows them
        await rounds.run(self.app, scope, receive, send, working, frozenset(functions), make, rounds=MAX_ROUNDS,
                         plain=others, opening=pending, limit=rounds.max_calls(request))


async def _replayed(messages: list[ir.Message], servers: list[_Server],
                    functions: Functions) -> tuple[list[ir.Message], list[ir.Opaque]]:
    """The conversation with each earlier call as the call and result it was, and each approval
    the client has now answered called (or refused); the calls made now, to show."""
    answers = {str(item.get("approval_request_id")): bool(item.get("approve"))
               for item in wire.items_of(messages, "mcp_approval_response")}
    for item in wire.items_of(messages, "mcp_call"):  # approved and called in an earlier turn: its call tells
        answers.pop(str(item.get("approval_request_id")), None)
    names = {(server.spec.label, tool["name"]): name for name, (server, tool) in functions.items()}
    by_label = {server.spec.label: server for server in servers}
    out: list[ir.Message] = []
    made: list[ir.Opaque] = []
    uses: dict[str, ir.ToolCall] = {}  # Anthropic's calls, until their results
    for message in messages:
        rest: list[ir.Part] = []
        for part in message.parts:
            block = part.data if isinstance(part, ir.Opaque) else {}
            kind = block.get("type")
            if kind not in _REPLAYED:
                rest.append(part)
                continue
            if kind in ("mcp_list_tools", "mcp_approval_response", anthropic_mcp.LISTING):
                continue
            if kind == "mcp_tool_use":
                label, name = str(block.get("server_name")), str(block.get("name"))
                uses[str(block.get("id"))] = ir.ToolCall(str(block.get("id")), names.get((label, name), name),
                                                         orjson.dumps(block.get("input") or {}).decode())
                continue
            if kind == "mcp_tool_result":
                call = uses.pop(str(block.get("tool_use_id")), None)
                if call is None:
                    continue
                content = block.get("content")
                text = content if isinstance(content, str) else "\n".join(
                    str(c.get("text", "")) for c in content or () if isinstance(c, dict))
                result = ir.ToolResult(call.id, [ir.Text(text)], is_error=bool(block.get("is_error")))
            else:
                label, name = str(block.get("server_label")), str(block.get("name"))
                call = ir.ToolCall(str(block.get("id")), names.get((label, name), name),
                                   str(block.get("arguments") or "{}"))
                if kind == "mcp_call":
                    failed = block.get("error")
                    told = f"The call failed: {failed}" if failed else str(block.get("output") or "")
                    result = ir.ToolResult(call.id, [ir.Text(told)], is_error=bool(failed))
                elif block.get("id") not in answers:
                    continue  # not answered, or called since: the model hears of it from its call, if any
                elif not answers[str(block["id"])] or label not in by_label:
                    result = ir.ToolResult(call.id, [ir.Text("The user did not approve this call.")], is_error=True)
                else:
                    called, result = await _called(RESPONSES, by_label[label], name, call, str(block["id"]))
                    made += called
            if rest:
                out.append(dataclasses.replace(message, parts=rest))
                rest = []
            out += rounds.exchange(call, result)
        if rest or not message.parts:
            out.append(dataclasses.replace(message, parts=rest))
    return out, made


_REPLAYED = frozenset({"mcp_call", "mcp_approval_request", "mcp_list_tools", "mcp_approval_response", "mcp_tool_use",
                       "mcp_tool_result", anthropic_mcp.LISTING})  # Responses items and Anthropic blocks of remote MCP


async def _called(dialect: str, server: _Server, name: str, call: ir.ToolCall,
                  approval: str | None = None) -> tuple[list[ir.Opaque], ir.ToolResult]:
    """A tool called on its server: what the client sees of it (an `mcp_call` item; Anthropic's
    `mcp_tool_use` and `mcp_tool_result` blocks), and the result the model reads."""
    try:
        arguments = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        arguments = None
    error: dict[str, Any] | None = None
    output: str | None = None
    if not isinstance(arguments, dict):
        error = {"type": "mcp_protocol_error", "code": -32602, "message": "the arguments are not a JSON object"}
    else:
        try:
            answer = await server.client.request("tools/call", {"name": name, "arguments": arguments})
        except ir.GatewayError as failure:
            error = {"type": "http_error", "code": failure.status, "message": failure.message}
        else:
            result = answer.get("result")
            if not isinstance(result, dict):
                fault: dict[str, Any] = answer["error"] if isinstance(answer.get("error"), dict) else {}
                error = {"type": "mcp_protocol_error", "code": int(fault.get("code") or -32603),
                         "message": str(fault.get("message") or "no result")}
            else:
                output, failed = wire.output_of(result)
                if failed:
                    error = {"type": "mcp_tool_execution_error", "content": result.get("content") or []}
    told = (output if error is None else f"The call failed: {error.get('message') or output or 'an error'}") or ""
    shown = ([ir.Opaque(RESPONSES, wire.call_item(server.spec.label, call, name, output, error, approval))]
             if dialect == RESPONSES else
             [ir.Opaque(ANTHROPIC, anthropic_mcp.use_block(server.spec.label, call, name,
                                                            arguments if isinstance(arguments, dict) else {})),
              ir.Opaque(ANTHROPIC, anthropic_mcp.result_block(call.id, told, error is not None))])
    return shown, ir.ToolResult(call.id, [ir.Text(told)], is_error=error is not None)


def _functions(servers: list[_Server], taken: set[str]) -> Functions:
    """Each allowed tool under the function name the model calls: its own, or `label__name` where
    two servers have a tool of that name or the client has a tool of that name (`taken`); either
    made a name every upstream takes (letters, digits, `_` and `-`, at most 64), and numbered where
    that makes two alike."""
    counts: dict[str, int] = dict.fromkeys(taken, 1)
    for server in servers:
        for name in server.tools:
            counts[name] = counts.get(name, 0) + 1
    out: Functions = {}
    for server in servers:
        for name, tool in server.tools.items():
            wanted = _NAME.sub("_", name if counts[name] == 1 else f"{server.spec.label}__{name}")[:64]
            function, n = wanted, 1
            while function in out or function in taken:
                n += 1
                function = f"{wanted[:60]}_{n}"
            out[function] = (server, tool)
    return out


def _described(server: _Server, tool: dict[str, Any]) -> str | None:
    """A tool's description for the model, with its server's (`server_description`) where the
    client gave one, as the context OpenAI gives the model with it."""
    own = tool.get("description") if isinstance(tool.get("description"), str) else None
    if not server.spec.description:
        return own
    about = f"From the MCP server {server.spec.label}: {server.spec.description}"
    return f"{own}\n\n{about}" if own else about


def _chosen(choice: ir.ToolChoice | None, functions: Functions) -> ir.ToolChoice | None:
    """The client's `tool_choice`, a server's tool in it named as the model knows it."""
    if choice is None or not choice.names:
        return choice
    known = {tool["name"]: name for name, (_, tool) in functions.items()}
    return ir.ToolChoice(choice.mode, [n if n in functions else known.get(n, n) for n in choice.names])


def _declared(request: ir.ChatRequest) -> bool:
    """Whether the client's body declares remote MCP servers (a Responses `mcp` tool, Anthropic's
    `mcp_servers`): one look, before any tool is decoded."""
    body = ir.as_parsed(request) or {}
    if request.dialect == ANTHROPIC:
        return bool(body.get(anthropic_mcp.FIELD))
    tools = body.get("tools") if request.dialect == RESPONSES else None
    return isinstance(tools, list) and any(isinstance(t, dict) and t.get("type") == wire.KIND for t in tools)


def _specs(request: ir.ChatRequest) -> tuple[list[ir.Tool], list[wire.McpTool]]:
    """The servers the turn names, and the tools that named them (for Anthropic, whose servers are a
    field of their own, the `mcp_toolset` tools that configure them)."""
    if request.dialect == ANTHROPIC:
        toolsets = [t for t in request.tools or () if t.kind == "server"
                    and (t.extra or {}).get("type") == anthropic_mcp.TOOLSET]
        return toolsets, anthropic_mcp.servers(ir.as_parsed(request) or {})
    found = [(t, spec) for t in request.tools or () if t.kind == "server" and t.name == wire.KIND
             and (spec := wire.mcp_tool((t.extra or {}).get(RESPONSES) or {})) is not None]
    return [t for t, _ in found], wire.with_listings([spec for _, spec in found], request.messages)


async def _closed(servers: list[_Server]) -> None:
    for server in servers:
        await server.client.close()
