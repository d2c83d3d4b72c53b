"""Web search for a model whose upstream has none: the client's hosted web search tool (the
Responses `web_search`, Anthropic's `web_search_20250305`, Gemini's `googleSearch`, a Chat client's
`web_search_options`), run by the gateway through the search provider `[utilities] web_search`
names, for a turn routed to a Chat Completions upstream (OpenAI's chat models, vLLM, llama.cpp,
Ollama), which would otherwise go without it. An upstream with a search of its own (Responses,
Anthropic, Gemini, and OpenAI's search models on Chat Completions, which take no function tools)
is given the tool.

The model gets a function, `web_search`, in the tool's place; when it calls it, the gateway asks
the search provider (routed with its fallbacks, the tool's domains and country applied), gives the
model the pages found (title, address and extract) as the call's result and asks again, as the
file search layer does (`rounds.py`), `MAX_SEARCHES` times at most, Anthropic's `max_uses` or a
Responses `max_tool_calls` fewer. The client sees each search as its own API shows one: a
`web_search_call` item (its `sources` where the request `include`s
`web_search_call.action.sources`), Anthropic's `server_tool_use` and `web_search_tool_result`
blocks, or, for a Gemini client, the candidate's `groundingMetadata` (the queries and pages);
streamed, each as it happens. A Chat client, whose API shows no search, reads the answer. Earlier
turns' searches reach the model as the calls they were and the pages they found.

Sits between the remote MCP layer and the file search layer, asking the one below once a round.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import tools, web_search
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.dialects.openai_responses_request import SOURCES, new_id
from interlingua.adapters.providers import routed
from interlingua.middleware import rounds
from interlingua.middleware.state import CLIENT_REQUEST, OPERATION, REQUEST, TARGETS, state_of

FUNCTION = web_search.TOOL
MAX_SEARCHES = 5  # rounds a turn may search in, before one more is asked for an answer without the tool
RESULTS = 5  # pages a search gives the model
EXTRACT = 2000  # characters of each page's extract the model reads
_DIALECTS = frozenset({RESPONSES, ANTHROPIC, GEMINI, CHAT.name})  # the clients with a hosted web search


@dataclasses.dataclass(slots=True, frozen=True)
class _Asked:
    """What the client's tool asks of every search: domains (`!` excludes), a country, a cap."""

    domains: list[str]
    country: str | None
    max_uses: int | None


class HostedWebSearchMiddleware:
    def __init__(self, app: Any, routes: routed.Routes, model: str | None) -> None:
        self.app = app
        self.routes = routes
        self.model = model  # the search model of `[utilities] web_search`; None: the layer is off

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        request = state.get(REQUEST)
        if (scope["type"] != "http" or self.model is None or state.get(OPERATION) is not ops.CHAT
                or not isinstance(request, ir.ChatRequest) or request.dialect not in _DIALECTS
                or not _unsearched(state.get(TARGETS)) or not _declared(request)):
            await self.app(scope, receive, send)
            return
        taken = await rounds.claim(self.app, scope, receive, send, request, tools.WEB_SEARCH, FUNCTION, _Replay().read)
        if taken is None:
            return
        request, declared = taken
        await self._run(scope, receive, send, request, declared, _asked(declared))

    async def _run(self, scope: dict[str, Any], receive: Any, send: Any, request: ir.ChatRequest,
                   declared: ir.Tool, asked: _Asked) -> None:
        model = self.model
        assert model is not None
        client = state_of(scope).get(CLIENT_REQUEST, request)
        with_sources = SOURCES in ((ir.as_parsed(client) or {}).get("include") or ())
        others = [t for t in request.tools or () if t is not declared]
        done: list[web_search.Search] = []  # for a Gemini client's grounding

        async def search(calls: list[ir.ToolCall], show: rounds.Show) -> tuple[list[ir.ToolResult], bool]:
            results = []
            for call in calls:
                query = rounds.argument(call.arguments, "query")
                found: list[ir.SearchHit] = []
                failure: str | None = None
                try:
                    if not query:
                        raise ir.invalid("query", "is required: call web_search with a `query`")
                    found = (await routed.search(self.routes, ir.SearchRequest(
                        model, query, request.dialect, RESULTS, asked.domains, location=asked.country),
                        "web search")).hits
                except ir.GatewayError as error:
                    failure = error.message
                search = web_search.Search([query], [(hit.source, hit.title) for hit in found], failure is not None)
                for part in _shown(request.dialect, search, with_sources):
                    await show(part)
                done.append(search)
                results.append(ir.ToolResult(call.id, [ir.Text(_told(query, found, failure))],
                                             is_error=failure is not None))
            return results, False

        limits = [n for n in (asked.max_uses, rounds.max_calls(client)) if n is not None]
        choice = request.tool_choice
        if choice is not None and choice.names and declared.name in choice.names:  # the hosted tool, by its type
            choice = ir.ToolChoice(choice.mode, [FUNCTION if n == declared.name else n for n in choice.names])
        working = dataclasses.replace(request, native=None, raw=None, tools=[*others, _FUNCTION], tool_choice=choice)
        gemini = request.dialect == GEMINI
        await rounds.run(self.app, scope, receive, send, working, _HELD, search, rounds=MAX_SEARCHES, plain=others,
                         limit=min(limits) if limits else None,
                         grounding=lambda: web_search.to_grounding(done) if gemini and done else None)


_HELD = frozenset({FUNCTION})
_FUNCTION = ir.Tool(FUNCTION, "Search the web. Answers the best pages for the query: the title, address and an "
                              "extract of each.",
                    {"type": "object", "properties": {"query": {"type": "string", "description": "What to search for"}},
                     "required": ["query"]})


def _unsearched(targets: Any) -> bool:
    """Whether the turn goes first to an upstream with no web search of its own: Chat Completions,
    but for OpenAI's search models (gpt-4o-search-preview, gpt-5-search-api), which search when
    asked `web_search_options`."""
    if not targets or targets[0].provider.codec.name != CHAT.name:
        return False
    return "search" not in targets[0].provider.underlying(targets[0].model).lower()


def _declared(request: ir.ChatRequest) -> bool:
    parsed = ir.as_parsed(request)
    if parsed is not None and request.dialect == CHAT.name:  # a field of its own, not a tool
        return parsed.get("web_search_options") is not None
    return rounds.declares(request, tools.WEB_SEARCH, lambda t: str(t.get("type", "")).startswith("web_search")
                           or "googleSearch" in t or "google_search" in t)


def _asked(tool: ir.Tool) -> _Asked:
    spec = tools.hosted_spec(tool)
    allowed, blocked = tools.search_domains(spec)
    where = tools.search_location(spec) or {}
    uses = spec.get("max_uses")
    return _Asked([*allowed, *(f"!{d}" for d in blocked)],
                  where.get("country") if isinstance(where.get("country"), str) else None,
                  uses if isinstance(uses, int) and uses >= 0 else None)


def _told(query: str, found: list[ir.SearchHit], failure: str | None) -> str:
    """The search's pages as the model reads them."""
    if failure is not None:
        return f"The search failed: {failure}"
    if not found:
        return f"No page was found for {query!r}."
    return "\n\n".join(f"[{i}] {hit.title}\n{hit.source}\n{hit.content[:EXTRACT]}" for i, hit in enumerate(found, 1))


def _shown(dialect: str, search: web_search.Search, with_sources: bool) -> list[ir.Opaque]:
    """A search as the client's own API shows one; nothing for Gemini's, told at the end."""
    if dialect == RESPONSES:
        return [ir.Opaque(RESPONSES, web_search.to_responses(search, with_sources))]
    if dialect == ANTHROPIC:
        return [ir.Opaque(ANTHROPIC, block) for block in web_search.to_anthropic(search)]
    return []


class _Replay:
    """Earlier turns' searches as the calls they were: a Responses `web_search_call` item, an
    Anthropic `server_tool_use` with its `web_search_tool_result`, the pages they found (their
    extracts are not kept)."""

    def __init__(self) -> None:
        self.uses: dict[str, ir.ToolCall] = {}  # Anthropic's calls, until their results

    def read(self, part: ir.Part) -> list[ir.Message] | None:
        if not isinstance(part, ir.Opaque):
            return None
        data = part.data
        kind = data.get("type")
        if kind == "web_search_call" and part.dialect == RESPONSES:
            action = f.sub(data, "action")
            call = _call(str(data.get("id") or new_id("ws")), str(action.get("query") or ""))
            sources = [s for s in f.listed(action, "sources") if isinstance(s, dict)]
            return rounds.exchange(call, ir.ToolResult(call.id, [ir.Text(_pages(sources))]))
        if kind == "server_tool_use" and data.get("name") == FUNCTION:
            self.uses[str(data.get("id"))] = _call(str(data.get("id")), str(f.sub(data, "input").get("query") or ""))
            return []
        if kind == "web_search_tool_result":
            used = self.uses.pop(str(data.get("tool_use_id")), None)
            if used is None:
                return []
            found = [r for r in f.listed(data, "content") if isinstance(r, dict)]
            return rounds.exchange(used, ir.ToolResult(used.id, [ir.Text(_pages(found))]))
        return None


def _call(call_id: str, query: str) -> ir.ToolCall:
    return ir.ToolCall(call_id, FUNCTION, orjson.dumps({"query": query}).decode())


def _pages(found: list[dict[str, Any]]) -> str:
    """An earlier search's pages (a source's, or a result's `url` and `title`) for the model."""
    listed = [f"{page['title']}\n{page['url']}" if page.get("title") else str(page["url"])
              for page in found if page.get("url")]
    return "The pages found (their extracts were not kept):\n" + "\n".join(listed) if listed else (
        "The search found no page, or its results were not kept.")
