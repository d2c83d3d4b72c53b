"""Stop sequences an upstream cannot take, emulated by the gateway.

The Responses API has no stop sequences at all, OpenAI Chat takes at most 4 and Gemini 5. Dropping
the rest would hand a client text past its stop word, so a provider sends what its upstream takes
(the first N) and cuts the answer itself at the first occurrence of any of the others: in a whole
answer, and in a stream even when the stop word is split across chunks. A stream holds back only
as many characters as the longest stop sequence minus one, so text still flows as it is made, and
the upstream stream is closed as soon as every choice has stopped. The choice then finishes as
though the upstream had stopped it: `stop_sequence` with the sequence, which each client codec
words its own way (Anthropic `stop_sequence`, OpenAI `stop`, Gemini `STOP`).

Only translated answers pass through here: a same-dialect upstream gets `stop` as the client sent it.
The gateway emulates at most `MAX_EMULATED` sequences of at most `MAX_LENGTH` characters: each text
delta is searched for each one, and the longest is held back (no client asks for more; 100,000
sequences in a 32 MB body made every delta of a long answer tens of milliseconds of the event loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from interlingua.adapters import ir
from interlingua.adapters.dialects import logprobs
from interlingua.adapters.providers.params import spelled
from interlingua.adapters.replies import Close

# How many stop sequences each upstream dialect takes (by codec name); absent means no cap that matters.
LIMITS: dict[str, int] = {"responses": 0, "openai": 4, "gemini": 5}
MAX_EMULATED = 64
MAX_LENGTH = 1000


def split(request: ir.ChatRequest, dialect: str) -> tuple[ir.ChatRequest, list[str]]:
    """`request` with only the stop sequences `dialect` takes, and the ones left to emulate; a 400
    when those are more or longer than the gateway emulates."""
    limit = LIMITS.get(dialect)
    if not request.stop or limit is None or len(request.stop) <= limit:
        return request, []
    emulated = list(request.stop[limit:])
    if len(emulated) > MAX_EMULATED or max(map(len, emulated)) > MAX_LENGTH:
        raise ir.invalid(spelled(request.dialect, "stop"), f"this model's upstream takes {limit} stop sequences "
                         f"and the gateway cuts at most {MAX_EMULATED} more, of at most {MAX_LENGTH:,} characters each")
    return replace(request, stop=request.stop[:limit] or None), emulated


def _first(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    """Where the earliest stop sequence in `text` begins, and which one (the longest at a tie)."""
    found: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop)
        if at >= 0 and (found is None or at < found[0] or (at == found[0] and len(stop) > len(found[1]))):
            found = (at, stop)
    return found


def cut_response(response: ir.ChatResponse, stops: Sequence[str]) -> ir.ChatResponse:
    """`response` with each choice's text ended before its first stop sequence, and what followed
    it (later text, tool calls) left out: the model would never have written them."""
    for choice in response.choices:
        parts = choice.message.parts
        told = 0  # the text before this part
        for i, part in enumerate(parts):
            if not isinstance(part, ir.Text):
                continue
            hit = _first(part.text, stops)
            if hit is None:
                told += len(part.text)
                continue
            part.text = part.text[:hit[0]]
            choice.logprobs = logprobs.cut(choice.logprobs, told + hit[0])
            del parts[i + 1:]
            choice.finish_reason = "stop_sequence"
            choice.extra = {**(choice.extra or {}), "stop_sequence": hit[1]}
            break
    return response


class _Choice:
    """One choice's text held back while it might still be the start of a stop sequence."""

    __slots__ = ("held", "done")

    def __init__(self) -> None:
        self.held = ""
        self.done = False


async def cut_stream(batches: AsyncIterator[list[ir.StreamEvent]], stops: Sequence[str], choices: int,
                     close: Close, input_tokens: int = 0) -> AsyncIterator[list[ir.StreamEvent]]:
    """The stream's events with each choice's text cut at its first stop sequence; the upstream is
    closed once all `choices` have stopped there, since nothing it sends later can reach the client.
    Its usage report never comes then, so the client and the ledger get an estimate instead
    (`input_tokens`, and about one output token per text event)."""
    keep = max(len(s) for s in stops) - 1
    state: dict[int, _Choice] = {}
    stopped = texts = 0
    usage_seen = False
    async for batch in batches:
        out: list[ir.StreamEvent] = []
        for event in batch:
            index = getattr(event, "choice", None)
            if index is None:  # the start and usage concern every choice
                usage_seen = usage_seen or isinstance(event, ir.UsageReport)
                out.append(event)
                continue
            texts += isinstance(event, ir.TextDelta)
            held = state.setdefault(index, _Choice())
            if held.done:
                continue
            if not isinstance(event, ir.TextDelta):
                if held.held:
                    out.append(ir.TextDelta(held.held, index))
                    held.held = ""
                out.append(event)
                continue
            text = held.held + event.text
            hit = _first(text, stops)
            if hit is not None:
                if hit[0]:
                    out.append(ir.TextDelta(text[:hit[0]], index,
                                            logprobs.cut(event.logprobs, hit[0] - len(held.held))))
                out.append(ir.Finish("stop_sequence", index, hit[1]))
                held.held, held.done = "", True
                stopped += 1
                continue
            cut = len(text) - keep if keep else len(text)
            if cut > 0:
                out.append(ir.TextDelta(text[:cut], index, event.logprobs))
            held.held = text[max(cut, 0):]
        if stopped >= choices:
            finish = getattr(batches, "aclose", None)  # the decoding generators, left mid-stream
            if finish is not None:
                await finish()
            await close()
            if not usage_seen:
                out.append(ir.UsageReport(ir.Usage(input_tokens=input_tokens, output_tokens=texts, estimated=True)))
            yield out
            return
        if out:
            yield out
    rest: list[ir.StreamEvent] = [ir.TextDelta(c.held, i) for i, c in state.items() if c.held and not c.done]
    if rest:
        yield rest
