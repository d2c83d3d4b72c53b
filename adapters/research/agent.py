"""The gateway's own research agent: plan queries, search, read the most promising pages, take
notes, decide whether to search again, then write a Markdown report that cites numbered sources.

The agent is only the loop. What it asks of the world comes in as four callables (`Tools`): a
chat model asked for JSON (`ask`), the same model streaming the report (`write`), a search
(`search`) and a page reader (`read`), so that it runs the same behind any chat upstream, any
search backend and the shared fetcher, and tests can drive it with fakes over real sockets.

Each step is reported as it happens (`ir.Progress`: `query`, `source`, `note`, then the report
as `delta` pieces and `done` with the whole answer), followed by one `ir.UsageReport` holding the
tokens of every model call, so the ledger records the request as one row. Bounded by `Settings`:
rounds of searching, pages read, tokens spent (no new round starts past it) and wall time (a
step still running at the deadline is cancelled, and the report is written from what was found).
Cancelling the generator (a client that left) cancels the step in flight, and with it the
upstream request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from interlingua.adapters import ir

T = TypeVar("T")

PAGE_CHARS = 6000  # of a page's text shown to the model
PAGES_PER_ROUND = 3
HITS_PER_QUERY = 5

PLAN = ("You plan web research. Reply with JSON only, no prose: {\"queries\": [\"...\"]}, at most three "
        "web search queries that together cover the question.")
READ = ("You read web pages for a research question and take notes. Reply with JSON only, no prose: "
        "{\"notes\": [{\"source\": <the page's number>, \"text\": \"<one fact from that page that helps answer>\"}], "
        "\"done\": <true when the notes so far answer the question>, \"queries\": [\"<new search queries when not "
        "done>\"]}.")
WRITE = ("Write a concise Markdown report that answers the question from the notes. After every claim cite its "
         "source as [n], using only the numbered sources given. Do not list the sources at the end.")


@dataclass(slots=True, frozen=True)
class Settings:
    """Which models the agent uses and how far it may go; config `[providers.<name>]` of type research."""

    chat: str  # the chat model (any routable name) that plans, reads and writes
    search: str = "search"  # the search provider or alias; `search` is every one configured
    max_rounds: int = 3
    max_pages: int = 8
    max_tokens: int = 60_000
    max_seconds: float = 120.0
    fetch_allow: tuple[str, ...] = ()  # hosts or networks the page fetcher may reach although not public


@dataclass(slots=True)
class Tools:
    ask: Callable[[str, str], Awaitable[tuple[str, ir.Usage | None]]]  # (system, user) -> JSON text, usage
    write: Callable[[str, str], AsyncIterator[str | ir.Usage]]  # (system, user) -> text pieces, then usage
    search: Callable[[str, int], Awaitable[list[ir.SearchHit]]]  # (query, limit) -> hits, best first
    read: Callable[[str], Awaitable[str]]  # url -> the page's text


@dataclass(slots=True)
class _Run:
    question: str
    settings: Settings
    deadline: float
    usage: ir.Usage = field(default_factory=ir.Usage)
    sources: list[ir.Source] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    @property
    def spent(self) -> bool:
        return (self.usage.total_tokens >= self.settings.max_tokens
                or asyncio.get_running_loop().time() >= self.deadline)


async def research(question: str, settings: Settings, tools: Tools
                   ) -> AsyncGenerator[ir.Progress | ir.UsageReport, None]:
    """Run the agent, yielding its progress, the report and finally the usage of every model call."""
    run = _Run(question, settings, asyncio.get_running_loop().time() + settings.max_seconds)
    plan, usage = await _within(run, tools.ask(PLAN, question)) or ("", None)
    run.usage.add(usage)
    queries = _strings(_json(plan).get("queries"))[:3] or [question]
    for round_number in range(1, settings.max_rounds + 1):
        hits: list[list[ir.SearchHit]] = []
        for query in queries:
            if run.spent:
                break
            yield ir.Progress("query", {"query": query, "round": round_number})
            hits.append(await _within(run, tools.search(query, HITS_PER_QUERY)) or [])
        pages: list[tuple[int, str]] = []
        for hit in _most_promising(hits, run, min(PAGES_PER_ROUND, settings.max_pages - len(run.sources))):
            if run.spent:
                break
            try:
                text = await _within(run, tools.read(hit.source))
            except ir.GatewayError:
                continue  # a page that cannot be read is no source
            if text is None:
                break
            run.sources.append(ir.Source(hit.source, hit.title or hit.source))
            number = len(run.sources)
            yield ir.Progress("source", {"n": number, "url": hit.source, "title": hit.title})
            pages.append((number, text[:PAGE_CHARS]))
        if not pages:
            break
        reply, usage = await _within(run, tools.ask(READ, _reading(question, run, pages))) or ("", None)
        run.usage.add(usage)
        verdict = _json(reply)
        for note in verdict.get("notes") or []:
            if isinstance(note, dict) and isinstance(note.get("text"), str) and note.get("source") in range(
                    1, len(run.sources) + 1):
                run.notes.append((note["source"], note["text"]))
                yield ir.Progress("note", {"source": note["source"], "text": note["text"]})
        queries = _strings(verdict.get("queries"))[:3]
        if verdict.get("done") is not False or not queries or run.spent or len(run.sources) >= settings.max_pages:
            break
    content: list[str] = []
    async for piece in tools.write(WRITE, _writing(question, run)):
        if isinstance(piece, ir.Usage):
            run.usage.add(piece)
        else:
            content.append(piece)
            yield ir.Progress("delta", {"text": piece})
    report = ir.ResearchReport("".join(content), run.sources)
    yield ir.Progress("done", {"content": report.content, "sources": [{"url": s.url, "title": s.title}
                                                                       for s in report.sources]})
    yield ir.UsageReport(run.usage)


async def report_of(events: AsyncIterator[ir.Progress | ir.UsageReport]) -> ir.ResearchReport:
    """The whole answer of a run: its `done` event, with the usage that follows it."""
    report = ir.ResearchReport("", [])
    async for event in events:
        if isinstance(event, ir.Progress) and event.name == "done":
            report = ir.ResearchReport(event.data["content"], [ir.Source(**s) for s in event.data["sources"]])
        elif isinstance(event, ir.UsageReport):
            report.usage = event.usage
    return report


async def _within(run: _Run, step: Awaitable[T]) -> T | None:
    """`step`'s result, or None when the run's time is up before it ends (the step is cancelled)."""
    try:
        async with asyncio.timeout_at(run.deadline):
            return await step
    except TimeoutError:
        return None


def _most_promising(hits: list[list[ir.SearchHit]], run: _Run, count: int) -> list[ir.SearchHit]:
    """Unread pages, the best of each query first, then the second best of each, and so on."""
    chosen: list[ir.SearchHit] = []
    for rank in range(max((len(h) for h in hits), default=0)):
        for found in hits:
            if len(chosen) >= count:
                return chosen
            if rank < len(found) and found[rank].source not in run.seen:
                run.seen.add(found[rank].source)
                chosen.append(found[rank])
    return chosen


def _reading(question: str, run: _Run, pages: list[tuple[int, str]]) -> str:
    known = "".join(f"- [{n}] {text}\n" for n, text in run.notes)
    shown = "".join(f"\n[{n}] {run.sources[n - 1].title} ({run.sources[n - 1].url})\n{text}\n" for n, text in pages)
    return f"Question: {question}\n\nNotes so far:\n{known or '(none)'}\nPages:{shown}"


def _writing(question: str, run: _Run) -> str:
    sources = "".join(f"[{i}] {s.title} ({s.url})\n" for i, s in enumerate(run.sources, 1))
    notes = "".join(f"- [{n}] {text}\n" for n, text in run.notes)
    return f"Question: {question}\n\nSources:\n{sources or '(none found)'}\nNotes:\n{notes or '(none)'}"


def _json(text: str) -> dict[str, Any]:
    """The JSON object in a model's reply, code fences or a sentence around it allowed; {} if none."""
    start, end = text.find("{"), text.rfind("}")
    try:
        found = orjson.loads(text[start:end + 1]) if 0 <= start < end else None
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _strings(value: Any) -> list[str]:
    return [v.strip() for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []
