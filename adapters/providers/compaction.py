"""Compaction for upstreams that cannot compact themselves: Responses `context_management`
compaction and Anthropic's `compact_20260112` edit (`context.py` decides when it runs).

When the conversation's estimated size passes the client's threshold (`compact_threshold`, or the
edit's `trigger`), the gateway asks the same model for a summary of the earlier turns, following
the edit's `instructions` where given, and sends the summary in their place. The system prompt and
the current turn (from the last user message on, so a tool loop in progress stays whole) are kept
as they are. Anthropic's `pause_after_compaction`, which hands the summary back to the client
instead of answering, has no equivalent here and is refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from interlingua.adapters import ir
from interlingua.adapters.providers.asking import ask
from interlingua.adapters.providers.tokens import estimate_tokens

if TYPE_CHECKING:
    from interlingua.adapters.providers.base import Provider

INSTRUCTION = (
    "Summarise the conversation below for the assistant that will continue it. Keep every fact, "
    "decision, file name, identifier, number and open task it will need; drop pleasantries. "
    "Answer with the summary only."
)
SUMMARY_TOKENS = 2048
SUMMARY_NOTE = "Summary of the earlier conversation (compacted by the gateway):"


def _transcript(messages: list[ir.Message]) -> str:
    lines: list[str] = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, ir.Text) and part.text:
                lines.append(f"{message.role}: {part.text}")
            elif isinstance(part, ir.ToolCall):
                lines.append(f"{message.role} called {part.name}({part.arguments})")
            elif isinstance(part, ir.ToolResult):
                text = "".join(p.text for p in part.content if isinstance(p, ir.Text))
                lines.append(f"tool result for {part.call_id}: {text}")
    return "\n".join(lines)


async def compact(request: ir.ChatRequest, compaction: ir.Compaction, provider: Provider, model: str
                  ) -> ir.ChatRequest:
    """`request` with its earlier turns summarised, when it is longer than the threshold."""
    if compaction.pause:
        error = ir.invalid("context_management.edits.pause_after_compaction",
                           f"is only supported by an Anthropic upstream; {provider.name} is not one")
        error.retryable = True  # the next target of an alias may be one
        raise error
    if estimate_tokens(request) <= compaction.threshold:
        return request
    system = [m for m in request.messages if m.role in ("system", "developer")]
    rest = [m for m in request.messages if m.role not in ("system", "developer")]
    last_user = max((i for i, m in enumerate(rest) if m.role == "user"), default=0)
    earlier, current = rest[:last_user], rest[last_user:]
    if not earlier:
        return request
    summary, _ = await summarise(provider, model, earlier, compaction.instructions)
    return replace(request, messages=[*system, summary_message(summary), *current])


async def summarise(provider: Provider, model: str, messages: list[ir.Message], instructions: str | None = None
                    ) -> tuple[str, ir.Usage | None]:
    """A summary of `messages` by `model`, for the assistant that continues the conversation."""
    instruction = f"{INSTRUCTION}\n{instructions}" if instructions else INSTRUCTION
    return await ask(provider, model, instruction, _transcript(messages), max_tokens=SUMMARY_TOKENS)


def summary_message(summary: str) -> ir.Message:
    """The user message that stands for a compacted conversation."""
    return ir.Message("user", [ir.Text(f"{SUMMARY_NOTE}\n{summary}")])
