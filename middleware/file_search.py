"""The Responses API's `file_search` tool, run by the gateway over its own vector stores, whatever the
upstream.

A Responses turn whose `file_search` tool names the key's vector stores (`middleware/vector_stores.py`)
is asked of its upstream with a function, `file_search`, in the tool's place, and always translated
(the answer must be read, so it is never passed through). When the model calls it, the gateway
searches the stores (the tool's `max_num_results`, `filters` and `ranking_options`), gives the model
the passages as the call's result and asks again, `MAX_SEARCHES` times at most (then once more
without the tool, for an answer). The client sees one Response: each search as a `file_search_call`
item (with its `results` where the request `include`s `file_search_call.results`) among the answer's
items, and the usage of every round. Streamed, the answer's events go out as they come and each
search as a whole item with its phases. Earlier turns' `file_search_call` items (through
`previous_response_id`, a conversation or the input) reach the model as the calls and results they
were, where they kept their results. A tool naming stores the gateway does not keep is left to the
upstream (OpenAI's own stores).

Sits right above the dispatcher, which it asks once a round for IR; the re-encoding layer above
turns what it sends into the client's answer, with the request as the client sent it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import openai_vector_stores as wire
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.dialects.openai_responses_request import new_id
from interlingua.adapters.folding import Fold
from interlingua.adapters.storage.vector_stores import VectorStores
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import (
    DISCONNECTED,
    END,
    ERROR,
    EVENTS,
    OPERATION,
    REQUEST,
    RESULT,
    USAGE,
    owner_of,
    state_of,
)
from interlingua.middleware.vector_indexer import VectorIndexer

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
                or not isinstance(request, ir.ChatRequest) or request.dialect != RESPONSES or not _declared(request)):
            await self.app(scope, receive, send)
            return
        try:
            found = await self._tool(owner_of(state), request)
        except ir.GatewayError as error:
            await send_error(scope, send, error)
            return
        if found is None:
            await self.app(scope, receive, send)
            return
        await self._run(scope, receive, send, request, *found)

    async def _tool(self, owner: str | None, request: ir.ChatRequest) -> tuple[ir.Tool, wire.FileSearchTool] | None:
        """The turn's `file_search` tool and what it asks, if it names the key's stores; None to
        leave the turn to its upstream. A tool naming some of the key's stores and some unknown
        ones is a 404 for the first unknown."""
        assert self.store is not None
        tools = request.tools or []
        declared = next((t for t in tools if t.kind == "server" and t.name == wire.FILE_SEARCH), None)
        if declared is None or any(t.name == wire.FILE_SEARCH for t in tools if t is not declared):
            return None
        asked = wire.file_search_tool((declared.extra or {}).get(RESPONSES) or {})
        kept = [await self.store.get(owner, store_id) for store_id in asked.store_ids]
        if not any(kept):
            return None
        missing = next((i for i, store in zip(asked.store_ids, kept, strict=True) if store is None), None)
        if missing is not None:
            raise wire.store_not_found(missing)
        return declared, asked

    async def _run(self, scope: dict[str, Any], receive: Any, send: Any, request: ir.ChatRequest,
                   declared: ir.Tool, asked: wire.FileSearchTool) -> None:
        state = state_of(scope)
        native = ir.as_parsed(request) or {}
        with_results = wire.RESULTS in (native.get("include") or ())
        tools = [t for t in request.tools or () if t is not declared]
        working = dataclasses.replace(request, native=None, raw=None, messages=_replayed(request.messages),
                                      tools=[*tools, wire.search_function()])
        total = ir.Usage()  # every round's
        shown: list[ir.Part] = []  # what the client sees of the rounds before the last
        for searches in range(MAX_SEARCHES + 1):
            if searches == MAX_SEARCHES:  # enough: an answer, from what was found
                working = dataclasses.replace(working, tools=tools or None, tool_choice=None)
            answer = _Round(send, first=searches == 0)
            state[REQUEST] = working
            await self.app(scope, receive, answer.send)
            message = answer.message()
            calls = [p for p in message.parts if isinstance(p, ir.ToolCall) and p.name == wire.FILE_SEARCH]
            total.add(answer.usage())
            state[USAGE] = total
            if answer.failed or state.get(DISCONNECTED) or not calls or searches == MAX_SEARCHES:
                await answer.finish(total, [*shown, *message.parts])
                return
            searched = {id(call) for call in calls}
            shown += [p for p in message.parts if id(p) not in searched]
            results = []
            for call in calls:
                item, result = await self._searched(asked, call, with_results)
                shown.append(ir.Opaque(RESPONSES, item))
                await answer.show(item)
                results.append(result)
            if any(isinstance(p, ir.ToolCall) and id(p) not in searched for p in message.parts):
                await answer.finish(total, shown)  # the client's own tools are called too: its turn, searches seen
                return
            working = dataclasses.replace(working, tool_choice=None, messages=[
                *working.messages, message, ir.Message("tool", list(results))])

    async def _searched(self, asked: wire.FileSearchTool, call: ir.ToolCall,
                        with_results: bool) -> tuple[dict[str, Any], ir.ToolResult]:
        """A call of the search run: its `file_search_call` item, and its result for the model (an
        error the model can act on where the call gave no queries or the store is away)."""
        queries = wire.queries_of(call.arguments)
        try:
            hits = await self._search(asked, queries) if queries else []
        except ir.GatewayError as error:
            failed = wire.file_search_call(new_id("fs"), queries, [], False) | {"status": "failed"}
            return failed, ir.ToolResult(call.id, [ir.Text(f"The search failed: {error.message}")], is_error=True)
        text = wire.results_text(hits) if queries else "Call file_search with `queries`, a list of strings."
        return (wire.file_search_call(new_id("fs"), queries, hits, with_results),
                ir.ToolResult(call.id, [ir.Text(text)], is_error=not queries))

    async def _search(self, asked: wire.FileSearchTool, queries: list[str]) -> list[wire.Hit]:
        """The best passages of every store the tool names, best first."""
        assert self.indexer is not None
        ask = dataclasses.replace(asked.ask, queries=queries)
        hits = [hit for store_id in asked.store_ids for hit in await self.indexer.search(store_id, ask)]
        return sorted(hits, key=lambda hit: -hit.score)[:ask.limit]


class _Round:
    """One answer in the loop: what the client may see of it goes on as it comes; its searches, its
    end and its usage are held for the loop to decide."""

    __slots__ = ("_send", "_first", "_fold", "_result", "_searching", "failed", "streamed")

    def __init__(self, send: Any, first: bool) -> None:
        self._send = send
        self._first = first
        self._fold = Fold()
        self._result: ir.ChatResponse | None = None
        self._searching: set[int] = set()  # the indexes of the stream's calls of the search
        self.failed = False
        self.streamed = False

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == RESULT:
            self._result = message["result"]
        elif kind == EVENTS:
            self.streamed = True
            passed = [event for event in message["events"] if self._passes(event)]
            if passed:
                await self._send({"type": EVENTS, "events": passed})
        elif kind != END:
            self.failed = self.failed or kind == ERROR
            await self._send(message)

    def _passes(self, event: ir.StreamEvent) -> bool:
        self._fold.add(event)
        if isinstance(event, ir.ToolCallDelta) and not event.choice:
            if event.name == wire.FILE_SEARCH:
                self._searching.add(event.index)
            return event.index not in self._searching
        if isinstance(event, ir.StreamStart):
            return self._first
        return not isinstance(event, ir.Finish | ir.UsageReport)

    def message(self) -> ir.Message:
        if self._result is not None and self._result.choices:
            return self._result.choices[0].message
        return self._fold.message()

    def usage(self) -> ir.Usage | None:
        return self._result.usage if self._result is not None else self._fold.usage

    async def show(self, item: dict[str, Any]) -> None:
        """A search the gateway ran, to a streaming client at once."""
        if self.streamed:
            await self._send({"type": EVENTS, "events": [ir.OpaqueBlock(RESPONSES, item)]})

    async def finish(self, total: ir.Usage, parts: list[ir.Part]) -> None:
        """The answer's end, with every round's usage; a whole answer holds `parts`, what every
        round showed."""
        if self.failed:
            return
        if self._result is not None:
            choice = self._result.choices[0] if self._result.choices else ir.Choice(0, ir.Message("assistant", []),
                                                                                    "stop")
            message = dataclasses.replace(choice.message, parts=parts)
            await self._send({"type": RESULT, "result": dataclasses.replace(
                self._result, choices=[dataclasses.replace(choice, message=message)], usage=total)})
        elif self.streamed:
            await self._send({"type": EVENTS, "events": [ir.Finish(self._fold.reason or "stop"),
                                                         ir.UsageReport(total)]})
            await self._send({"type": END})


def _declared(request: ir.ChatRequest) -> bool:
    """Whether the client's body declares a `file_search` tool: one look, before any tool is decoded."""
    tools = (ir.as_parsed(request) or {}).get("tools")
    return isinstance(tools, list) and any(isinstance(t, dict) and t.get("type") == wire.FILE_SEARCH for t in tools)


def _replayed(messages: list[ir.Message]) -> list[ir.Message]:
    """The conversation with each earlier `file_search_call` item as the call and result it was."""
    out: list[ir.Message] = []
    for message in messages:
        rest: list[ir.Part] = []
        for part in message.parts:
            item = part.data if isinstance(part, ir.Opaque) and part.dialect == RESPONSES else None
            if item is None or item.get("type") != "file_search_call":
                rest.append(part)
                continue
            if rest:
                out.append(dataclasses.replace(message, parts=rest))
                rest = []
            call_id = str(item.get("id") or new_id("fs"))
            queries = [q for q in item.get("queries") or () if isinstance(q, str)]
            out.append(ir.Message("assistant", [ir.ToolCall(call_id, wire.FILE_SEARCH,
                                                            orjson.dumps({"queries": queries}).decode())]))
            out.append(ir.Message("tool", [ir.ToolResult(call_id, [ir.Text(_kept(item.get("results")))])]))
        if rest or not message.parts:
            out.append(dataclasses.replace(message, parts=rest))
    return out


def _kept(results: Any) -> str:
    """An earlier search's results as the model read them, where the item kept them."""
    if not isinstance(results, list):
        return "The results of this search were not kept."
    hits = [wire.Hit(str(r.get("file_id", "")), str(r.get("filename", "")), r.get("attributes") or {},
                     str(r.get("text", "")), float(r.get("score") or 0.0)) for r in results if isinstance(r, dict)]
    return wire.results_text(hits)
