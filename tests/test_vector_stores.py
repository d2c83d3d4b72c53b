"""OpenAI Vector Stores kept by the gateway, driven by the official `openai` SDK: files uploaded to
the Files API, indexed in the background (text, Markdown, a PDF), searched (the right passage first,
attribute filters, several queries, thresholds), paged, updated, batched and cancelled, read back
as content, each key's own; bad requests answered in OpenAI's shape."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import openai
import pytest

from interlingua.adapters.dialects import openai_vector_stores as wire
from interlingua.adapters.dialects.files import StoredFile, new_file_id
from interlingua.adapters.local.minilm import MiniLM
from interlingua.adapters.storage.files import FileStore
from interlingua.adapters.storage.vector_stores import VectorStoreStore
from interlingua.middleware import vector_indexer
from interlingua.middleware.vector_indexer import VectorIndexer
from tests.documents import pdf
from tests.harness import client, gateway
from tests.servers import postgres
from tests.support import async_test

ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"
KEYS = {"alice": {"key": ALICE}, "bob": {"key": BOB}}

RETURNS = ("Returns policy. Items bought in the shop may be returned within 30 days of delivery for a full "
           "refund, provided they are unused and in their original packaging. Refunds reach the card used for "
           "payment within five working days.")
SHIPPING = ("# Shipping\n\nParcels leave the warehouse every weekday at noon. Express delivery takes one day "
            "within the country and three days abroad; standard delivery takes up to a week.\n")
BOILER = ("Error code E4107 means the boiler's pressure sensor reads below 0.8 bar. Refill the heating "
          "circuit through the filling loop until the gauge shows 1.5 bar, then reset the boiler.")
FILLER = " ".join(f"Paragraph {n} of the staff handbook describes office hours, parking and the canteen menu."
                  for n in range(60))


async def _indexed(sdk: openai.AsyncOpenAI, store_id: str) -> None:
    for _ in range(600):
        store = await sdk.vector_stores.retrieve(store_id)
        if store.status != "in_progress":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the store was not indexed in 30 s")


@async_test
async def test_a_store_is_made_indexed_and_searched(tmp_path: Path) -> None:
    async with gateway(tmp_path, keys=KEYS) as (_, url):
        sdk = client(url, ALICE)
        returns = await sdk.files.create(file=("returns.txt", RETURNS.encode(), "text/plain"), purpose="assistants")
        shipping = await sdk.files.create(file=("shipping.md", SHIPPING.encode(), "text/markdown"),
                                          purpose="assistants")
        handbook = await sdk.files.create(file=("handbook.pdf", pdf([[FILLER[i:i + 90] for i in range(0, 2000, 90)],
                                                                      [BOILER[:90], BOILER[90:]]]),
                                                "application/pdf"), purpose="assistants")
        store = await sdk.vector_stores.create(name="support", file_ids=[returns.id, shipping.id],
                                               metadata={"team": "care"},
                                               expires_after={"anchor": "last_active_at", "days": 7})
        assert store.id.startswith("vs_") and store.object == "vector_store" and store.name == "support"
        assert store.file_counts.total == 2 and store.metadata == {"team": "care"}
        assert store.expires_after is not None and store.expires_at == store.last_active_at + 7 * 86400
        added = await sdk.vector_stores.files.create_and_poll(
            vector_store_id=store.id, file_id=handbook.id, attributes={"kind": "manual", "year": 2024},
            chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}})
        assert added.status == "completed" and added.last_error is None and added.usage_bytes > 0
        assert added.attributes == {"kind": "manual", "year": 2024}
        assert added.chunking_strategy is not None and added.chunking_strategy.type == "static"
        assert added.chunking_strategy.static.max_chunk_size_tokens == 200  # type: ignore[union-attr]
        await _indexed(sdk, store.id)
        done = await sdk.vector_stores.retrieve(store.id)
        assert done.status == "completed" and done.file_counts.completed == 3 and done.usage_bytes > 0

        found = [r async for r in await sdk.vector_stores.search(store.id, query="how long do refunds take?")]
        assert found[0].file_id == returns.id and found[0].filename == "returns.txt"
        assert "30 days" in found[0].content[0].text and 0 < found[0].score <= 1
        assert all(a.score >= b.score for a, b in zip(found, found[1:], strict=False))
        lookup = await sdk.vector_stores.search(store.id, query="E4107", max_num_results=1)
        assert [(r.file_id, r.attributes) for r in lookup.data] == [(handbook.id, {"kind": "manual", "year": 2024})]
        assert "pressure sensor" in lookup.data[0].content[0].text
        filtered = await sdk.vector_stores.search(store.id, query="refunds", filters={
            "type": "and", "filters": [{"type": "eq", "key": "kind", "value": "manual"},
                                       {"type": "gte", "key": "year", "value": 2020}]})
        assert {r.file_id for r in filtered.data} == {handbook.id}
        none = await sdk.vector_stores.search(store.id, query="refunds", filters={
            "type": "in", "key": "kind", "value": ["faq"]})
        assert none.data == []
        both = await sdk.vector_stores.search(store.id, query=["express delivery abroad", "refund to card"],
                                              ranking_options={"ranker": "none"}, max_num_results=2)
        assert {r.file_id for r in both.data} == {returns.id, shipping.id}
        strict = await sdk.vector_stores.search(store.id, query="refunds", ranking_options={"score_threshold": 1.0})
        assert all(r.score >= 1.0 for r in strict.data)

        content = [c async for c in await sdk.vector_stores.files.content(file_id=returns.id, vector_store_id=store.id)]
        assert "".join(c.text or "" for c in content) == RETURNS
        manual = [c.text async for c in await sdk.vector_stores.files.content(file_id=handbook.id,
                                                                              vector_store_id=store.id)]
        assert len(manual) > 1 and "E4107" in "".join(t or "" for t in manual)

        listed = [f.id async for f in sdk.vector_stores.files.list(store.id, limit=1, order="asc")]
        assert listed == [returns.id, shipping.id, handbook.id]
        updated = await sdk.vector_stores.files.update(file_id=returns.id, vector_store_id=store.id,
                                                       attributes={"kind": "policy"})
        assert updated.attributes == {"kind": "policy"}
        policy = await sdk.vector_stores.search(store.id, query="parcels", filters={
            "type": "eq", "key": "kind", "value": "policy"})
        assert [r.file_id for r in policy.data] == [returns.id]

        renamed = await sdk.vector_stores.update(store.id, name="care", metadata={"team": "care", "tier": "1"},
                                                 expires_after=None)
        assert renamed.name == "care" and renamed.expires_after is None and renamed.expires_at is None
        assert [s.id async for s in sdk.vector_stores.list()] == [store.id]
        gone = await sdk.vector_stores.files.delete(file_id=shipping.id, vector_store_id=store.id)
        assert gone.deleted and gone.object == "vector_store.file.deleted"
        after = await sdk.vector_stores.search(store.id, query="express delivery abroad")
        assert shipping.id not in {r.file_id for r in after.data}

        other = client(url, BOB)
        with pytest.raises(openai.NotFoundError):
            await other.vector_stores.retrieve(store.id)
        with pytest.raises(openai.NotFoundError):
            await other.vector_stores.search(store.id, query="refunds")
        with pytest.raises(openai.NotFoundError):  # alice's file is not bob's to add
            await other.vector_stores.create(file_ids=[returns.id])
        assert [s async for s in other.vector_stores.list()] == []

        await sdk.files.delete(handbook.id)  # a file deleted leaves every store, as OpenAI's does
        with pytest.raises(openai.NotFoundError):
            await sdk.vector_stores.files.retrieve(file_id=handbook.id, vector_store_id=store.id)
        manual = await sdk.vector_stores.search(store.id, query="E4107")
        assert handbook.id not in {r.file_id for r in manual.data}

        deleted = await sdk.vector_stores.delete(store.id)
        assert deleted.deleted and deleted.object == "vector_store.deleted"
        with pytest.raises(openai.NotFoundError):
            await sdk.vector_stores.retrieve(store.id)


@async_test
async def test_batches_unreadable_files_and_the_sdk_helpers(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = client(url)
        store = await sdk.vector_stores.create(name="docs")
        texts = [await sdk.files.create(file=(f"note{n}.txt", f"Note {n}: {RETURNS}".encode(), "text/plain"),
                                        purpose="assistants") for n in range(3)]
        image = await sdk.files.create(file=("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
                                       purpose="vision")
        batch = await sdk.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, files=[{"file_id": t.id, "attributes": {"n": n}} for n, t in enumerate(texts)])
        assert batch.object == "vector_store.files_batch" and batch.status == "completed"
        assert (batch.file_counts.completed, batch.file_counts.total) == (3, 3)
        in_batch = [f async for f in sdk.vector_stores.file_batches.list_files(batch_id=batch.id,
                                                                               vector_store_id=store.id)]
        assert sorted(f.attributes["n"] for f in in_batch) == [0, 1, 2]  # type: ignore[index]
        failed = await sdk.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=image.id)
        assert failed.status == "failed" and failed.last_error is not None
        assert failed.last_error.code in ("unsupported_file", "invalid_file")
        only_failed = [f.id async for f in sdk.vector_stores.files.list(store.id, filter="failed")]
        assert only_failed == [image.id]

        uploaded = await sdk.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=("boiler.txt", BOILER.encode(), "text/plain"))
        assert uploaded.status == "completed"
        found = await sdk.vector_stores.search(store.id, query="boiler pressure")
        assert found.data[0].file_id == uploaded.id

        more = await sdk.files.create(file=("late.txt", b"Late arrivals are logged by reception.", "text/plain"),
                                      purpose="assistants")
        later = await sdk.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[more.id])
        cancelled = await sdk.vector_stores.file_batches.cancel(batch_id=later.id, vector_store_id=store.id)
        assert cancelled.status in ("cancelled", "completed")  # the indexer may have been quicker
        assert (await sdk.vector_stores.file_batches.retrieve(batch_id=later.id,
                                                              vector_store_id=store.id)).id == later.id


@async_test
async def test_bad_requests_are_openai_errors(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = client(url)
        store = await sdk.vector_stores.create(name="x")
        with pytest.raises(openai.NotFoundError) as missing:
            await sdk.vector_stores.create(file_ids=["file-nope"])
        assert "file-nope" in missing.value.message
        with pytest.raises(openai.NotFoundError):
            await sdk.vector_stores.files.retrieve(file_id="file-nope", vector_store_id=store.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.vector_stores.file_batches.retrieve(batch_id="vsfb_nope", vector_store_id=store.id)
        cases = [
            ({"query": ""}, "query"),
            ({"query": "x", "max_num_results": 51}, "max_num_results"),
            ({"query": "x", "filters": {"type": "eq", "key": "k"}}, "filters.value"),
            ({"query": "x", "filters": {"type": "xor", "filters": []}}, "filters.type"),
            ({"query": "x", "ranking_options": {"score_threshold": 2}}, "ranking_options.score_threshold"),
        ]
        for body, param in cases:
            with pytest.raises(openai.BadRequestError) as bad:
                await sdk.post(f"/vector_stores/{store.id}/search", body=body, cast_to=object)
            assert bad.value.param == param, body
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.vector_stores.create(chunking_strategy={"type": "static", "static": {
                "max_chunk_size_tokens": 100, "chunk_overlap_tokens": 60}})
        assert bad.value.param == "chunking_strategy.static.chunk_overlap_tokens"
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.vector_stores.create(expires_after={"anchor": "created_at", "days": 1})  # type: ignore[typeddict-item]
        assert bad.value.param == "expires_after.anchor"
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.post(f"/vector_stores/{store.id}/file_batches", body={"file_ids": []}, cast_to=object)
        assert bad.value.param == "file_ids"


@async_test
async def test_replicas_on_postgresql_share_stores(tmp_path: Path) -> None:
    async with postgres() as server:
        tables = {"keys": KEYS, "storage": {"url": server.url}}
        async with gateway(tmp_path / "a", **tables) as (_, one), gateway(tmp_path / "b", **tables) as (_, other):
            made = await client(one, ALICE).files.create(file=("boiler.txt", BOILER.encode(), "text/plain"),
                                                         purpose="assistants")
            store = await client(one, ALICE).vector_stores.create(name="shared", file_ids=[made.id])
            there = client(other, ALICE)
            await _indexed(there, store.id)
            found = await there.vector_stores.search(store.id, query="boiler pressure gauge")
            assert [r.file_id for r in found.data] == [made.id] and "1.5 bar" in found.data[0].content[0].text
            with pytest.raises(openai.NotFoundError):
                await client(other, BOB).vector_stores.search(store.id, query="boiler")
            assert (await there.vector_stores.delete(store.id)).deleted
            with pytest.raises(openai.NotFoundError):
                await client(one, ALICE).vector_stores.retrieve(store.id)


class _SlowModel(MiniLM):
    """The real model, given three seconds before it embeds: a file that takes longer than its lease."""

    def embed(self, texts: Sequence[str], stop: threading.Event | None = None) -> list[list[float]]:
        time.sleep(3)
        return super().embed(texts, stop)


async def _indexing(tmp_path: Path, model: MiniLM, lease: int) -> tuple[VectorIndexer, str]:
    """An indexer of its own on the data directory's stores, a text file added to a store for it to
    index: the indexer, and the file's id."""
    files, store = FileStore(tmp_path / "files.sqlite3"), VectorStoreStore(tmp_path / "vectors.sqlite3")
    indexer = VectorIndexer(store, files, model, lease=lease, sweep=60)
    now = int(time.time())
    made = StoredFile(new_file_id(), "boiler.txt", "assistants", "text/plain", len(BOILER), now, None)
    await files.create("alice", made, BOILER.encode())
    await store.create("alice", wire.StoredStore("vs_1", "s", None, {}, now, now, None), [
        wire.StoredVectorFile("vs_1", made.id, made.filename, now, "in_progress", {}, wire.Chunking())])
    indexer.wake()
    return indexer, made.id


async def _indexed_file(indexer: VectorIndexer, file_id: str) -> wire.StoredVectorFile:
    try:
        for _ in range(200):
            found = await indexer.store.get_file("vs_1", file_id)
            if found is not None and found.status != "in_progress":
                return found
            await asyncio.sleep(0.05)
        raise AssertionError("not indexed")
    finally:
        await indexer.aclose()
        await indexer.store.aclose()
        await indexer.files.aclose()


@async_test
async def test_a_file_indexed_longer_than_its_lease_keeps_it(tmp_path: Path) -> None:
    indexer, file_id = await _indexing(tmp_path, _SlowModel(), lease=1)
    for _ in range(10):  # another process looks while this one embeds: the lease, renewed, holds
        await asyncio.sleep(0.25)
        assert await indexer.store.claim(int(time.time()) + 1, 10) == []
    assert (await _indexed_file(indexer, file_id)).status == "completed"


@async_test
async def test_a_file_past_the_token_limit_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_indexer, "MAX_TOKENS", 10)  # five million, as OpenAI's, in the code
    indexer, file_id = await _indexing(tmp_path, MiniLM(), lease=60)
    failed = await _indexed_file(indexer, file_id)
    assert failed.status == "failed" and failed.error == ("invalid_file", "the file's text is longer than 10 tokens")


def test_filters_compare_as_openai_describes() -> None:
    attributes: wire.Attributes = {"kind": "manual", "year": 2024, "draft": False}
    cases = [
        ({"type": "eq", "key": "kind", "value": "manual"}, True),
        ({"type": "ne", "key": "kind", "value": "manual"}, False),
        ({"type": "eq", "key": "year", "value": 2024.0}, True),
        ({"type": "gt", "key": "year", "value": 2024}, False),
        ({"type": "lte", "key": "year", "value": 2024}, True),
        ({"type": "gt", "key": "kind", "value": 3}, False),  # a string is not compared with a number
        ({"type": "eq", "key": "draft", "value": False}, True),
        ({"type": "eq", "key": "draft", "value": 0}, False),
        ({"type": "in", "key": "kind", "value": ["faq", "manual"]}, True),
        ({"type": "nin", "key": "missing", "value": ["x"]}, True),
        ({"type": "or", "filters": [{"type": "eq", "key": "kind", "value": "faq"},
                                    {"type": "lt", "key": "year", "value": 2030}]}, True),
        ({"type": "and", "filters": [{"type": "eq", "key": "kind", "value": "faq"},
                                     {"type": "lt", "key": "year", "value": 2030}]}, False),
    ]
    for filters, expected in cases:
        wire.check_filter(filters, "filters", 0)
        assert wire.matches(filters, attributes) is expected, filters
