"""Which client dialects carry reasoning state, and moving that state in and out of their slot.

Answers: when the client's slot belongs to another vendor than the upstream, each piece of the
upstream's opaque reasoning (a signature, redacted thinking) becomes a sealed value (`seal.py`)
labelled as the client's own, which its codec then writes into the slot like any other. Requests:
a sealed value is opened and given back to the kind that made it, or dropped when it was made for
another kind or does not open; a vendor's own values are left alone (each upstream codec sends a
provider only the state labelled with its own name). Only parts with state are touched, so a
conversation without reasoning costs a scan of its parts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from interlingua.adapters import ir
from interlingua.adapters.dialects import citations, web_search
from interlingua.adapters.providers.compaction import summary_message
from interlingua.adapters.providers.seal import Seal, appears_in, is_sealed

#: The client dialects with a reasoning slot (`ChatRequest.dialect`), and the provider name their
#: codecs give the state in it. Chat Completions has none: the reasoning store serves it.
SLOTS = {"anthropic": "anthropic", "gemini": "gemini", "responses": "openai"}


COMPACTION = "compaction"  # the kind a compacted conversation's summary is sealed as


def slot_of(dialect: str) -> str | None:
    return SLOTS.get(dialect)


def seal_parts(parts: list[ir.Part], seal: Seal | None, kind: str, label: str, with_text: bool) -> None:
    """Seal, in place, every reasoning part of `parts` that holds `kind`'s state; without a seal,
    the state is left out (the client keeps the text)."""
    if label == kind:
        return  # the upstream's decoder labelled its own state already
    for i, part in enumerate(parts):
        if isinstance(part, ir.Reasoning) and (part.signature or part.redacted):
            value = seal.close(kind, part, with_text) if seal is not None else None
            parts[i] = ir.Reasoning(text=part.text, signature=value, provider=label if value else None,
                                    model=part.model, extra=part.extra)
    parts[:] = [p for p in parts if not isinstance(p, ir.Reasoning) or p.text or p.signature]


async def sealing(batches: AsyncIterator[list[ir.StreamEvent]], seal: Seal | None, kind: str, label: str,
                  with_text: bool) -> AsyncIterator[list[ir.StreamEvent]]:
    """The stream with each signature or redacted block replaced by its sealed value, labelled for
    the client's slot. A signature ends the reasoning it signs (Anthropic's `signature_delta`
    closes a thinking block), so the text since the previous one is what it covers. When the
    client's slot is the upstream's own (a same-dialect request sent translated), state is only
    labelled."""
    texts: dict[int, list[str]] = {}
    async for batch in batches:
        for i, event in enumerate(batch):
            if not isinstance(event, ir.ReasoningDelta):
                continue
            if not (event.signature or event.redacted):
                texts.setdefault(event.choice, []).append(event.text)
                continue
            covered = "".join(texts.pop(event.choice, ())) + event.text
            if label == kind:
                batch[i] = replace(event, provider=label)
                continue
            state = ir.Reasoning(text=covered, signature=event.signature, redacted=event.redacted)
            value = seal.close(kind, state, with_text) if seal is not None else None
            batch[i] = ir.ReasoningDelta(text=event.text, signature=value, choice=event.choice,
                                         provider=label if value else None)
        yield batch


def has_sealed(request: ir.ChatRequest) -> bool:
    if request.raw is not None and not appears_in(request.raw):  # a fortieth of decoding the messages
        return False
    return any((isinstance(p, ir.Reasoning) and is_sealed(p.signature)) or sealed_compaction(p)
               or _written_here(p) for m in request.messages for p in m.parts)


def _written_here(part: ir.Part) -> bool:
    """Whether `part` is what the gateway wrote in Anthropic's words for another upstream's search
    (a pair of blocks, a text's citations), which Claude cannot take back."""
    return web_search.made_here(part) or citations.marked(part)


def sealed_compaction(part: ir.Part) -> bool:
    """Whether `part` is a Responses compaction item this gateway made (`Provider.compact`)."""
    if not isinstance(part, ir.Opaque) or not isinstance(part.data, dict) or part.data.get("type") != "compaction":
        return False
    state = part.data.get("encrypted_content")
    return isinstance(state, str) and is_sealed(state)


def open_message(message: ir.Message, seal: Seal, kind: str) -> ir.Message:
    """`message` with its sealed reasoning given back to `kind` where `kind` made it, and left
    as plain text (or left out) where it did not open or was made for another kind; a compacted
    conversation the gateway sealed becomes its summary, for any kind; a web search the gateway
    wrote in Anthropic's blocks becomes what it found, in text (`web_search.settled`), and the
    citations it wrote are left out."""
    if message.role == "user":
        return _open_compaction(message, seal)
    if message.role != "assistant" or not any(
            isinstance(p, ir.Reasoning) and is_sealed(p.signature) or _written_here(p) for p in message.parts):
        return message
    parts: list[ir.Part] = []
    for part in web_search.settled(message.parts):
        if not isinstance(part, ir.Reasoning) or not is_sealed(part.signature):
            parts.append(citations.unmarked(part) if isinstance(part, ir.Text) and citations.marked(part) else part)
            continue
        opened = seal.open(part.signature or "")
        if opened is not None and opened.provider == kind:
            opened.text = opened.text or part.text
            parts.append(opened)
        elif part.text:
            parts.append(ir.Reasoning(text=part.text))
    return replace(message, parts=parts)


def _open_compaction(message: ir.Message, seal: Seal) -> ir.Message:
    if not any(sealed_compaction(p) for p in message.parts):
        return message
    parts: list[ir.Part] = []
    for part in message.parts:
        if not isinstance(part, ir.Opaque) or not sealed_compaction(part):
            parts.append(part)
            continue
        opened = seal.open(part.data["encrypted_content"])  # one that does not open is left out
        if opened is not None and opened.provider == COMPACTION:
            parts.extend(summary_message(opened.text).parts)
    return replace(message, parts=parts)
