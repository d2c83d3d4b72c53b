"""`/v1/research` with the gateway's own agent, through real sockets: a fake OpenAI-compatible chat
model scripted with the agent's three calls (plan, read, write), a fake SearXNG whose results
point at pages that a real local HTTP server serves, fetched and read by the shared fetcher and
document reader. Streamed (named SSE events) and whole; one ledger row with every call's tokens;
a client that leaves stops the work and its upstream stream; the page bound holds. And the upstream
research models, Perplexity's and OpenAI's deep research, passed through with their citations."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web

from tests.asgi import run
from tests.fakes import openai_upstream as fo
from tests.fakes.research_upstream import CITATIONS, FakeResearchModels
from tests.fakes.search_upstream import FakeSearch
from tests.harness import gateway, provider
from tests.support import serving, sse_events

QUESTION = "How does asyncio schedule coroutines?"
PLAN = '{"queries": ["asyncio event loop scheduling"]}'
READ = ('```json\n{"notes": [{"source": 1, "text": "The event loop runs one callback at a time."}, '
        '{"source": 2, "text": "Tasks wrap coroutines and are scheduled on the loop."}], "done": true}\n```')
REPORT = ("Asyncio runs a single event loop that executes one callback at a time [1]. ",
          "Coroutines are wrapped in tasks, which the loop schedules [2].")


@asynccontextmanager
async def pages() -> AsyncIterator[str]:
    """A real web server on 127.0.0.1 with two HTML pages, as a site would serve them, and a 404."""
    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "missing":
            raise web.HTTPNotFound()
        body = (f"<html><head><title>{name}</title></head><body><nav>menu</nav><main><h1>{name}</h1>"
                f"<p>The {name} page explains how the asyncio event loop runs callbacks and tasks.</p></main>"
                "</body></html>")
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}.html", page)
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


@asynccontextmanager
async def setup(tmp_path: Path, **research: Any) -> AsyncIterator[tuple[str, fo.FakeOpenAI, FakeSearch]]:
    async with pages() as site, fo.FakeOpenAI() as chat, FakeSearch("searxng", [
            (f"{site}/loop.html", "Event loop", "How the loop works."),
            (f"{site}/tasks.html", "Tasks", "Coroutines and tasks."),
            (f"{site}/missing.html", "Gone", "A page that is not there.")]) as search:
        providers = {"up": provider(chat.url, "gpt-x"), "web": {"type": "searxng", "url": search.url},
                     "deep": {"type": "research", "chat": "up/gpt-x", "search": "web", "fetch_allow": ["127.0.0.1"],
                              **research}}
        async with gateway(tmp_path, providers=providers) as (_, url):
            yield url, chat, search


def test_streamed_research_reports_each_step_and_cites_sources(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with setup(tmp_path) as (url, chat, search), httpx.AsyncClient(base_url=url, timeout=30) as http:
            chat.script(fo.text(PLAN), fo.text(READ), fo.text(*REPORT))
            reply = await http.post("/v1/research", data={"input": QUESTION, "model": "deep"},
                                    headers={"accept": "text/event-stream"})
            assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
            events = sse_events(reply.content)
            names = [e.name for e in events]
            assert names == ["query", "source", "source", "note", "note", "delta", "delta", "done"], names
            assert events[0].json() == {"query": "asyncio event loop scheduling", "round": 1}
            assert [e.json()["title"] for e in events[1:3]] == ["Event loop", "Tasks"]
            assert events[3].json() == {"source": 1, "text": "The event loop runs one callback at a time."}
            assert "".join(e.json()["text"] for e in events[5:7]) == "".join(REPORT)
            done = events[-1].json()
            assert done["content"] == "".join(REPORT) and "[1]" in done["content"] and "[2]" in done["content"]
            assert [s["url"].rsplit("/", 1)[1] for s in done["sources"]] == ["loop.html", "tasks.html"]
            # What the agent asked: the plan, the reading (with the pages' extracted text), the report, streamed
            plan, reading, writing = (r.json for r in chat.requests)
            assert plan["messages"][1]["content"] == QUESTION and not plan.get("stream")
            assert "The loop page explains how the asyncio event loop" in reading["messages"][1]["content"]
            assert "menu" not in reading["messages"][1]["content"]  # the page's main text, not its navigation
            assert writing["stream"] is True and "[2] Tasks" in writing["messages"][1]["content"]
            assert search.requests[0][2]["q"] == "asyncio event loop scheduling"
        rows = sqlite3.connect(tmp_path / "usage.sqlite3").execute(
            "select operation, upstream, status, input_tokens, output_tokens from usage").fetchall()
        assert rows == [("research", "deep/agent", 200, 30, 15)]  # three calls of 10 in, 5 out: one row

    run(scenario())


def test_whole_research_answer_and_the_page_bound(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with setup(tmp_path, max_pages=1) as (url, chat, _), httpx.AsyncClient(base_url=url, timeout=30) as http:
            chat.script(fo.text(PLAN), fo.text('{"notes": [{"source": 1, "text": "One loop."}], "done": false, '
                                               '"queries": ["more"]}'), fo.text("One loop runs it all [1]."))
            reply = await http.post("/v1/research", json={"instructions": QUESTION})  # no model: the agent
            assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
            body = reply.json()
            assert body["content"] == "One loop runs it all [1]."
            assert [s["title"] for s in body["sources"]] == ["Event loop"]  # one page, then it stopped
            assert len(chat.requests) == 3
            refused = await http.post("/v1/research", json={"input": "  "})
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "input"

    run(scenario())


def test_a_client_that_leaves_stops_the_research(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with setup(tmp_path) as (url, chat, _):  # the report streams slowly: the client leaves after a piece
            chat.script(fo.text(PLAN), fo.text(READ), fo.text(*REPORT, "More.", "Even more.", chunk_delay=0.3))
            async with httpx.AsyncClient(base_url=url, timeout=30) as http, http.stream(
                    "POST", "/v1/research", json={"input": QUESTION}, headers={"accept": "text/event-stream"}) as r:
                async for line in r.aiter_lines():
                    if line == "event: delta":
                        break
            await chat.wait_for_disconnects(1, timeout=5)
        await asyncio.sleep(0.1)
        rows = sqlite3.connect(tmp_path / "usage.sqlite3").execute("select operation, status from usage").fetchall()
        assert rows == [("research", 499)]

    run(scenario())


def test_research_events_are_json(tmp_path: Path) -> None:
    """Every event's data is one line of compact JSON, as the README's transcript shows."""
    async def scenario() -> None:
        async with setup(tmp_path) as (url, chat, _), httpx.AsyncClient(base_url=url, timeout=30) as http:
            chat.script(fo.text(PLAN), fo.text(READ), fo.text(*REPORT))
            reply = await http.post("/v1/research", json={"input": QUESTION, "stream": True})
            for event in sse_events(reply.content):
                assert event.data == orjson.dumps(event.json())

    run(scenario())


def test_upstream_research_models_pass_through(tmp_path: Path) -> None:
    """Perplexity's deep research model and an OpenAI deep research model, their citations as sources."""
    async def scenario() -> None:
        async with FakeResearchModels() as up, gateway(tmp_path, providers={
                "pplx": {"type": "perplexity", "url": up.url, "key": "pplx-secret"},
                "oai": {"type": "openai", "url": up.url + "/v1", "key": "sk-upstream-secret"}}) as (_, url), \
                httpx.AsyncClient(base_url=url, timeout=30) as http:
            reply = await http.post("/v1/research", json={"input": "Where do llamas live?", "model": "pplx"})
            assert reply.json() == {"content": "Llamas live in the Andes [1], near Peru [2].", "sources": [
                {"url": CITATIONS[0], "title": "Llamas"}, {"url": CITATIONS[1], "title": CITATIONS[1]}]}
            assert up.requests[-1] == {"model": "sonar-deep-research",
                                       "messages": [{"role": "user", "content": "Where do llamas live?"}]}
            deep = await http.post("/v1/research", json={"input": "Llamas?", "model": "oai/o3-deep-research"},
                                   headers={"accept": "text/event-stream"})
            events = sse_events(deep.content)
            assert [e.name for e in events] == ["delta", "done"]
            assert events[1].json() == {
                "content": "Llamas [1] were domesticated in the Andes. [1] They carry loads. [2]",
                "sources": [{"url": CITATIONS[0], "title": "Llamas"}, {"url": CITATIONS[1], "title": "Peru"}]}
            assert up.requests[-1] == {"model": "o3-deep-research", "input": "Llamas?",
                                       "tools": [{"type": "web_search_preview"}]}
            chat_only = await http.post("/v1/research", json={"input": "x", "model": "oai/gpt-x"})
            assert chat_only.status_code == 400 and chat_only.json()["error"]["param"] == "model"
        rows = sqlite3.connect(tmp_path / "usage.sqlite3").execute(
            "select upstream, status, input_tokens, output_tokens, reasoning_tokens from usage").fetchall()
        assert rows[:2] == [("pplx/sonar-deep-research", 200, 12, 40, 20), ("oai/o3-deep-research", 200, 30, 90, 60)]

    run(scenario())


def test_the_time_bound_cuts_a_slow_step_and_still_reports(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with setup(tmp_path, max_seconds=0.5) as (url, chat, search), \
                httpx.AsyncClient(base_url=url, timeout=30) as http:
            chat.script(fo.text(PLAN, head_delay=5), fo.text("Nothing was found in time."))
            started = asyncio.get_running_loop().time()
            reply = await http.post("/v1/research", json={"input": QUESTION, "model": "deep"})
            assert asyncio.get_running_loop().time() - started < 4  # the plan's 5 s were not waited out
            assert reply.json() == {"content": "Nothing was found in time.", "sources": []}
            assert search.requests == []  # no step started after the deadline
            assert chat.requests[-1].json["stream"] is True  # the report was still written

    run(scenario())
