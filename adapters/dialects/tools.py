"""Tools across dialects: what each kind of tool becomes on an upstream of another dialect, and how
the upstream's calls come back as the client's own kinds.

Why one module: every dialect pair needs the same three decisions, and making them in each codec
would let the codecs drift apart.

- A client-executed tool always reaches the upstream as something the model can call. A `custom`
  (freeform) tool becomes, where the upstream has no freeform tools (Anthropic, Gemini), a function
  with one string parameter `input`; the upstream's call of it is unwrapped back into the raw text
  (`restore_calls`, `CallRestorer`), so the client sees its own custom tool call.
- A hosted (server) tool is mapped to the upstream's equivalent (`web_search` <-> Anthropic's
  `web_search_20250305` <-> Gemini's `googleSearch` <-> Chat's `web_search_options`, each with the
  user's location where both sides have one; Anthropic's `web_fetch_20250910` <-> Gemini's
  `urlContext`; the Responses `code_interpreter` <-> Anthropic's `code_execution_20250825` <->
  Gemini's `codeExecution`), or left out where it has none, never refused:
  `omitted` names what was left out, for the `x-interlingua-omitted-tools` header.
- A Responses tool type the client executes (`tool_search` with `execution: client`,
  `local_shell`, `shell` in a local environment, `apply_patch`: `CLIENT_TOOLS`) is a function tool
  named by its type everywhere but on a Responses upstream; `call_item` tells the Responses encoder
  to answer its call as the type's own item (`tool_search_call`, `shell_call`...).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from interlingua.adapters import ir

# Dialect names (each codec's NAME), spelled here so this module imports no codec.
RESPONSES, CHAT, ANTHROPIC, GEMINI = "responses", "openai", "anthropic", "gemini"

#: Dialects whose tools include freeform (`custom`) ones; elsewhere they travel as functions.
_FREEFORM = frozenset({RESPONSES, CHAT})

WEB_SEARCH = "web_search"  # the hosted tools with an equivalent on several upstreams
WEB_FETCH = "web_fetch"
CODE_EXECUTION = "code_execution"

FREEFORM_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's freeform input, verbatim: raw text, "
                                                              "not JSON."}},
    "required": ["input"],
    "additionalProperties": False,
}

OMITTED_HEADER = b"x-interlingua-omitted-tools"


# Hosted tools -------------------------------------------------------------------------------------


def hosted_spec(tool: ir.Tool) -> dict[str, Any]:
    """A server tool's own wire form, whatever dialect declared it."""
    extra = tool.extra or {}
    for key in (RESPONSES, GEMINI, CHAT):
        if isinstance(extra.get(key), dict):
            return dict(extra[key])
    return dict(extra)  # Anthropic keeps its server tool as it came


def wire_type(tool: ir.Tool) -> str:
    """How the client named a server tool: its `type`, or Gemini's one key (googleSearch)."""
    native = hosted_spec(tool)
    return str(native.get("type") or next(iter(native), tool.name))


def hosted_kind(tool: ir.Tool) -> str | None:
    """The neutral name of a server tool that has equivalents elsewhere, or None."""
    native = hosted_spec(tool)
    kind = str(native.get("type") or "")
    if kind in ("web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"):
        return WEB_SEARCH
    if kind.startswith("web_search_20"):  # Anthropic's versioned web_search_20250305
        return WEB_SEARCH
    if "googleSearch" in native or "google_search" in native or CHAT_SEARCH in native:
        return WEB_SEARCH
    if kind.startswith("web_fetch_20") or "urlContext" in native or "url_context" in native:
        return WEB_FETCH  # Anthropic's versioned web_fetch_20250910; Gemini's URL context
    if kind == "code_interpreter" or kind.startswith("code_execution_20") or "codeExecution" in native \
            or "code_execution" in native:
        return CODE_EXECUTION  # the Responses code interpreter, Anthropic's code execution, Gemini's
    return None


CHAT_SEARCH = "web_search_options"  # Chat's web search: a field of the request, not a tool


def chat_web_search(options: dict[str, Any]) -> ir.Tool:
    """Chat's `web_search_options` as the hosted web search tool it asks for."""
    return ir.Tool(WEB_SEARCH, kind="server", extra={CHAT: {CHAT_SEARCH: options}})


_PLACE = ("city", "region", "country", "timezone")  # an approximate location's fields, in every dialect


def search_location(spec: dict[str, Any]) -> dict[str, Any] | None:
    """A web search tool's user location, flat as Responses and Anthropic word it (Chat nests its
    fields under `approximate`); None where it has none."""
    where = spec.get("user_location")
    chat = spec.get(CHAT_SEARCH)
    if isinstance(chat, dict):
        nested = chat.get("user_location")
        where = nested.get("approximate") if isinstance(nested, dict) else None
    place = {k: where[k] for k in _PLACE if isinstance(where, dict) and isinstance(where.get(k), str)}
    return {"type": "approximate", **place} if place else None


def search_domains(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A web search tool's domains, allowed and blocked: Anthropic's `allowed_domains` and
    `blocked_domains`, the Responses `filters.allowed_domains`, Gemini's `excludeDomains`."""
    google = spec.get("googleSearch", spec.get("google_search"))
    filters = spec.get("filters")
    allowed = spec.get("allowed_domains") or (filters.get("allowed_domains") if isinstance(filters, dict) else None)
    blocked = (google.get("excludeDomains", google.get("exclude_domains")) if isinstance(google, dict)
               else spec.get("blocked_domains"))
    return _strings(allowed), _strings(blocked)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _hosted_for(tool: ir.Tool, target: str) -> ir.Tool | None:
    """The upstream's own form of a hosted tool, or None where it has none (Chat Completions; the
    Responses API has no web fetch). A search keeps what the upstream's tool can say of the client's:
    the user's location and the domains allowed (Responses, Anthropic) or blocked (Anthropic);
    Gemini's says neither."""
    kind = hosted_kind(tool)
    if kind == WEB_FETCH:
        return _fetch_for(target)
    if kind == CODE_EXECUTION:
        return _code_for(target)
    if kind != WEB_SEARCH:
        return None
    spec = hosted_spec(tool)
    where = search_location(spec)
    located = {"user_location": where} if where else {}
    allowed, blocked = search_domains(spec)
    if target == RESPONSES:
        filters = {"filters": {"allowed_domains": allowed}} if allowed else {}
        return ir.Tool(WEB_SEARCH, kind="server", extra={RESPONSES: {"type": "web_search", **filters, **located}})
    if target == ANTHROPIC:  # Messages API, server tools: web_search_20250305 (one list of domains or the other)
        domains = {"allowed_domains": allowed} if allowed else {"blocked_domains": blocked} if blocked else {}
        return ir.Tool(WEB_SEARCH, kind="server", extra={"type": "web_search_20250305", "name": "web_search",
                                                         **domains, **located})
    if target == GEMINI:  # Gemini API, Tool.googleSearch (its excludeDomains is Vertex AI's only)
        return ir.Tool(WEB_SEARCH, kind="server", extra={GEMINI: {"googleSearch": {}}})
    return None


def _code_for(target: str) -> ir.Tool | None:
    if target == RESPONSES:  # a container the API makes for the turn
        return ir.Tool(CODE_EXECUTION, kind="server", extra={RESPONSES: {"type": "code_interpreter",
                                                                         "container": {"type": "auto"}}})
    if target == ANTHROPIC:  # Messages API, server tools: code_execution_20250825 (bash and file edits)
        return ir.Tool(CODE_EXECUTION, kind="server", extra={"type": "code_execution_20250825",
                                                             "name": CODE_EXECUTION})
    if target == GEMINI:  # Gemini API, Tool.codeExecution
        return ir.Tool(CODE_EXECUTION, kind="server", extra={GEMINI: {"codeExecution": {}}})
    return None


def _fetch_for(target: str) -> ir.Tool | None:
    if target == ANTHROPIC:  # Messages API, server tools: web_fetch_20250910
        return ir.Tool(WEB_FETCH, kind="server", extra={"type": "web_fetch_20250910", "name": WEB_FETCH})
    if target == GEMINI:  # Gemini API, Tool.urlContext: the pages of the prompt's URLs read
        return ir.Tool(WEB_FETCH, kind="server", extra={GEMINI: {"urlContext": {}}})
    return None


# Client-executed tools ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ClientTool:
    """A Responses tool type the client executes: the call item it is answered with, the item
    field that holds the call's arguments, and the function it is elsewhere."""

    call: str
    field: str
    description: str
    parameters: dict[str, Any]


def _schema(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_STRINGS = {"type": "array", "items": {"type": "string"}}

#: OpenAI's Responses reference: tool_search (execution client), local_shell, shell (local
#: environment) and apply_patch are run by the client; their calls carry these fields.
CLIENT_TOOLS: dict[str, ClientTool] = {
    "tool_search": ClientTool("tool_search_call", "arguments", "Search for more tools to load.",
                              _schema([], query={"type": "string"})),
    "local_shell": ClientTool("local_shell_call", "action", "Run a command on the user's machine.", _schema(
        ["command"], command=_STRINGS, working_directory={"type": "string"}, timeout_ms={"type": "integer"},
        env={"type": "object", "additionalProperties": {"type": "string"}})),
    "shell": ClientTool("shell_call", "action", "Run shell commands on the user's machine.", _schema(
        ["commands"], commands=_STRINGS, timeout_ms={"type": "integer"}, max_output_length={"type": "integer"})),
    "apply_patch": ClientTool("apply_patch_call", "operation", "Create, update or delete a file: `diff` is the "
                              "V4A diff of the change (none for delete_file).", _schema(
                                  ["type", "path"], type={"type": "string", "enum": ["create_file", "update_file",
                                                                                    "delete_file"]},
                                  path={"type": "string"}, diff={"type": "string"})),
}

#: Each client-run call item type and its output item type.
CLIENT_OUTPUTS = {"tool_search_call": "tool_search_output", "local_shell_call": "local_shell_call_output",
                  "shell_call": "shell_call_output", "apply_patch_call": "apply_patch_call_output"}


def client_executed(raw: dict[str, Any]) -> ClientTool | None:
    """The Responses tool `raw` as a tool the client runs itself, so that any upstream can be asked
    to call it as a function; None for a function, a custom or a hosted tool."""
    kind = raw.get("type")
    if kind == "tool_search":
        return CLIENT_TOOLS[kind] if raw.get("execution") == "client" else None
    if kind == "shell":
        environment = raw.get("environment")
        return CLIENT_TOOLS[kind] if not environment or environment.get("type") == "local" else None
    return CLIENT_TOOLS.get(str(kind))


def client_function(raw: dict[str, Any], spec: ClientTool) -> ir.Tool:
    """A client-run Responses tool as the function tool it is on other upstreams, named by its type;
    the declaration itself is kept for a Responses upstream."""
    description = raw.get("description") if isinstance(raw.get("description"), str) else spec.description
    parameters = raw.get("parameters") if isinstance(raw.get("parameters"), dict) else spec.parameters
    return ir.Tool(str(raw["type"]), description, parameters, extra={RESPONSES: raw})


def client_call_item(call: str, call_id: str, arguments: str, item_id: str) -> dict[str, Any]:
    """A call of a client-run tool as its Responses item, its arguments in the item's own field."""
    spec = next(s for s in CLIENT_TOOLS.values() if s.call == call)
    try:
        value = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        value = {}
    value = value if isinstance(value, dict) else {}
    item: dict[str, Any] = {"type": call, "id": item_id, "call_id": call_id, "status": "completed"}
    if call == "tool_search_call":
        item["execution"] = "client"
    elif call == "local_shell_call":
        value = {"type": "exec", "env": {}, **value}
    item[spec.field] = value
    return item


def client_call_of_item(item: dict[str, Any]) -> ir.ToolCall | None:
    """A client-run call item from the client's input as the function call it is elsewhere; the
    item is kept for a Responses upstream."""
    spec = next(((kind, s) for kind, s in CLIENT_TOOLS.items() if s.call == item.get("type")), None)
    if spec is None or (spec[0] == "tool_search" and item.get("execution") != "client"):
        return None
    call_id = item.get("call_id") or item.get("id")
    if not isinstance(call_id, str):
        return None
    arguments = dict(item.get(spec[1].field) or {})
    if spec[0] == "local_shell":
        arguments.pop("type", None)
    return ir.ToolCall(call_id, spec[0], orjson.dumps(arguments).decode(), extra={RESPONSES: item})


def client_result_of_item(item: dict[str, Any]) -> ir.ToolResult | None:
    """A client-run tool's output item as the tool result it is elsewhere, its output as text."""
    kind = item.get("type")
    if kind not in CLIENT_OUTPUTS.values() or (kind == "tool_search_output" and item.get("execution") != "client"):
        return None
    call_id = item.get("id") if kind == "local_shell_call_output" else item.get("call_id")
    if not isinstance(call_id, str):
        return None
    output = item.get("tools") if kind == "tool_search_output" else item.get("output")
    if isinstance(output, list) and kind == "shell_call_output":
        text = "\n".join(str(o.get("stdout") or "") + str(o.get("stderr") or "") for o in output if isinstance(o, dict))
    else:
        text = output if isinstance(output, str) else orjson.dumps(output or []).decode()
    return ir.ToolResult(call_id, [ir.Text(text)], is_error=item.get("status") == "failed",
                         extra={RESPONSES: item})


def freeform_description(tool: ir.Tool) -> str:
    """A custom tool's description for an upstream that only has functions: what it does, that
    `input` takes the raw text, and the grammar the text must follow, where the client gave one."""
    text = (tool.description or "").rstrip()
    text += ("\n\n" if text else "") + "This tool takes freeform text: pass all of it, verbatim, as `input`."
    fmt = (tool.extra or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        text += f"\nThe text must follow this {fmt.get('syntax') or ''} grammar:\n{fmt['definition']}"
    return text


def _as_function(tool: ir.Tool) -> ir.Tool:
    return ir.Tool(tool.name, freeform_description(tool), FREEFORM_PARAMETERS, kind="function")


def _foreign(tool: ir.Tool) -> ir.Tool:
    """A function tool without its source dialect's own fields, which another upstream would reject."""
    return dataclasses.replace(tool, extra=None) if tool.extra else tool


def _adapted(tool: ir.Tool, source: str, target: str) -> ir.Tool | None:
    """`tool` as the `target` upstream can take it; None for a hosted tool it cannot run."""
    if source == target:
        return tool
    if tool.kind == "server":
        return _hosted_for(tool, target)
    if tool.kind == "custom" and target not in _FREEFORM:
        return _as_function(tool)
    return _foreign(tool)


def adapt_tools(tools: Iterable[ir.Tool], source: str, target: str) -> tuple[list[ir.Tool], list[str]]:
    """`tools` as the `target` upstream can take them, and the wire types of those it cannot."""
    kept: list[ir.Tool] = []
    omitted: list[str] = []
    for tool in tools:
        adapted = _adapted(tool, source, target)
        if adapted is None:
            omitted.append(wire_type(tool))
        else:
            kept.append(adapted)
    return kept, omitted


def omitted(request: ir.ChatRequest, target: str) -> list[str]:
    """The client's tools an upstream of dialect `target` cannot run, left out of its request:
    hosted ones only (a function tool always goes), so only they are looked at."""
    if request.dialect == target or not request.tools:
        return []
    return [wire_type(t) for t in request.tools if t.kind == "server" and _adapted(t, request.dialect, target) is None]


def omitted_headers(request: Any, target: str) -> list[tuple[bytes, bytes]]:
    """The `x-interlingua-omitted-tools` header for an answer, where tools were left out."""
    if not isinstance(request, ir.ChatRequest):
        return []
    # A type is the client's text: only what a header may carry, so a stray byte cannot break it.
    names = [n if _HEADER_SAFE.fullmatch(n) else "unknown" for n in omitted(request, target)]
    return [(OMITTED_HEADER, ",".join(dict.fromkeys(names)).encode())] if names else []


_HEADER_SAFE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def failed_output(text: str) -> str:
    """A failed tool's text for a dialect whose tool results carry no error flag (both OpenAI
    APIs'), so that the model reads it as a failure, as the flag tells Claude and Gemini."""
    return "Error: " + text


def _wrap(part: ir.Part) -> ir.Part:
    if isinstance(part, ir.ToolCall) and part.kind == "custom":
        return dataclasses.replace(part, kind="function", arguments=orjson.dumps({"input": part.arguments}).decode())
    return part


def _wrapped(message: ir.Message) -> ir.Message:
    """`message`, or a copy with its custom tool calls wrapped as function calls: a copy only where
    there is one (an agent's turn has dozens of assistant messages, and a copy costs microseconds)."""
    if message.role != "assistant" or not any(
            isinstance(p, ir.ToolCall) and p.kind == "custom" for p in message.parts):
        return message
    return dataclasses.replace(message, parts=[_wrap(p) for p in message.parts])


def adapt_request(request: ir.ChatRequest, target: str) -> ir.ChatRequest:
    """The request as an upstream of dialect `target` can take it: tools adapted, and earlier
    custom tool calls wrapped as function calls where the upstream has no freeform tools."""
    if request.dialect == target:
        return request
    tools = request.tools
    if tools:  # with every tool left out, none are declared (an empty list is refused by some)
        tools = adapt_tools(tools, request.dialect, target)[0] or None
    messages = request.messages
    if target not in _FREEFORM:
        messages = [_wrapped(m) for m in messages]
    return dataclasses.replace(request, tools=tools, tool_choice=_choosable(request.tool_choice, tools, request.tools),
                               messages=messages)


def _choosable(choice: ir.ToolChoice | None, tools: list[ir.Tool] | None,
               declared: list[ir.Tool] | None) -> ir.ToolChoice | None:
    """The client's tool choice, of the tools the upstream is sent: none where every tool was left
    out; and where it named only tools left out (a hosted one this upstream lacks), the choice is
    the model's again rather than a name the upstream would refuse."""
    if choice is None or not tools:
        return choice if not declared else None  # nothing left to choose
    if not choice.names:
        return choice
    sent = {t.name for t in tools}
    names = [n for n in choice.names if n in sent]
    return dataclasses.replace(choice, names=names) if names else None


# Calls coming back --------------------------------------------------------------------------------


def custom_names(request: ir.ChatRequest) -> frozenset[str]:
    return frozenset(t.name for t in request.tools or () if t.kind == "custom")


def unwrap(arguments: str) -> str:
    """A freeform call's raw text from the function-call JSON an upstream wrote (`{"input": ...}`);
    the text itself where the model wrote no such object."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return str(value["input"])
    return arguments


def restore_calls(parts: list[ir.Part], custom: frozenset[str]) -> list[ir.Part]:
    """Function calls of the client's custom tools as custom calls with their raw text."""
    return [dataclasses.replace(p, kind="custom", arguments=unwrap(p.arguments))
            if isinstance(p, ir.ToolCall) and p.kind == "function" and p.name in custom else p
            for p in parts]


def restore_response(response: ir.ChatResponse, request: ir.ChatRequest) -> ir.ChatResponse:
    custom = custom_names(request)
    if custom:
        for choice in response.choices:
            choice.message.parts = restore_calls(choice.message.parts, custom)
    return response


class CallRestorer:
    """Streamed function calls of the client's custom tools, held until whole, then let out as one
    custom call delta with the raw text: the JSON wrapper cannot be unwrapped piece by piece."""

    __slots__ = ("_custom", "_held")

    def __init__(self, custom: frozenset[str]) -> None:
        self._custom = custom
        self._held: dict[tuple[int, int], tuple[ir.ToolCallDelta, list[str]]] = {}  # the call, its pieces

    def feed(self, batch: list[ir.StreamEvent]) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        for event in batch:
            if isinstance(event, ir.ToolCallDelta):
                key = (event.choice, event.index)
                held = self._held.get(key)
                if held is not None:
                    held[1].append(event.arguments)
                    continue
                if event.kind == "function" and event.name in self._custom:
                    out.extend(self.flush())
                    self._held[key] = (event, [event.arguments])
                    continue
                out.extend(self.flush())
            elif isinstance(event, ir.Finish):
                out.extend(self.flush())
            out.append(event)
        return out

    def flush(self) -> list[ir.StreamEvent]:
        done: list[ir.StreamEvent] = [dataclasses.replace(d, kind="custom", arguments=unwrap("".join(pieces)))
                                      for d, pieces in self._held.values()]
        self._held.clear()
        return done


async def restore_stream(batches: AsyncIterator[list[ir.StreamEvent]],
                         request: ir.ChatRequest) -> AsyncIterator[list[ir.StreamEvent]]:
    """`batches` with the client's custom tool calls restored (see `CallRestorer`)."""
    custom = custom_names(request)
    if not custom:
        async for batch in batches:
            yield batch
        return
    restorer = CallRestorer(custom)
    async for batch in batches:
        out = restorer.feed(batch)
        if out:
            yield out
    tail = restorer.flush()
    if tail:
        yield tail


def call_item(request: ir.ChatRequest | None, name: str | None, kind: str) -> str:
    """The Responses item type a call comes back as: the client's own kind of tool."""
    if kind == "custom":
        return "custom_tool_call"
    for tool in (request.tools if request is not None else None) or ():
        if tool.name == name and tool.kind == "function":
            spec = client_executed((tool.extra or {}).get(RESPONSES) or {})
            if spec is not None:
                return spec.call
    return "function_call"


def interleaved() -> ir.GatewayError:
    """The failure of a delta that goes on with a call other than the one a stream has open. Chat
    lets a server interleave its calls' deltas by `index`; a client that takes one block at a time
    (Anthropic's content blocks, Responses' output items) cannot be given them, and a block without
    its call's name is no call."""
    return ir.GatewayError("upstream", "upstream interleaved the deltas of its tool calls, which this client's "
                           "stream cannot carry", retryable=True)
