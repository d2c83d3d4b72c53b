"""Fake upstream research models over real sockets:

- Perplexity: `POST /chat/completions`, bearer key, OpenAI's chat completion with Perplexity's
  additions: the reasoning in `<think>...</think>` at the start of the content (its reasoning
  models), `citations` (URLs, `[n]` in the text meaning `citations[n - 1]`), `search_results`
  (`title`, `url`, `date`) and usage with `citation_tokens`, `num_search_queries`, `reasoning_tokens`.
- OpenAI deep research: `POST /v1/responses` with `tools: [{"type": "web_search_preview"}]` (the
  API refuses deep research without a data source tool), answered with a Responses object whose
  output holds `reasoning` and `web_search_call` items, then a `message` whose `output_text`
  carries `url_citation` annotations (`start_index`, `end_index`, `url`, `title`).

`requests` records every body.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.pacing import Streaming

PERPLEXITY_TEXT = "<think>Let me search.</think>\nLlamas live in the Andes [1], near Peru [2]."
CITATIONS = ["https://example.org/llamas", "https://example.org/peru"]
DEEP_TEXT = "Llamas were domesticated in the Andes. They carry loads."


class FakeResearchModels(Streaming):
    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Any] = []
        self.disconnects = 0

    async def __aenter__(self) -> FakeResearchModels:
        app = web.Application()
        app.router.add_post("/chat/completions", self._perplexity)
        app.router.add_post("/v1/responses", self._responses)
        self.url = await self.serve(app)
        return self

    async def _perplexity(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        if request.headers.get("authorization") != "Bearer pplx-secret":
            return web.json_response({"error": {"message": "Invalid API key", "type": "invalid_api_key"}}, status=401)
        return web.json_response({
            "id": "pplx-1", "model": body["model"], "created": int(time.time()), "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": PERPLEXITY_TEXT}}],
            "citations": CITATIONS,
            "search_results": [{"title": "Llamas", "url": CITATIONS[0], "date": "2026-01-02"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52, "citation_tokens": 300,
                      "num_search_queries": 4, "reasoning_tokens": 20}})

    async def _responses(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        if not any(t.get("type") in ("web_search_preview", "mcp", "file_search") for t in body.get("tools") or []):
            return web.json_response({"error": {"message": "Deep research models require at least one of "
                                                "'web_search_preview', 'mcp', or 'file_search' tools.",
                                                "type": "invalid_request_error", "param": "tools", "code": None}},
                                     status=400)
        first = DEEP_TEXT.index(".") + 1
        annotations = [{"type": "url_citation", "start_index": 0, "end_index": first, "url": CITATIONS[0],
                        "title": "Llamas"},
                       {"type": "url_citation", "start_index": first + 1, "end_index": len(DEEP_TEXT),
                        "url": CITATIONS[1], "title": "Peru"},
                       {"type": "url_citation", "start_index": 0, "end_index": 6, "url": CITATIONS[0],
                        "title": "Llamas"}]
        return web.json_response({
            "id": "resp_1", "object": "response", "created_at": int(time.time()), "status": "completed",
            "model": body["model"], "output": [
                {"id": "rs_1", "type": "reasoning", "summary": []},
                {"id": "ws_1", "type": "web_search_call", "status": "completed",
                 "action": {"type": "search", "query": "llama domestication"}},
                {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": DEEP_TEXT, "annotations": annotations}]}],
            "usage": {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 90,
                      "output_tokens_details": {"reasoning_tokens": 60}, "total_tokens": 120}})
