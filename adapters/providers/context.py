"""Context management that an upstream's own API would not do, done by the gateway: one engine for
Anthropic's context edits and Responses truncation and compaction, whatever the upstream.

An upstream that gets the client's own body (`Provider.is_native`) gets `context_management` and
`truncation` as sent and does the work itself. For every other request the gateway applies them
before encoding, on a new IR request (the client's stays as it came: a fallback target may need
it), in this order:

1. Anthropic's edits, in the client's order, as Anthropic documents them.
   `clear_tool_uses_20250919`: once the estimate passes `trigger` (input tokens, or a count of tool
   uses), the results of all but the last `keep` tool uses become `PLACEHOLDER`, oldest first,
   leaving out the uses of `exclude_tools`; with `clear_tool_inputs` the cleared calls' arguments
   become `{}` too. Nothing is cleared when that would free fewer than `clear_at_least` tokens.
   Every call keeps its result, so call/result pairing stays valid on every upstream.
   `clear_thinking_20251015`: the reasoning of all but the last `keep` assistant turns that have
   any is removed (a message left empty goes with it). A turn is everything the assistant said
   between two user messages, so a tool loop, with its interleaved thinking, is one turn.
   What was cleared is reported as Anthropic reports it (`ir.AppliedEdit`, `reporting`).
2. Responses `truncation: "auto"`: the oldest whole turns (a user message and all that follows up
   to the next one, so a call never loses its output) are dropped until the estimate fits the
   model's context window less the requested output; system and developer messages and the last
   user turn always stay. With `disabled`, a request too long gets the upstream's own error.
3. Compaction (Responses `compaction`, Anthropic's `compact_20260112`): `compaction.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

from interlingua.adapters import ir
from interlingua.adapters.providers.compaction import compact
from interlingua.adapters.providers.tokens import estimate_message, estimate_parts, estimate_text, estimate_tokens

if TYPE_CHECKING:
    from interlingua.adapters.providers.base import Provider

PLACEHOLDER = "[Tool result cleared to save context]"
EMPTY_INPUT = "{}"

# Context windows by model family, longest prefix first; `context_window` in a provider's config
# overrides them per model. A model of no known family gets `DEFAULT_WINDOW`.
WINDOWS = (
    ("gpt-4.1", 1_047_576), ("gpt-5", 400_000), ("gpt-4o", 128_000), ("gpt-4-turbo", 128_000),
    ("gpt-4", 8_192), ("gpt-3.5-turbo", 16_385), ("o1", 200_000), ("o3", 200_000), ("o4", 200_000),
    ("claude", 200_000), ("gemini", 1_048_576),
)
DEFAULT_WINDOW = 128_000


def default_window(model: str) -> int:
    """The context window of `model`'s family (the README lists them)."""
    name = model.rsplit("/", 1)[-1].lower()
    return next((size for prefix, size in WINDOWS if name.startswith(prefix)), DEFAULT_WINDOW)


async def manage(request: ir.ChatRequest, provider: Provider, model: str
                 ) -> tuple[ir.ChatRequest, list[ir.AppliedEdit] | None]:
    """`request` as the upstream should read it, and the edits to report (None when the client
    asked for none, or the upstream does them itself)."""
    context = request.context
    if context is None or provider.is_native(request):
        return request, None
    applied: list[ir.AppliedEdit] = []
    messages = request.messages
    for edit in context.edits:
        if isinstance(edit, ir.ClearThinking):
            messages, done = _clear_thinking(messages, edit, request.model)
        else:
            messages, done = _clear_tool_uses(messages, edit, request)
        if done is not None:
            applied.append(done)
    if messages is not request.messages:
        request = replace(request, messages=messages)
    if context.truncate:
        request = truncate(request, provider.context_window(model))
    if context.compaction is not None:
        request = await compact(request, context.compaction, provider, model)
    return request, applied if context.edits else None


async def reporting(batches: AsyncIterator[list[ir.StreamEvent]], applied: list[ir.AppliedEdit]
                    ) -> AsyncIterator[list[ir.StreamEvent]]:
    """The stream with the applied edits first, for an encoder that reports them."""
    first = True
    async for batch in batches:
        if first:
            batch = [ir.EditsApplied(applied), *batch]
            first = False
        yield batch


def _clear_tool_uses(messages: list[ir.Message], edit: ir.ClearToolUses, request: ir.ChatRequest
                     ) -> tuple[list[ir.Message], ir.AppliedEdit | None]:
    calls = [p for m in messages if m.role == "assistant" for p in m.parts if isinstance(p, ir.ToolCall)]
    kind, value = edit.trigger
    used = len(calls) if kind == "tool_uses" else estimate_tokens(replace(request, messages=messages))
    if used <= value:
        return messages, None
    older = calls[:max(len(calls) - edit.keep, 0)]
    cleared = {call.id for call in older if call.name not in edit.exclude_tools}
    inputs = {call.id for call in older if call.id in cleared and (
        edit.clear_inputs is True or isinstance(edit.clear_inputs, tuple) and call.name in edit.clear_inputs)}
    model, freed, touched = request.model, 0, set()
    out: list[ir.Message] = []
    for message in messages:
        parts: list[ir.Part] | None = None
        for i, part in enumerate(message.parts):
            new: ir.Part = part
            if isinstance(part, ir.ToolResult) and part.call_id in cleared:
                new = replace(part, content=[ir.Text(PLACEHOLDER)])
                freed += estimate_parts(model, part.content) - estimate_text(model, PLACEHOLDER)
                touched.add(part.call_id)
            elif isinstance(part, ir.ToolCall) and part.id in inputs and part.arguments != EMPTY_INPUT:
                new = replace(part, arguments=EMPTY_INPUT)
                freed += estimate_text(model, part.arguments) - estimate_text(model, EMPTY_INPUT)
                touched.add(part.id)
            if new is not part:
                parts = parts if parts is not None else list(message.parts)
                parts[i] = new
        out.append(message if parts is None else replace(message, parts=parts))
    if not touched or freed < edit.clear_at_least:
        return messages, None
    return out, ir.AppliedEdit("clear_tool_uses_20250919", len(touched), max(freed, 0))


def _clear_thinking(messages: list[ir.Message], edit: ir.ClearThinking, model: str
                    ) -> tuple[list[ir.Message], ir.AppliedEdit | None]:
    if edit.keep is None:
        return messages, None
    turn, turns = 0, [0] * len(messages)  # a turn runs from a user message to the next: a tool loop is one
    thinking: list[int] = []
    for i, message in enumerate(messages):
        turn += message.role == "user"
        turns[i] = turn
        if message.role == "assistant" and any(isinstance(p, ir.Reasoning) for p in message.parts):
            if not thinking or thinking[-1] != turn:
                thinking.append(turn)
    if len(thinking) <= edit.keep:
        return messages, None
    dropped = set(thinking[:len(thinking) - edit.keep])
    freed = 0
    out: list[ir.Message] = []
    for message, turn in zip(messages, turns, strict=True):
        if message.role != "assistant" or turn not in dropped:
            out.append(message)
            continue
        freed += estimate_parts(model, [p for p in message.parts if isinstance(p, ir.Reasoning)])
        rest: list[ir.Part] = [p for p in message.parts if not isinstance(p, ir.Reasoning)]
        if rest:
            out.append(message if len(rest) == len(message.parts) else replace(message, parts=rest))
    return out, ir.AppliedEdit("clear_thinking_20251015", len(dropped), freed)


def truncate(request: ir.ChatRequest, window: int) -> ir.ChatRequest:
    """`request` without its oldest turns, until it fits `window` less the requested output."""
    budget = window - (request.max_tokens or 0)
    size = estimate_tokens(request)
    if size <= budget:
        return request
    last = max((i for i, m in enumerate(request.messages) if m.role == "user"), default=0)
    dropped: set[int] = set()
    for i, message in enumerate(request.messages[:last]):
        if size <= budget and message.role == "user":
            break  # a turn is dropped whole, from its user message on
        if message.role not in ("system", "developer"):
            size -= estimate_message(request.model, message)
            dropped.add(i)
    if not dropped:
        return request
    return replace(request, messages=[m for i, m in enumerate(request.messages) if i not in dropped])
