"""The rounds of a turn whose hosted tools the gateway runs (file search, remote MCP, web
search and fetch): the layer asks the dispatcher, what the client may see of the answer goes on as it comes,
and the calls, the end and the usage are held; the layer's step runs the calls, and the model is
asked again with their results until it answers without them."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import tools
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.folding import Fold
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import DISCONNECTED, END, ERROR, EVENTS, REQUEST, RESULT, USAGE, state_of

Show = Callable[[ir.Opaque], Awaitable[None]]
# runs a round's calls of the layer's functions, showing the client what it made of each as it goes:
# their results for the model, and whether the turn is the client's now (an approval to ask)
Step = Callable[[list[ir.ToolCall], Show], Awaitable[tuple[list[ir.ToolResult], bool]]]


def replayed(messages: list[ir.Message], read: Callable[[ir.Part], list[ir.Message] | None]) -> list[ir.Message]:
    """The conversation with each part `read` knows (an earlier hosted call, shown to the client
    in its dialect) as the messages `read` makes of it (the call and the result it was; none for a
    part it holds until another), each message split around them."""
    out: list[ir.Message] = []
    for message in messages:
        rest: list[ir.Part] = []
        for part in message.parts:
            made = read(part)
            if made is None:
                rest.append(part)
                continue
            if rest:
                out.append(dataclasses.replace(message, parts=rest))
                rest = []
            out += made
        if rest or not message.parts:
            out.append(dataclasses.replace(message, parts=rest))
    return out


def declares(request: ir.ChatRequest, kind: str, raw: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether a turn declares a hosted tool of `kind` (`tools.hosted_kind`): one look at the
    client's body, whose tools `raw` tells, before any is decoded; in a round of a layer above, at
    the tools it decoded."""
    parsed = ir.as_parsed(request)
    if parsed is None:
        return any(t.kind == "server" and tools.hosted_kind(t) == kind for t in request.tools or ())
    declared = parsed.get("tools")
    return isinstance(declared, list) and any(isinstance(t, dict) and raw(t) for t in declared)


async def claim(app: Any, scope: dict[str, Any], receive: Any, send: Any, request: ir.ChatRequest, kind: str,
                function: str, read: Callable[[ir.Part], list[ir.Message] | None]
                ) -> tuple[ir.ChatRequest, ir.Tool] | None:
    """The client's hosted tool of `kind` that a layer runs as `function`, and the request with the
    earlier calls `read` knows replayed; None where the layer has nothing to do: a turn that
    declares no such tool, or a function of that name of its own, is passed on to `app`, and a lazy
    body's fault is answered."""
    try:
        declared = next((t for t in request.tools or () if t.kind == "server" and tools.hosted_kind(t) == kind), None)
        if declared is not None and not any(t.name == function and t is not declared for t in request.tools or ()):
            return dataclasses.replace(request, messages=replayed(request.messages, read)), declared
    except ir.GatewayError as error:
        await send_error(scope, send, error)
        return None
    await app(scope, receive, send)
    return None


def argument(arguments: str, name: str) -> str:
    """A call's string argument `name`, stripped: "" where its arguments have none."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return ""
    given = value.get(name) if isinstance(value, dict) else None
    return given.strip() if isinstance(given, str) else ""


def exchange(call: ir.ToolCall, result: ir.ToolResult) -> list[ir.Message]:
    """A call and its result as the model reads them."""
    return [ir.Message("assistant", [call]), ir.Message("tool", [result])]


def max_calls(client: ir.ChatRequest) -> int | None:
    """A Responses client's `max_tool_calls` (checked by its codec): the calls of built-in tools its
    answer may make, in all."""
    limit = (ir.as_parsed(client) or {}).get(_MAX_CALLS) if client.dialect == RESPONSES else None
    return limit if isinstance(limit, int) else None


_MAX_CALLS = "max_tool_calls"


async def run(app: Any, scope: dict[str, Any], receive: Any, send: Any, working: ir.ChatRequest,
              held: frozenset[str], step: Step, *, rounds: int, plain: list[ir.Tool],
              opening: list[ir.Opaque] | None = None, limit: int | None = None,
              grounding: Callable[[], dict[str, Any] | None] = lambda: None) -> None:
    """Asks `app` for `working` until the model calls none of `held` (the layer's functions), the
    client's own tools are called too, `step` gives the turn to the client, or `rounds` rounds have
    run or `limit` calls been made (then once more with only the `plain` tools, for an answer; a
    call beyond the limit is not made, and the model told so). The client sees one answer:
    `opening` (blocks of its dialect) first, what every round showed, and every round's usage."""
    state = state_of(scope)
    if _MAX_CALLS in working.extra:  # applied here, to the calls the gateway makes, not the upstream's
        working = dataclasses.replace(working, extra={k: v for k, v in working.extra.items() if k != _MAX_CALLS})
    total = ir.Usage()
    shown: list[ir.Part] = list(opening or ())
    made = 0
    final = False
    for n in range(rounds + 1):
        final = final or n == rounds
        if final:
            working = dataclasses.replace(working, tools=plain or None, tool_choice=None)
        answer = Round(send, n == 0, held, opening if n == 0 else None)
        state[REQUEST] = working
        await app(scope, receive, answer.send)
        message = answer.message()
        calls = [p for p in message.parts if isinstance(p, ir.ToolCall) and p.name in held]
        total.add(answer.usage())
        state[USAGE] = total
        if answer.failed or state.get(DISCONNECTED) or not calls or final:
            await answer.finish(total, [*shown, *message.parts], grounding())
            return
        ours = {id(call) for call in calls}
        shown.extend(p for p in message.parts if id(p) not in ours)

        async def show(part: ir.Opaque, answer: Round = answer) -> None:
            shown.append(part)
            await answer.show(part)

        allowed = calls if limit is None else calls[:max(limit - made, 0)]
        made += len(allowed)
        results, waiting = await step(allowed, show) if allowed else ([], False)
        results += [ir.ToolResult(call.id, [ir.Text(f"Not called: the answer's max_tool_calls ({limit}) is reached.")],
                                  is_error=True) for call in calls[len(allowed):]]
        final = limit is not None and made >= limit
        if waiting or any(isinstance(p, ir.ToolCall) and id(p) not in ours for p in message.parts):
            await answer.finish(total, shown, grounding())  # the client's turn: an approval, or its tools' calls
            return
        working = dataclasses.replace(working, tool_choice=None, messages=[
            *working.messages, message, ir.Message("tool", list(results))])


class Round:
    """One answer in the loop: what the client may see of it goes on as it comes; its searches, its
    end and its usage are held for the loop to decide."""

    __slots__ = ("_send", "_first", "_held", "_leading", "_fold", "_result", "_running", "failed", "streamed")

    def __init__(self, send: Any, first: bool, held: frozenset[str],
                 leading: list[ir.Opaque] | None = None) -> None:
        self._send = send
        self._first = first
        self._held = held  # the names of the functions the layer runs, whose calls the client never sees
        self._leading = leading or []  # the client's own blocks a stream opens with, right after its start
        self._fold = Fold()
        self._result: ir.ChatResponse | None = None
        self._running: set[int] = set()  # the indexes of the stream's calls of those
        self.failed = False
        self.streamed = False

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == RESULT:
            self._result = message["result"]
        elif kind == EVENTS:
            self.streamed = True
            passed = [event for event in message["events"] if self._passes(event)]
            if self._leading and any(isinstance(event, ir.StreamStart) for event in passed):
                at = next(i for i, event in enumerate(passed) if isinstance(event, ir.StreamStart)) + 1
                passed[at:at] = [ir.OpaqueBlock(part.dialect, part.data) for part in self._leading]
                self._leading = []
            if passed:
                await self._send({"type": EVENTS, "events": passed})
        elif kind != END:
            self.failed = self.failed or kind == ERROR
            await self._send(message)

    def _passes(self, event: ir.StreamEvent) -> bool:
        self._fold.add(event)
        if isinstance(event, ir.ToolCallDelta) and not event.choice:
            if event.name in self._held:
                self._running.add(event.index)
            return event.index not in self._running
        if isinstance(event, ir.StreamStart):
            return self._first
        return not isinstance(event, ir.Finish | ir.UsageReport)

    def message(self) -> ir.Message:
        if self._result is not None and self._result.choices:
            return self._result.choices[0].message
        return self._fold.message()

    def usage(self) -> ir.Usage | None:
        return self._result.usage if self._result is not None else self._fold.usage

    async def show(self, part: ir.Opaque) -> None:
        """A block of the client's own dialect for a call the gateway ran (a Responses item, an
        Anthropic block), to a streaming client at once."""
        if self.streamed:
            await self._send({"type": EVENTS, "events": [ir.OpaqueBlock(part.dialect, part.data)]})

    async def finish(self, total: ir.Usage, parts: list[ir.Part], grounding: dict[str, Any] | None = None) -> None:
        """The answer's end, with every round's usage and, for a Gemini client, the `groundingMetadata`
        of what was found; a whole answer holds `parts`, what every round showed."""
        if self.failed:
            return
        if self._result is not None:
            choice = self._result.choices[0] if self._result.choices else ir.Choice(0, ir.Message("assistant", []),
                                                                                    "stop")
            message = dataclasses.replace(choice.message, parts=parts)
            extra = choice.extra if grounding is None else {**(choice.extra or {}), "grounding": grounding}
            await self._send({"type": RESULT, "result": dataclasses.replace(
                self._result, choices=[dataclasses.replace(choice, message=message, extra=extra)], usage=total)})
        elif self.streamed:
            ending: list[ir.StreamEvent] = [ir.Finish(self._fold.reason or "stop"), ir.UsageReport(total)]
            if grounding:
                ending.insert(0, ir.OpaqueBlock(GEMINI, {"groundingMetadata": grounding}))
            await self._send({"type": EVENTS, "events": ending})
            await self._send({"type": END})


