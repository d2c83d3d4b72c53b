"""The Responses API's `file_search` tool and Gemini's `fileSearch` tool, run by the gateway over
its own vector stores, whatever the upstream.

A Responses turn whose `file_search` tool names the key's vector stores (`middleware/vector_stores.py`),
or a Gemini turn whose `fileSearch` tool names the key's File Search stores (the same stores,
`middleware/file_search_stores.py`), is asked of its upstream with a function, `file_search`, in
the tool's place, and always translated (the answer must be read, so it is never passed through).
When the model calls it, the gateway searches the stores (the tool's `max_num_results`, `filters`
and `ranking_options`; Gemini's `topK` and `metadataFilter`), gives the model the passages as the
call's result and asks again, `MAX_SEARCHES` times at most (then once more without the tool, for
an answer). The client sees one answer with the usage of every round. A Responses client sees each
search as a `file_search_call` item (with its `results` where the request `include`s
`file_search_call.results`) among the answer's items; streamed, the answer's events go out as they
come and each search as a whole item with its phases. A Gemini client sees, as Gemini reports its
own searches, the passages found as the candidate's `groundingMetadata`. Earlier Responses turns'
`file_search_call` items (through `previous_response_id`, a conversation or the input) reach the
model as the calls and results they were, where they kept their results. A tool naming stores the
gateway does not keep is left to the upstream (OpenAI's or Google's own stores).

Sits right above the dispatcher, which it asks once a round for IR; the re-encoding layer above
turns what it sends into the client's answer, with the request as the client sent it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import gemini_file_search
from interlingua.adapters.dialects import openai_vector_stores as wire
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.dialects.openai_responses_request import new_id
from interlingua.adapters.storage.vector_stores import VectorStores
from interlingua.middleware import rounds
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import CLIENT_REQUEST, OPERATION, REQUEST, owner_of, state_of
from interlingua.middleware.vector_indexer import VectorIndexer

Found = list[tuple[str, wire.Hit]]  # the passages a search found, each with its store's id
MAX_SEARCHES = 4  # rounds a turn may search in, before one more is asked for an answer without the tool


class FileSearchMiddleware:
    def __init__(self, app: Any, indexer: VectorIndexer | None) -> None:
        self.app = app
        self.indexer = indexer
        self.store: VectorStores | None = indexer.store if indexer is not None else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        request = state.get(REQUEST)
        if (scope["type"] != "http" or self.store is None or state.get(OPERATION) is not ops.CHAT
                or not isinstance(request, ir.ChatRequest) or request.dialect not in _TOOLS
                or not _declared(request)):
            await self.app(scope, receive, send)
            return
        try:
            found = await self._tool(owner_of(state), request)
            if found is not None:  # the whole request read here, where a lazy body's fault is answered
                request = dataclasses.replace(request, messages=_replayed(request.messages))
        except ir.GatewayError as error:
            await send_error(scope, send, error)
            return
        if found is None:
            await self.app(scope, receive, send)
            return
        await self._run(scope, receive, send, request, *found)

    async def _tool(self, owner: str | None, request: ir.ChatRequest) -> tuple[ir.Tool, wire.FileSearchTool] | None:
        """The turn's search tool and what it asks, if it names the key's stores; None to leave the
        turn to its upstream. A tool naming some of the key's stores and some unknown ones is a 404
        for the first unknown."""
        assert self.store is not None
        tools, names = request.tools or [], _TOOLS[request.dialect]
        declared = next((t for t in tools if t.kind == "server" and t.name in names), None)
        if declared is None or any(t.name == wire.FILE_SEARCH for t in tools if t is not declared):
            return None
        spec = (declared.extra or {}).get(request.dialect) or {}
        asked = (wire.file_search_tool(spec) if request.dialect == RESPONSES
                 else gemini_file_search.file_search_tool(spec))
        kept = [await self.store.get(owner, store_id) for store_id in asked.store_ids]
        if not any(kept):
            return None
        missing = next((i for i, store in zip(asked.store_ids, kept, strict=True) if store is None), None)
        if missing is not None:
            raise (wire.store_not_found(missing) if request.dialect == RESPONSES
                   else gemini_file_search.store_not_found(gemini_file_search.NAME + missing))
        return declared, asked

    async def _run(self, scope: dict[str, Any], receive: Any, send: Any, request: ir.ChatRequest,
                   declared: ir.Tool, asked: wire.FileSearchTool) -> None:
        client = state_of(scope).get(CLIENT_REQUEST, request)
        native = ir.as_parsed(client) or {}
        with_results = wire.RESULTS in (native.get("include") or ())
        tools = [t for t in request.tools or () if t is not declared]
        grounded: Found = []  # for a Gemini client, every search's passages

        async def search(calls: list[ir.ToolCall], show: rounds.Show) -> tuple[list[ir.ToolResult], bool]:
            results = []
            for call in calls:
                queries = wire.queries_of(call.arguments)
                found, result = await self._searched(asked, call.id, queries)
                if request.dialect == RESPONSES:
                    item = wire.file_search_call(new_id("fs"), queries, [hit for _, hit in found], with_results)
                    await show(ir.Opaque(RESPONSES, item | ({"status": "failed"} if result.is_error and queries
                                                             else {})))
                else:
                    grounded.extend(found)
                results.append(result)
            return results, False

        working = dataclasses.replace(request, native=None, raw=None, tools=[*tools, wire.search_function()])
        await rounds.run(self.app, scope, receive, send, working, _HELD, search, rounds=MAX_SEARCHES, plain=tools,
                         limit=rounds.max_calls(client), grounding=lambda: _grounding(grounded))

    async def _searched(self, asked: wire.FileSearchTool, call_id: str,
                        queries: list[str]) -> tuple[Found, ir.ToolResult]:
        """A call of the search run: what it found, and its result for the model (an error the model
        can act on where the call gave no queries or the store is away)."""
        if not queries:
            return [], ir.ToolResult(call_id, [ir.Text("Call file_search with `queries`, a list of strings.")],
                                     is_error=True)
        try:
            found = await self._search(asked, queries)
        except ir.GatewayError as error:
            return [], ir.ToolResult(call_id, [ir.Text(f"The search failed: {error.message}")], is_error=True)
        return found, ir.ToolResult(call_id, [ir.Text(wire.results_text([hit for _, hit in found]))])

    async def _search(self, asked: wire.FileSearchTool, queries: list[str]) -> Found:
        """The best passages of every store the tool names, best first."""
        assert self.indexer is not None
        ask = dataclasses.replace(asked.ask, queries=queries)
        found = [(store_id, hit) for store_id in asked.store_ids for hit in await self.indexer.search(store_id, ask)]
        return sorted(found, key=lambda pair: -pair[1].score)[:ask.limit]


_HELD = frozenset({wire.FILE_SEARCH})


def _grounding(grounded: Found) -> dict[str, Any] | None:
    return gemini_file_search.grounding(grounded) if grounded else None


_TOOLS = {RESPONSES: (wire.FILE_SEARCH,), GEMINI: (gemini_file_search.TOOL, "file_search")}  # the tools' names


def _declared(request: ir.ChatRequest) -> bool:
    """Whether the client's body declares a search tool: one look, before any tool is decoded."""
    parsed = ir.as_parsed(request)
    if parsed is None:  # a round of a layer above (remote MCP): the tools are decoded already
        return any(t.kind == "server" and t.name in _TOOLS[request.dialect] for t in request.tools or ())
    tools = parsed.get("tools")
    if not isinstance(tools, list):
        return False
    if request.dialect == RESPONSES:
        return any(isinstance(t, dict) and t.get("type") == wire.FILE_SEARCH for t in tools)
    return any(isinstance(t, dict) and any(name in t for name in _TOOLS[GEMINI]) for t in tools)


def _replayed(messages: list[ir.Message]) -> list[ir.Message]:
    """The conversation with each earlier `file_search_call` item as the call and result it was."""
    return rounds.replayed(messages, _read)


def _read(part: ir.Part) -> list[ir.Message] | None:
    item = part.data if isinstance(part, ir.Opaque) and part.dialect == RESPONSES else None
    if item is None or item.get("type") != "file_search_call":
        return None
    call_id = str(item.get("id") or new_id("fs"))
    queries = [q for q in item.get("queries") or () if isinstance(q, str)]
    return rounds.exchange(ir.ToolCall(call_id, wire.FILE_SEARCH, orjson.dumps({"queries": queries}).decode()),
                           ir.ToolResult(call_id, [ir.Text(_kept(item.get("results")))]))


def _kept(results: Any) -> str:
    """An earlier search's results as the model read them, where the item kept them."""
    if not isinstance(results, list):
        return "The results of this search were not kept."
    hits = [wire.Hit(str(r.get("file_id", "")), str(r.get("filename", "")), r.get("attributes") or {},
                     str(r.get("text", "")), float(r.get("score") or 0.0)) for r in results if isinstance(r, dict)]
    return wire.results_text(hits)
