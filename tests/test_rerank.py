"""`/v1/rerank` through real sockets: the embedded local fusion, the request shapes that Cohere's and
Jina's clients send (the official `cohere` SDK itself; LangChain's and LlamaIndex's Jina rerankers'
exact bodies and headers, since those post with `requests` to a fixed URL), and each remote
backend's fake, with fallback on 429 and 5xx and the bad-input statuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import cohere
import httpx
import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects import UTILITY
from interlingua.adapters.local import fusion
from interlingua.adapters.providers.local import LocalProvider
from tests.asgi import run
from tests.fakes.rerank_upstream import FakeRerank, overlap
from tests.harness import gateway
from tests.support import cancelled_at_work, goes_quiet

QUERY = "which animals live near peru"
TEXTS = ["The giant panda is a bear native to China.",
         "The llama is a camelid that animals herders keep in Peru.",
         "The giant panda is a bear native to China.",
         "Guanacos are wild camelids that live in the Andes near Peru."]


def _local(tmp_path: Path, **tables: Any) -> Any:
    return gateway(tmp_path, models={"rerank-v3.5": {"targets": [f"local/{fusion.MODEL_ID}"]}}, **tables)


def test_local_rerank_orders_every_text_and_keeps_duplicate_indexes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _local(tmp_path) as (_, url), httpx.AsyncClient(base_url=url) as http:
            reply = await http.post("/v1/rerank", json={"query": QUERY, "texts": TEXTS})  # no model: the local one
            assert reply.status_code == 200 and reply.headers["x-interlingua-upstream"] == "local/minilm-bm25"
            body = reply.json()
            assert body["model"] == fusion.MODEL_ID
            results = body["results"]
            assert sorted(r["index"] for r in results) == [0, 1, 2, 3]  # every index, 0 and both duplicates
            assert [r["text"] for r in results] == [TEXTS[r["index"]] for r in results]
            assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
            assert {results[0]["index"], results[1]["index"]} == {1, 3}  # the two about Peru first
            limited = (await http.post("/v1/rerank", json={"model": "local/minilm-bm25", "query": QUERY,
                                                           "texts": TEXTS, "limit": 2})).json()["results"]
            assert [r["index"] for r in limited] == [r["index"] for r in results[:2]]
            form = await http.post("/v1/rerank", data={"query": QUERY, "texts": TEXTS[:2]})
            assert [r["index"] for r in form.json()["results"]] == [1, 0]
        rows = sqlite3.connect(tmp_path / "usage.sqlite3").execute(
            "select operation, upstream, status, input_tokens from usage").fetchall()
        assert rows[0][:3] == ("rerank", "local/minilm-bm25", 200) and rows[0][3] > 20

    run(scenario())


def test_cohere_sdk_v1_and_v2_rerank_by_base_url_alone(tmp_path: Path) -> None:
    """LangChain's CohereRerank calls `ClientV2.rerank` (query, documents, model, top_n,
    max_tokens_per_doc) and LlamaIndex's `ClientV2.rerank` (model, top_n, query, documents); older
    code calls the v1 client's `rerank`, with `return_documents` and object documents."""
    async def scenario() -> None:
        async with _local(tmp_path) as (_, url):
            v2 = cohere.AsyncClientV2(api_key="sk-anything", base_url=url)
            answer = await v2.rerank(model="rerank-v3.5", query=QUERY, documents=TEXTS, top_n=3,
                                     max_tokens_per_doc=4000)
            assert len(answer.results) == 3 and {answer.results[0].index, answer.results[1].index} == {1, 3}
            scores = [r.relevance_score for r in answer.results]
            assert scores == sorted(scores, reverse=True)
            llama = await v2.rerank(model="rerank-v3.5", top_n=2, query=QUERY, documents=TEXTS)
            assert [r.index for r in llama.results] == [r.index for r in answer.results[:2]]
            v1 = cohere.AsyncClient(api_key="sk-anything", base_url=url)
            old = await v1.rerank(model="rerank-v3.5", query=QUERY, documents=TEXTS, return_documents=True)
            assert sorted(r.index for r in old.results) == [0, 1, 2, 3]
            assert all(r.document is not None and r.document.text == TEXTS[r.index] for r in old.results)
            bare = await v1.rerank(model="rerank-v3.5", query=QUERY, documents=[{"text": t} for t in TEXTS],
                                   return_documents=False)
            assert all(r.document is None for r in bare.results)

    run(scenario())


@pytest.mark.parametrize("client", ["langchain", "llamaindex"])
def test_jina_rerankers_request_shape(tmp_path: Path, client: str) -> None:
    """The bodies and headers that LangChain's `JinaRerank` (langchain_community.document_compressors)
    and LlamaIndex's `JinaRerank` post, and the fields they read back: `results[].index` and
    `results[].relevance_score`."""
    headers = {"Authorization": "Bearer sk-anything", "Accept-Encoding": "identity"}
    if client == "langchain":
        headers |= {"Content-type": "application/json", "user-agent": "langchain"}
    top_n = 3 if client == "langchain" else 2  # each one's default
    body = {"query": QUERY, "documents": TEXTS, "model": "jina-reranker-v1-base-en", "top_n": top_n}

    async def scenario() -> None:
        async with gateway(tmp_path, models={"jina-reranker-v1-base-en": {"targets": ["local/minilm-bm25"]}}) as (
                _, url), httpx.AsyncClient(base_url=url) as http:
            reply = await http.post("/v1/rerank", json=body, headers=headers)
            results = reply.json()["results"]
            assert len(results) == body["top_n"] and {results[0]["index"], results[1]["index"]} == {1, 3}
            assert all(isinstance(r["relevance_score"], float) for r in results)
            assert results[0]["document"] == {"text": TEXTS[results[0]["index"]]}

    run(scenario())


@pytest.mark.parametrize("kind", ["cohere", "jina", "voyage", "tei"])
def test_remote_backends_and_fallback(tmp_path: Path, kind: str) -> None:
    async def scenario() -> None:
        async with FakeRerank(kind) as first, FakeRerank(kind) as second:
            base = "/v1" if kind == "voyage" else ""  # Voyage's default URL ends in /v1, as Jina's may
            providers = {"a": {"type": kind, "url": first.url + base, "key": "sk-upstream-secret"},
                         "b": {"type": kind, "url": second.url + base, "key": "sk-upstream-secret"}}
            async with gateway(tmp_path, providers=providers,
                               models={"rr": {"targets": ["a/rr-model", "b/rr-model"]}}) as (_, url), \
                    httpx.AsyncClient(base_url=url) as http:
                reply = await http.post("/v1/rerank", json={"model": "rr", "query": QUERY, "texts": TEXTS, "limit": 2})
                assert reply.status_code == 200 and reply.headers["x-interlingua-upstream"] == "a/rr-model"
                expected = sorted(range(4), key=lambda i: (-overlap(QUERY, TEXTS[i]), i))[:2]
                assert [r["index"] for r in reply.json()["results"]] == expected
                path, sent_headers, sent = first.requests[-1]
                assert sent_headers["authorization"] == "Bearer sk-upstream-secret"
                assert sent == {
                    "cohere": {"model": "rr-model", "query": QUERY, "documents": TEXTS, "top_n": 2},
                    "jina": {"model": "rr-model", "query": QUERY, "documents": TEXTS, "top_n": 2,
                             "return_documents": False},
                    "voyage": {"query": QUERY, "documents": TEXTS, "model": "rr-model", "top_k": 2,
                               "return_documents": False, "truncation": True},
                    "tei": {"query": QUERY, "texts": TEXTS, "raw_scores": False, "return_text": False,
                            "truncate": True},
                }[kind]
                first.fail(429, 503)
                for _ in range(2):  # a 429, then a 503: each time the second target answers
                    again = await http.post("/v1/rerank", json={"model": "rr", "query": QUERY, "texts": TEXTS})
                    assert again.status_code == 200 and again.headers["x-interlingua-upstream"] == "b/rr-model"
                    assert sorted(r["index"] for r in again.json()["results"]) == [0, 1, 2, 3]
                first.fail(400)
                refused = await http.post("/v1/rerank", json={"model": "rr", "query": QUERY, "texts": TEXTS})
                assert refused.status_code == 400 and "upstream trouble" in refused.json()["error"]["message"]
                assert "sk-upstream-secret" not in refused.text

    run(scenario())


def test_bad_rerank_input(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with gateway(tmp_path, providers={"local": {"type": "local", "max_texts": 3, "max_chars": 100}}) as (
                _, url), httpx.AsyncClient(base_url=url) as http:
            async def error(body: Any) -> tuple[int, Any]:
                reply = await http.post("/v1/rerank", json=body)
                return reply.status_code, reply.json()["error"]["param"]

            assert await error({"query": " ", "texts": ["a"]}) == (400, "query")
            assert await error({"query": "q", "texts": []}) == (400, "texts")
            assert await error({"query": "q", "documents": []}) == (400, "documents")
            assert await error({"query": "q", "texts": ["a"], "top_n": 2}) == (400, "top_n")
            assert await error({"query": "q", "texts": ["a"], "limit": 0}) == (400, "limit")
            assert await error({"query": "q", "documents": [1]}) == (400, "documents[0]")
            assert await error({"query": "q", "texts": ["a", "b", "c", "d"]}) == (413, "texts")
            assert await error({"query": "q", "texts": ["x" * 60, "y" * 60]}) == (413, "texts")
            assert await error({"model": "nope/x", "query": "q", "texts": ["a"]}) == (404, "model")

    run(scenario())


def test_local_rerank_stops_at_its_next_batch_once_nobody_waits_and_caches_nothing_unmade() -> None:
    """A thousand passages of a thousand characters are a minute of the encoder's work here; a
    client that leaves stops it at the next batch, and no passage's vector is cached unless made."""
    texts = [f"passage {i}: " + "the gateway routes models to upstreams. " * 24 for i in range(1000)]
    request = ir.RerankRequest(fusion.MODEL_ID, "which upstream serves a model", texts, UTILITY.name)
    local = LocalProvider("local")

    async def scenario() -> None:
        await cancelled_at_work(local.rerank(request, fusion.MODEL_ID), busy=0.5)
        assert await goes_quiet(within=10), "the encoder went on after its caller left"
        few = ir.RerankRequest(fusion.MODEL_ID, request.query, texts[-8:], UTILITY.name)  # the last to be made
        again = await local.rerank(few, fusion.MODEL_ID)
        fresh = await LocalProvider("local").rerank(few, fusion.MODEL_ID)
        assert [(r.index, round(r.score, 6)) for r in again.results] == [
            (r.index, round(r.score, 6)) for r in fresh.results]

    run(scenario())
