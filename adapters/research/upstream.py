"""Upstream research models, read into the research answer: Perplexity's deep research model
(Chat Completions with `citations` and `search_results`) and OpenAI's deep research models (the
Responses API with web search, whose citations are `url_citation` annotations on the text).

Both answer whole; a client that asked for a stream gets the same events as from the gateway's
own agent (`delta` with the whole report, then `done`), so it reads one protocol whatever model
answers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.replies import Events, Reply, Result

_THINKING = re.compile(r"<think>.*?</think>\s*", re.S)  # Perplexity's reasoning models show their thoughts


def answer(report: ir.ResearchReport, stream: bool) -> Reply:
    """A whole report as the reply the client asked for."""
    if not stream:
        return Result(report)
    events = _replay(report)
    return Events(events, events.aclose)


async def _replay(report: ir.ResearchReport) -> AsyncGenerator[list[ir.StreamEvent], None]:
    sources = [{"url": s.url, "title": s.title} for s in report.sources]
    yield [ir.Progress("delta", {"text": report.content}),
           ir.Progress("done", {"content": report.content, "sources": sources})]
    if report.usage is not None:
        yield [ir.UsageReport(report.usage)]


def perplexity_report(payload: Any) -> ir.ResearchReport | None:
    """Perplexity's chat completion: the text cites `[n]`, meaning `citations[n - 1]`; titles come
    from `search_results` where a result has the cited URL. None when it is not that shape."""
    choices = payload.get("choices") if isinstance(payload, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) \
        else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        return None
    titles = {r["url"]: r.get("title") or r["url"] for r in payload.get("search_results") or []
              if isinstance(r, dict) and isinstance(r.get("url"), str)}
    citations = [c for c in payload.get("citations") or [] if isinstance(c, str)]
    usage = f.sub(payload, "usage")
    return ir.ResearchReport(_THINKING.sub("", content), [ir.Source(url, titles.get(url, url)) for url in citations],
                             ir.Usage(input_tokens=f.count(usage, "prompt_tokens"),
                                      output_tokens=f.count(usage, "completion_tokens"),
                                      reasoning_tokens=f.count(usage, "reasoning_tokens")))


def responses_report(payload: Any) -> ir.ResearchReport | None:
    """An OpenAI Responses answer: the text of its message items, each `url_citation` annotation
    marked `[n]` after the span it covers, `n` numbering the cited URLs in order of first citation."""
    if not isinstance(payload, dict) or not isinstance(payload.get("output"), list):
        return None
    output: list[Any] = payload["output"]
    sources: dict[str, ir.Source] = {}
    texts: list[str] = []
    for item in output:
        if not isinstance(item, dict) or item.get("type") != "message":
            continue
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                texts.append(_cited(part["text"], part.get("annotations") or [], sources))
    usage = f.sub(payload, "usage")
    return ir.ResearchReport("\n\n".join(texts), list(sources.values()),
                             ir.Usage(input_tokens=f.count(usage, "input_tokens"),
                                      output_tokens=f.count(usage, "output_tokens"),
                                      reasoning_tokens=f.count(f.sub(usage, "output_tokens_details"),
                                                               "reasoning_tokens")))


def _cited(text: str, annotations: list[Any], sources: dict[str, ir.Source]) -> str:
    marks: list[tuple[int, int]] = []
    for note in annotations:
        if not isinstance(note, dict) or note.get("type") != "url_citation" or not isinstance(note.get("url"), str):
            continue
        url = note["url"]
        if url not in sources:
            sources[url] = ir.Source(url, str(note.get("title") or url))
        end = note.get("end_index")
        if isinstance(end, int) and 0 <= end <= len(text):
            marks.append((end, list(sources).index(url) + 1))
    for end, number in sorted(marks, reverse=True):
        text = f"{text[:end]} [{number}]{text[end:]}"
    return text
