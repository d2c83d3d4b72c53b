"""Fake search APIs over real sockets, each speaking its service's own request and answer:

- SearXNG: `GET /search?q=...&format=json[&categories=...][&engines=...]` -> `{"query",
  "number_of_results", "results": [{"url", "title", "content", "engine", "engines", "score",
  "category", "parsed_url", "positions"}], "answers", "suggestions", "infoboxes", "corrections",
  "unresponsive_engines"}`; without `format=json` it is 403, as on an instance whose settings do
  not enable JSON. No key.
- Tavily: `POST /search`, `Authorization: Bearer tvly-...`, JSON `{"query", "max_results",
  "search_depth", "topic", "include_domains", "exclude_domains", "country", ...}` ->
  `{"query", "answer", "images", "results": [{"title", "url", "content", "score", "raw_content"}],
  "response_time"}`; errors `{"detail": {"error": ...}}`.
- Exa: `POST /search`, `x-api-key`, JSON `{"query", "numResults", "type", "includeDomains",
  "excludeDomains", "category", "userLocation", "contents"}` -> `{"requestId", "resolvedSearchType",
  "results": [{"id", "title", "url", "publishedDate", "author", "text"}]}`; errors `{"error"}`.
- Brave: `GET /res/v1/web/search?q=...&count=...[&country=...]` (or `/res/v1/news/search`),
  `X-Subscription-Token` -> `{"type": "search", "query": {"original"}, "web": {"type": "search",
  "results": [{"title", "url", "description", "age", "extra_snippets"}]}}` (news: `{"type":
  "news", "results": [...]}`); `count` above 20 is a 422; errors `{"type": "ErrorResponse", "error":
  {"detail", "status", "code"}}`.

Every fake answers from the same six pages (`PAGES`, or the `pages` it is given), filtering by
domain where its API has a parameter for it, and not by `site:` operators. `fail(status)` makes
the next request answer that status; `requests` records (method, path, query, headers, body).
"""

from __future__ import annotations

import uuid
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.pacing import Streaming

PAGES = [("https://docs.python.org/3/library/asyncio.html", "asyncio", "Asynchronous I/O in Python."),
         ("https://en.wikipedia.org/wiki/Python_(programming_language)", "Python", "A programming language."),
         ("https://realpython.com/async-io-python/", "Async IO in Python", "A complete walkthrough."),
         ("https://blog.example.com/python-tips", "Python tips", "Ten tips for async code."),
         ("https://news.example.org/python-3-14", "Python 3.14 released", "What is new this year."),
         ("https://www.python.org/", "Welcome to Python.org", "The official home of Python.")]
KEYS = {"tavily": "tvly-secret", "exa": "exa-secret", "brave": "brave-secret"}


def _host(url: str) -> str:
    return url.split("/")[2]


def _marked(title: str, content: str) -> str:
    """A snippet as SearXNG and Brave send them, the matched words in HTML."""
    return f"<strong>{title}</strong>: {content}"


def _under(url: str, domains: list[str]) -> bool:
    return any(_host(url) == d or _host(url).endswith("." + d) for d in domains)


class FakeSearch(Streaming):
    def __init__(self, kind: str, pages: list[tuple[str, str, str]] | None = None) -> None:
        self.kind = kind
        self.pages = pages or PAGES
        self.url = ""
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str], Any]] = []
        self.disconnects = 0
        self._failures: deque[int] = deque()

    def fail(self, *statuses: int) -> None:
        self._failures.extend(statuses)

    async def __aenter__(self) -> FakeSearch:
        app = web.Application()
        handler = getattr(self, f"_{self.kind}")
        for method, path in {"searxng": [("GET", "/search")], "tavily": [("POST", "/search")],
                             "exa": [("POST", "/search")],
                             "brave": [("GET", "/res/v1/web/search"), ("GET", "/res/v1/news/search")]}[self.kind]:
            app.router.add_route(method, path, self._recorded(handler))
        self.url = await self.serve(app)
        return self

    def _recorded(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            raw = await request.read()
            body = orjson.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.requests.append((request.method, request.path, dict(request.query), headers, body))
            if self._failures:
                return web.json_response({"error": "upstream trouble", "detail": "upstream trouble"},
                                         status=self._failures.popleft())
            expected = KEYS.get(self.kind)
            given = {"tavily": headers.get("authorization", "").removeprefix("Bearer "),
                     "exa": headers.get("x-api-key"), "brave": headers.get("x-subscription-token")}.get(self.kind)
            if expected is not None and given != expected:
                return web.json_response({"error": "invalid API key"}, status=401)
            result: web.Response = await handler(request, body)
            return result
        return wrapped

    async def _searxng(self, request: web.Request, body: Any) -> web.Response:
        if request.query.get("format") != "json":
            return web.Response(status=403, text="403 Forbidden")
        q = request.query.get("q", "")
        results = [{"url": u, "title": t, "content": _marked(t, c), "engine": "duckduckgo", "engines": ["duckduckgo"],
                    "score": 1.0 / (i + 1), "category": request.query.get("categories", "general"),
                    "parsed_url": ["https", _host(u), "/", "", "", ""], "positions": [i + 1]}
                   for i, (u, t, c) in enumerate(self.pages)]
        return web.json_response({"query": q, "number_of_results": len(results), "results": results, "answers": [],
                                  "corrections": [], "infoboxes": [], "suggestions": [], "unresponsive_engines": []})

    async def _tavily(self, request: web.Request, body: Any) -> web.Response:
        known = {"query", "max_results", "search_depth", "topic", "include_domains", "exclude_domains", "country",
                 "days", "time_range", "include_answer", "include_raw_content", "include_images"}
        if not isinstance(body, dict) or not body.get("query") or set(body) - known:
            return web.json_response({"detail": {"error": "Invalid request"}}, status=400)
        pages = [p for p in self.pages if (not body.get("include_domains") or _under(p[0], body["include_domains"]))
                 and not _under(p[0], body.get("exclude_domains") or [])]
        results = [{"title": t, "url": u, "content": c, "score": round(0.9 - i / 10, 2), "raw_content": None}
                   for i, (u, t, c) in enumerate(pages[:body.get("max_results", 5)])]
        return web.json_response({"query": body["query"], "answer": None, "images": [], "results": results,
                                  "response_time": 0.5})

    async def _exa(self, request: web.Request, body: Any) -> web.Response:
        known = {"query", "numResults", "type", "includeDomains", "excludeDomains", "category", "userLocation",
                 "contents", "startPublishedDate", "endPublishedDate"}
        if not isinstance(body, dict) or not body.get("query") or set(body) - known:
            return web.json_response({"error": "Invalid request body"}, status=400)
        pages = [p for p in self.pages if (not body.get("includeDomains") or _under(p[0], body["includeDomains"]))
                 and not _under(p[0], body.get("excludeDomains") or [])]
        chars = ((body.get("contents") or {}).get("text") or {}).get("maxCharacters", 10_000)
        results = [{"id": u, "title": t, "url": u, "publishedDate": "2026-11-01T00:00:00.000Z", "author": None,
                    "text": (c + " Full page text.")[:chars]} for u, t, c in pages[:body.get("numResults", 10)]]
        return web.json_response({"requestId": uuid.uuid4().hex, "resolvedSearchType": "neural", "results": results})

    async def _brave(self, request: web.Request, body: Any) -> web.Response:
        q = request.query.get("q")
        count = int(request.query.get("count", "20"))
        if not q or count > 20:
            return web.json_response({"type": "ErrorResponse", "error": {
                "detail": "Unable to validate request parameter(s).", "status": 422, "code": "VALIDATION"}},
                status=422)
        results = [{"title": t, "url": u, "description": _marked(t, c), "age": "2 days ago", "type": "search_result",
                    "extra_snippets": ["More about " + t + "."]} for u, t, c in self.pages[:count]]
        if request.path.endswith("/news/search"):
            return web.json_response({"type": "news", "query": {"original": q}, "results": results})
        return web.json_response({"type": "search", "query": {"original": q},
                                  "web": {"type": "search", "results": results}})
