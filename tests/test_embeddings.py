"""Embeddings: the openai and google-genai SDKs on the embedded local model and on an OpenAI upstream."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import openai
import pytest
from google.genai import types

from interlingua.adapters import ir
from interlingua.adapters.dialects.gemini_embeddings import decode_embed_request
from interlingua.adapters.local.minilm import MODEL_ID
from interlingua.adapters.providers.local import LocalProvider
from tests.asgi import run
from tests.fakes import openai_upstream as fo
from tests.harness import client, gateway, gemini_client, provider
from tests.support import cancelled_at_work, goes_quiet

LOCAL = "local/all-minilm-l6-v2"


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_local_embeddings_with_no_configuration(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with gateway(tmp_path) as (app, url):
            sdk = client(url)
            sentences = ["A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse."]
            result = await sdk.embeddings.create(model=LOCAL, input=sentences)
            vectors = [d.embedding for d in result.data]
            assert [len(v) for v in vectors] == [384] * 3
            assert _cosine(vectors[0], vectors[1]) > 0.7 > 0.3 > _cosine(vectors[0], vectors[2])
            assert result.usage.prompt_tokens > 10 and result.model == "all-minilm-l6-v2"
            raw = await sdk.embeddings.with_raw_response.create(model=LOCAL, input=sentences[0],
                                                                encoding_format="base64")
            encoded = raw.http_response.json()["data"][0]["embedding"]
            decoded = list(struct.unpack("<384f", base64.b64decode(encoded)))
            assert decoded == pytest.approx(vectors[0], abs=1e-6)
            listed = {m.id: m for m in (await sdk.models.list()).data}
            assert listed["all-minilm-l6-v2"].capabilities == ["embeddings"]  # type: ignore[attr-defined]
            app.ledger.flush()  # type: ignore[union-attr]

    run(scenario())


def test_bad_embedding_requests_name_the_field(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            sdk = client(url)
            cases: list[tuple[dict[str, Any], str]] = [
                ({"input": []}, "input"),
                ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
                ({"input": "x", "dimensions": 99}, "dimensions"),
                ({"input": ["x"] * 2049}, "input"),  # OpenAI's limit: each is work on the gateway's own core
            ]
            for fields, param in cases:
                with pytest.raises(openai.BadRequestError) as bad:
                    await sdk.embeddings.create(model=LOCAL, **fields)
                assert bad.value.body["param"] == param  # type: ignore[index]
            with pytest.raises(openai.BadRequestError, match="does not support embeddings"):
                await sdk.embeddings.create(model="gpt-x", input="x")
            with pytest.raises(openai.BadRequestError, match="does not support chat"):
                await sdk.chat.completions.create(model=LOCAL, messages=[{"role": "user", "content": "hi"}])
            assert up.requests == []

    run(scenario())


def test_local_embedding_stops_at_its_next_batch_once_nobody_waits() -> None:
    """2,048 texts of 256 word pieces are a minute or two of the embedded model's work on this
    machine; a client that leaves stops it at the next batch instead."""
    local = LocalProvider("local")
    request = ir.EmbeddingRequest(model=LOCAL, inputs=[f"{i} " + "word " * 300 for i in range(2048)], dialect="openai")

    async def scenario() -> None:
        await cancelled_at_work(local.embed(request, MODEL_ID), busy=0.5)
        # A batch is 0.5 s here, 3 s on a busy machine; all of them, a minute or two.
        assert await goes_quiet(within=10), "the model's thread went on embedding after its caller left"

    run(scenario())


def test_embeddings_on_an_openai_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(
                tmp_path, providers={"oa": provider(up.url, "text-embedding-3-small")}) as (_, url):
            result = await client(url).embeddings.create(model="text-embedding-3-small", input=["ab", "cde"],
                                                         dimensions=2, user="u1")
            assert [d.embedding for d in result.data] == [[0.0, 2.0], [1.0, 3.0]]
            assert up.requests[-1].json == {"model": "text-embedding-3-small", "input": ["ab", "cde"],
                                            "encoding_format": "float", "dimensions": 2, "user": "u1"}
            tokens = await client(url).embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3]])
            assert tokens.data[0].embedding == [0.0, 3.0, 1.0]

    run(scenario())


def test_gemini_client_embeds_on_the_local_model(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with gateway(tmp_path) as (_, url):
            sdk = gemini_client(url).aio
            result = await sdk.models.embed_content(model=LOCAL, contents=["A man is eating food.",
                                                                           "A man is eating a piece of bread."],
                                                    config=types.EmbedContentConfig(task_type="SEMANTIC_SIMILARITY"))
            first, second = (e.values for e in result.embeddings)
            assert len(first) == 384 and _cosine(first, second) > 0.7

    run(scenario())


def test_embeddings_on_a_gemini_upstream(tmp_path: Path) -> None:
    from tests.fakes import gemini_upstream as fg
    from tests.harness import gemini_provider

    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-embedding-001")}) as (_, url):
            result = await client(url).embeddings.create(model="gemini-embedding-001", input=["ab", "cde"],
                                                         dimensions=2)
            assert [d.embedding for d in result.data] == [[0.0, 2.0], [1.0, 3.0]]
            sent = up.requests[-1]
            assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
            assert sent.json["requests"][1] == {"model": "models/gemini-embedding-001",
                                                "content": {"parts": [{"text": "cde"}]}, "outputDimensionality": 2}
            gemini = await gemini_client(url).aio.models.embed_content(
                model="gemini-embedding-001", contents="ab",
                config=types.EmbedContentConfig(task_type="RETRIEVAL_QUERY"))
            assert gemini.embeddings[0].values == [0.0, 2.0, 1.0]
            assert up.requests[-1].json["requests"][0]["taskType"] == "RETRIEVAL_QUERY"

    run(scenario())


@pytest.mark.parametrize("body, batch, param", [
    ({"content": {"parts": [{"text": {"t": 1}}]}}, False, "content.parts[0].text"),
    ({"content": {"parts": ["text"]}}, False, "content.parts[0]"),
    ({"content": {"parts": [{"text": "a"}]}, "outputDimensionality": "3"}, False, "outputDimensionality"),
    ({"content": {"parts": [{"text": "a"}]}, "task_type": 7}, False, "task_type"),
    ({"requests": [{"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 0}]}, True,
     "requests[0].outputDimensionality"),
])
def test_gemini_embedding_requests_of_the_wrong_type_name_the_field(body: Any, batch: bool, param: str) -> None:
    with pytest.raises(ir.GatewayError) as info:
        decode_embed_request(body, "m", batch, "gemini")
    assert (info.value.status, info.value.param) == (400, param)
