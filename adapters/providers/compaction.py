"""Responses `context_management` compaction for upstreams that cannot compact themselves.

A Responses upstream gets the client's `context_management` as sent and compacts on its own. For
any other upstream, when the conversation's estimated size passes `compact_threshold`, the gateway
asks the same model for a summary of the earlier turns and sends the summary in their place. The
system prompt and the current turn (from the last user message on, so a tool loop in progress
stays whole) are kept as they are.
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


def threshold(request: ir.ChatRequest) -> int | None:
    """The compaction threshold a Responses client asked for, if any."""
    entries = (request.native or {}).get("context_management") or ()
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("type") == "compaction":
            value = entry.get("compact_threshold")
            return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


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


async def compact(request: ir.ChatRequest, provider: Provider, model: str) -> ir.ChatRequest:
    """`request` with its earlier turns summarised, when it asked for compaction and is too long."""
    limit = threshold(request)
    if limit is None or provider.codec.name == request.dialect or estimate_tokens(request) <= limit:
        return request
    system = [m for m in request.messages if m.role in ("system", "developer")]
    rest = [m for m in request.messages if m.role not in ("system", "developer")]
    last_user = max((i for i, m in enumerate(rest) if m.role == "user"), default=0)
    earlier, current = rest[:last_user], rest[last_user:]
    if not earlier:
        return request
    summary, _ = await ask(provider, model, INSTRUCTION, _transcript(earlier), max_tokens=SUMMARY_TOKENS)
    note = ir.Message("user", [ir.Text(f"Summary of the earlier conversation (compacted by the gateway):\n{summary}")])
    return replace(request, messages=[*system, note, *current])
