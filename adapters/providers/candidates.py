"""Several choices (Chat's `n`, Gemini's `candidateCount`) from an upstream that answers one at a
time (Anthropic, Responses): as many requests at once, their answers the choices of one.

Each request is billed by the upstream, its input included, so the usage the client and the ledger
see is their sum: what was spent, not what one request with `n` would have cost. Streamed, the
answers' events go out as they come, each under its own choice, the usage summed at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

from interlingua.adapters import ir
from interlingua.adapters.replies import Events, Reply, Result

EMULATED = frozenset({"anthropic", "responses"})  # the upstream dialects with no such field
MAX = 8  # choices asked for at once, as Gemini allows at most


def wanted(request: ir.ChatRequest, upstream: str) -> int:
    """The choices to ask for one at a time; 1 where the upstream gives them itself."""
    n = request.n or 1
    if n <= 1 or upstream not in EMULATED:
        return 1
    if n > MAX:
        error = ir.invalid(_FIELD.get(request.dialect, "n"), f"must be at most {MAX} for a model whose upstream "
                                                             "answers one choice at a time")
        error.retryable = True  # the next target of an alias may give them itself
        raise error
    return n


_FIELD = {"gemini": "generationConfig.candidateCount"}
# The events of a choice.
_CHOSEN = (ir.TextDelta, ir.CitationDelta, ir.RefusalDelta, ir.ReasoningDelta, ir.ToolCallDelta, ir.Finish)


async def gather(ask: Callable[[], Awaitable[Reply]], n: int) -> Reply:
    """`n` answers of `ask` as one: whole, or streamed."""
    replies = await asyncio.gather(*(ask() for _ in range(n)), return_exceptions=True)
    failed = next((r for r in replies if isinstance(r, BaseException)), None)
    if failed is not None:
        for reply in replies:
            if isinstance(reply, Events):
                await reply.close()
        raise failed
    if all(isinstance(r, Result) for r in replies):
        return Result(_merged([r.result for r in replies]))  # type: ignore[union-attr]  # Results, checked above
    streams = [r for r in replies if isinstance(r, Events)]

    async def close() -> None:
        for stream in streams:
            await stream.close()

    return Events(_interleaved([s.events for s in streams]), close)


def _merged(answers: list[ir.ChatResponse]) -> ir.ChatResponse:
    total = ir.Usage()
    for answer in answers:
        total.add(answer.usage)
    choices = [dataclasses.replace(a.choices[0], index=i) for i, a in enumerate(answers) if a.choices]
    return dataclasses.replace(answers[0], choices=choices, usage=total)


async def _interleaved(streams: list[AsyncIterator[list[ir.StreamEvent]]]) -> AsyncIterator[list[ir.StreamEvent]]:
    """The streams' events as they come, the i-th stream's as choice i; what every stream opens with
    (the start, the context edits) once, blocks of no choice from the first, the usage summed at the
    end."""
    queue: asyncio.Queue[tuple[int, list[ir.StreamEvent] | BaseException | None]] = asyncio.Queue()

    async def pump(i: int, stream: AsyncIterator[list[ir.StreamEvent]]) -> None:
        try:
            async for batch in stream:
                await queue.put((i, batch))
            await queue.put((i, None))
        except Exception as error:  # noqa: BLE001  # raised again where the events are read
            await queue.put((i, error))

    pumps = [asyncio.create_task(pump(i, stream)) for i, stream in enumerate(streams)]
    total = ir.Usage()
    reported = False
    opened: set[type] = set()  # the kinds of opening event passed on, each once
    running = len(streams)
    try:
        while running:
            i, batch = await queue.get()
            if batch is None:
                running -= 1
                continue
            if isinstance(batch, BaseException):
                raise batch
            out: list[ir.StreamEvent] = []
            for event in batch:
                if isinstance(event, ir.UsageReport):
                    total.add(event.usage)
                    reported = True
                elif isinstance(event, ir.StreamStart | ir.EditsApplied):
                    if type(event) not in opened:
                        opened.add(type(event))
                        out.append(event)
                elif isinstance(event, _CHOSEN):
                    event.choice = i  # each stream's own events, made for it
                    out.append(event)
                elif i == 0:
                    out.append(event)
            if out:
                yield out
        if reported:
            yield [ir.UsageReport(total)]
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
