"""Fake rerank servers over real sockets: Cohere (`/v2/rerank`), Jina and the servers that copied
its shape, vLLM and llama.cpp (`/rerank`, `/v1/rerank`), Voyage (`/v1/rerank`) and Hugging Face
text-embeddings-inference (`/rerank`), each with its own request fields and answer shape, as their
API references give them:

- Cohere v2: `{"model", "query", "documents": [str], "top_n"?, "max_tokens_per_doc"?}` ->
  `{"id", "results": [{"index", "relevance_score"}], "meta": {"api_version", "billed_units"}}`.
- Jina: `{"model", "query", "documents", "top_n"?, "return_documents"?}` -> `{"model", "usage":
  {"total_tokens"}, "results": [{"index", "relevance_score", "document"?: {"text"}}]}`.
- Voyage: `{"query", "documents", "model", "top_k"?, "return_documents"?, "truncation"?}` ->
  `{"object": "list", "data": [{"index", "relevance_score", "document"?}], "model", "usage"}`.
- TEI: `{"query", "texts", "raw_scores"?, "return_text"?, "truncate"?}` -> `[{"index", "score"}]`.

A missing required field is a 400 (Cohere `{"message"}`, Jina and Voyage `{"detail"}`, TEI
`{"error", "error_type"}`), and so is one the API does not take. The score of a document is the
share of the query's words it holds, so tests can tell the order. `fail(status)` makes the next
request answer that status; `requests` records every body.
"""

from __future__ import annotations

import uuid
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.pacing import Streaming

# Per kind: required fields, optional fields, the field with the documents, the name of the limit.
SHAPES = {
    "cohere": ({"model", "query", "documents"}, {"top_n", "max_tokens_per_doc"}, "documents", "top_n"),
    "jina": ({"model", "query", "documents"}, {"top_n", "return_documents"}, "documents", "top_n"),
    "voyage": ({"query", "documents", "model"}, {"top_k", "return_documents", "truncation"}, "documents", "top_k"),
    "tei": ({"query", "texts"}, {"raw_scores", "return_text", "truncate", "truncation_direction"}, "texts", ""),
}
PATHS = {"cohere": ("/v2/rerank",), "jina": ("/rerank", "/v1/rerank"), "voyage": ("/v1/rerank",),
         "tei": ("/rerank",)}


def overlap(query: str, text: str) -> float:
    words = set(query.lower().split())
    return round(len(words & set(text.lower().split())) / max(len(words), 1), 4)


class FakeRerank(Streaming):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.url = ""
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.disconnects = 0
        self._failures: deque[int] = deque()

    def fail(self, *statuses: int) -> None:
        self._failures.extend(statuses)

    async def __aenter__(self) -> FakeRerank:
        app = web.Application()
        for path in PATHS[self.kind]:
            app.router.add_post(path, self._rerank)
        self.url = await self.serve(app)
        return self

    def _error(self, status: int, message: str) -> web.Response:
        body: Any = {"cohere": {"message": message}, "tei": {"error": message, "error_type": "Validation"}}.get(
            self.kind, {"detail": message})
        return web.json_response(body, status=status)

    async def _rerank(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.requests.append((request.path, {k.lower(): v for k, v in request.headers.items()}, body))
        if self._failures:
            return self._error(self._failures.popleft(), "upstream trouble")
        required, optional, documents_field, limit_field = SHAPES[self.kind]
        missing = required - set(body)
        unknown = set(body) - required - optional
        if missing or unknown:
            return self._error(400 if self.kind != "tei" else 422, f"bad fields: {sorted(missing | unknown)}")
        documents = body[documents_field]
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            return self._error(400, f"{documents_field} must be a list of strings")
        scored = sorted(((overlap(body["query"], d), i) for i, d in enumerate(documents)), key=lambda s: (-s[0], s[1]))
        if limit_field and body.get(limit_field):
            scored = scored[:body[limit_field]]
        tokens = sum(len(d.split()) for d in documents) + len(body["query"].split())
        if self.kind == "tei":
            return web.json_response([{"index": i, "score": s} for s, i in scored])
        if self.kind == "cohere":
            return web.json_response({"id": str(uuid.uuid4()),
                                      "results": [{"index": i, "relevance_score": s} for s, i in scored],
                                      "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}})
        items = [{"index": i, "relevance_score": s, **({"document": {"text": documents[i]}}
                                                         if body.get("return_documents", self.kind == "jina") else {})}
                 for s, i in scored]
        if self.kind == "voyage":
            return web.json_response({"object": "list", "data": items, "model": body["model"],
                                      "usage": {"total_tokens": tokens}})
        return web.json_response({"model": body["model"], "usage": {"total_tokens": tokens}, "results": items})
