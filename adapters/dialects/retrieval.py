"""The utility dialect's retrieval forms: `/v1/search` (`/v1/retrieve`), `/v1/rerank`, `/v1/research`.

Each takes form fields or JSON, read alike (`Fields`), and answers JSON:

- search: `query` (or `input`), `model` (the search provider; none asks every one configured, in
  order), `limit`, `domain` (repeatable, or a JSON list; a leading `!` excludes), `category`,
  `location`. Answered with a list of `{"source", "title", "content", "metadata"}`, best first.
- rerank, two shapes on one path. The gateway's own, `{"model", "query", "texts", "limit"}`, is
  answered `{"model", "results": [{"index", "score", "text"}]}`. The one Cohere's and Jina's
  clients send (LangChain's and LlamaIndex's rerankers among them), `documents` (strings or
  objects), `top_n`, `return_documents`, is answered in their shape, `{"results": [{"index",
  "relevance_score", "document"}]}`, so those clients work by base URL alone (`/v2/rerank` is
  Cohere's v2 path, taken too). Every index is present up to the limit, sorted by score; equal
  texts keep their own indexes.
- research: `input` (or `instructions`) and `model`; answered `{"content", "sources": [{"url",
  "title"}]}`, or as named server-sent events when `Accept` asks for `text/event-stream`:
  `query`, `source`, `note`, `delta` (the report's text), then `done` with that JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import forms, sse
from interlingua.adapters.dialects.base import StreamEncoder
from interlingua.adapters.dialects.fields import natural

ROUTES = {"/v1/search": ops.SEARCH, "/v1/retrieve": ops.SEARCH, "/v1/rerank": ops.RERANK, "/v2/rerank": ops.RERANK,
          "/v1/research": ops.RESEARCH}
MAX_LIMIT = 100  # search results one request may ask for

_SEARCH = frozenset({"model", "query", "input", "limit", "domain", "category", "location"})
_RERANK = frozenset({"model", "query", "texts", "limit"})
# Cohere's and Jina's fields; the truncation ones only bound cost upstream, so they are accepted unused.
_COHERE = frozenset({"model", "query", "documents", "top_n", "return_documents", "rank_fields",
                     "max_tokens_per_doc", "max_chunks_per_doc"})
_RESEARCH = frozenset({"model", "input", "instructions", "stream"})


class Fields:
    """A JSON object's or a form's fields, read alike; each error names the field."""

    __slots__ = ("values", "form")

    def __init__(self, body: Any, known: frozenset[str]) -> None:
        if isinstance(body, ir.Form):
            if body.files:
                raise ir.invalid(body.files[0].name, "is a file; this form takes text fields only")
            self.values: Mapping[str, Any] = forms.values(body)
            self.form = True
        elif isinstance(body, dict):
            self.values, self.form = body, False
        else:
            raise ir.invalid("body", "must be a JSON object or a form")
        for name in self.values:
            if name not in known:
                raise ir.invalid(name, f"is not a field of this request (it takes {', '.join(sorted(known))})")

    def text(self, *names: str) -> str | None:
        """The first of `names` given; a form's repeated field counts its last value."""
        for name in names:
            value = self.values.get(name)
            if self.form and value:
                value = value[-1]
            if value is None:
                continue
            if not isinstance(value, str):
                raise ir.invalid(name, "must be a string")
            return value
        return None

    def required(self, *names: str) -> str:
        value = self.text(*names)
        if value is None or not value.strip():
            also = f" (or `{'`, `'.join(names[1:])}`)" if len(names) > 1 else ""
            raise ir.invalid(names[0], f"must be a non-empty string{also}")
        return value

    def integer(self, name: str) -> int | None:
        value = self.values.get(name)
        if self.form and value:
            value = natural(value[-1]) or 0  # not a number: refused below
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ir.invalid(name, "must be a positive integer")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.values.get(name)
        if self.form and value:
            value = {"true": True, "false": False}.get(value[-1].lower(), value[-1])
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ir.invalid(name, "must be true or false")
        return value

    def strings(self, name: str) -> list[str]:
        """A repeated form field, or a JSON string or list of strings."""
        value = self.values.get(name)
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ir.invalid(name, "must be a string or a list of strings")
        return items

    def list(self, name: str) -> list[Any] | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, list):
            raise ir.invalid(name, "must be a list")
        return value


# Requests -------------------------------------------------------------------------------------------


def decode_search(body: Any, dialect: str) -> ir.SearchRequest:
    fields = Fields(body, _SEARCH)
    limit = fields.integer("limit") or 10
    if limit > MAX_LIMIT:
        raise ir.invalid("limit", f"must be at most {MAX_LIMIT}")
    domains = [d.strip() for d in fields.strings("domain")]
    for i, domain in enumerate(domains):
        if not domain.lstrip("!") or any(c in domain.lstrip("!") for c in " /:!"):
            raise ir.invalid(f"domain[{i}]", "must be a domain such as example.com, with `!` in front to exclude it")
    return ir.SearchRequest(model=fields.text("model") or ops.SEARCH.name, query=fields.required("query", "input"),
                            dialect=dialect, limit=limit, domains=domains, category=fields.text("category"),
                            location=fields.text("location"))


def decode_rerank(body: Any, dialect: str) -> ir.RerankRequest:
    cohere = isinstance(body, dict) and "documents" in body
    fields = Fields(body, _COHERE if cohere else _RERANK)
    query = fields.required("query")
    model = fields.text("model") or ops.RERANK.name
    if not cohere:
        texts = fields.strings("texts")
        if not texts:
            raise ir.invalid("texts", "must list at least one text")
        return ir.RerankRequest(model, query, texts, dialect, limit=fields.integer("limit"))
    documents = fields.list("documents")
    if not documents:
        raise ir.invalid("documents", "must list at least one document")
    rank_fields = fields.strings("rank_fields")
    texts = [_document_text(d, i, rank_fields) for i, d in enumerate(documents)]
    return ir.RerankRequest(model, query, texts, dialect, limit=fields.integer("top_n"), shape="cohere",
                            documents=documents, return_documents=fields.boolean("return_documents", True))


def _document_text(document: Any, index: int, rank_fields: list[str]) -> str:
    """What is ranked of one document: a string itself; an object's `text`, or else its fields
    (those of `rank_fields` when given) as `name: value` lines, as Cohere reads structured documents."""
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        raise ir.invalid(f"documents[{index}]", "must be a string or an object")
    if isinstance(document.get("text"), str) and not rank_fields:
        return document["text"]
    names = rank_fields or list(document)
    return "\n".join(f"{n}: {v if isinstance(v, str) else orjson.dumps(v).decode()}"
                     for n in names if (v := document.get(n)) is not None)


def decode_research(body: Any, headers: Mapping[bytes, bytes], dialect: str) -> ir.ResearchRequest:
    fields = Fields(body, _RESEARCH)
    stream = fields.boolean("stream", b"text/event-stream" in headers.get(b"accept", b""))
    return ir.ResearchRequest(model=fields.text("model") or ops.RESEARCH.name,
                              input=fields.required("input", "instructions"), dialect=dialect, stream=stream)


# Answers --------------------------------------------------------------------------------------------


def search_payload(result: ir.SearchResults, request: ir.SearchRequest) -> list[dict[str, Any]]:
    return [{"source": h.source, "title": h.title, "content": h.content, "metadata": h.metadata} for h in result.hits]


def rerank_payload(result: ir.RerankResponse, request: ir.RerankRequest) -> dict[str, Any]:
    if request.shape == "seed":
        return {"model": result.model, "results": [{"index": r.index, "score": r.score, "text": request.texts[r.index]}
                                                   for r in result.results]}
    documents = request.documents or []
    results: list[dict[str, Any]] = []
    for r in result.results:
        item: dict[str, Any] = {"index": r.index, "relevance_score": r.score}
        if request.return_documents:
            document = documents[r.index]
            item["document"] = {"text": document} if isinstance(document, str) else document
        results.append(item)
    tokens = result.usage.input_tokens if result.usage else 0
    return {"id": str(uuid.uuid4()), "model": result.model, "results": results,
            "usage": {"total_tokens": tokens},
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}


def report_payload(result: ir.ResearchReport, request: ir.ResearchRequest | None = None) -> dict[str, Any]:
    return {"content": result.content, "sources": [{"url": s.url, "title": s.title} for s in result.sources]}


# The JSON of each answer, from the answer and the request it answers.
PAYLOADS: dict[type, Callable[[Any, Any], Any]] = {ir.SearchResults: search_payload, ir.RerankResponse: rerank_payload,
                                                   ir.ResearchReport: report_payload}


class ResearchStream(StreamEncoder):
    """Research progress as named SSE events (`event: <name>`, JSON data); an error after the first
    byte is an `error` event in the utility error shape."""

    def __init__(self, error_body: Any) -> None:
        self._error_body = error_body

    def encode(self, event: ir.StreamEvent) -> bytes:
        if isinstance(event, ir.Progress):
            return sse.frame(orjson.dumps(event.data), event.name)
        return b""

    def end(self) -> bytes:
        return b""

    def error(self, error: ir.GatewayError) -> bytes:
        return sse.frame(self._error_body(error), "error")
