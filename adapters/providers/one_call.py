"""`parallel_tool_calls: false` where the upstream cannot forbid parallel calls (Gemini): each
choice's first call is the answer's, the calls after it are left out, whole and streamed.

The client asked for at most one call a turn and gets one; the model is asked again with that
call's result, and calls what it still needs then, as it would have with parallel calls off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from interlingua.adapters import ir

UPSTREAMS = frozenset({"gemini"})  # the upstream dialects with no way to forbid parallel calls


def wanted(request: ir.ChatRequest, upstream: str) -> bool:
    return request.parallel_tool_calls is False and upstream in UPSTREAMS


def first_calls(response: ir.ChatResponse) -> ir.ChatResponse:
    for choice in response.choices:
        calls = [p for p in choice.message.parts if isinstance(p, ir.ToolCall)]
        if len(calls) > 1:
            later = {id(call) for call in calls[1:]}
            choice.message.parts = [p for p in choice.message.parts if id(p) not in later]
    return response


async def first_call_events(batches: AsyncIterator[list[ir.StreamEvent]]) -> AsyncIterator[list[ir.StreamEvent]]:
    first: dict[int, int] = {}  # by choice, the index of its first call
    async for batch in batches:
        kept = [event for event in batch if not isinstance(event, ir.ToolCallDelta)
                or first.setdefault(event.choice, event.index) == event.index]
        if kept:
            yield kept
