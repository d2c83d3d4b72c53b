"""Gemini's context caches kept by the gateway, through google-genai's `client.caches`: created,
read, listed, extended and deleted in Gemini's shapes, each key's own; a turn naming one reads it on
any upstream (Claude, Gemini) as if it had sent the cache's contents, system instruction and tools
itself; the stores' contract in SQLite and a real PostgreSQL."""

from __future__ import annotations

import time
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest
from google.genai import errors as genai_errors

from interlingua.adapters.dialects.gemini_caches import StoredCache
from interlingua.adapters.storage.caches import Caches, CacheStore
from interlingua.adapters.storage.pg_caches import PgCacheStore
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.harness import anthropic_provider, gateway, gemini_client, gemini_provider
from tests.servers import postgres
from tests.support import async_test

ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"
BOOK = "A long book, read once and asked about many times. " * 40


@async_test
async def test_a_cache_is_kept_and_read_by_turns_on_any_upstream(tmp_path: Path) -> None:
    keys = {"alice": {"key": ALICE}, "bob": {"key": BOB}}
    async with fa.FakeAnthropic(["claude-x"]) as claude, fg.FakeGemini(["gemini-2.5-flash"]) as gemini, gateway(
            tmp_path, providers={"an": anthropic_provider(claude.url, "claude-x"),
                                 "gm": gemini_provider(gemini.url, "gemini-2.5-flash")}, keys=keys) as (_, url):
        sdk, other = gemini_client(url, ALICE), gemini_client(url, BOB)
        cache = await sdk.aio.caches.create(model="claude-x", config={
            "contents": [{"role": "user", "parts": [{"text": BOOK}]}], "system_instruction": "Answer from the book.",
            "display_name": "book", "ttl": "600s"})
        assert cache.name is not None and cache.name.startswith("cachedContents/") and cache.display_name == "book"
        assert cache.model == "models/claude-x" and cache.usage_metadata is not None
        assert cache.usage_metadata.total_token_count is not None and cache.usage_metadata.total_token_count > 400
        assert cache.expire_time is not None and cache.create_time is not None
        assert (cache.expire_time - cache.create_time).total_seconds() == 600

        claude.script(fa.text("It is long."))
        answer = await sdk.aio.models.generate_content(model="claude-x", contents="What is the book like?",
                                                       config={"cached_content": cache.name})
        assert answer.text == "It is long."
        asked = claude.requests[-1].json
        assert asked["system"] == [{"type": "text", "text": "Answer from the book."}]
        assert [b["text"] for m in asked["messages"] for b in m["content"]] == [BOOK, "What is the book like?"]

        gemini.script(fg.text("Long indeed."))
        chunks = [chunk.text async for chunk in await sdk.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="And shorter?", config={"cached_content": cache.name})]
        assert "".join(c for c in chunks if c) == "Long indeed."
        sent = gemini.requests[-1].json
        assert "cachedContent" not in sent and sent["systemInstruction"]["parts"] == [{"text": "Answer from the book."}]
        assert [c["parts"][0]["text"] for c in sent["contents"]] == [BOOK, "And shorter?"]

        async with httpx.AsyncClient() as http:  # countTokens' wrapped form, naming the cache inside it
            counted = await http.post(f"{url}/v1beta/models/gemini-2.5-flash:countTokens", headers={
                "x-goog-api-key": ALICE}, json={"generateContentRequest": {
                    "model": "models/gemini-2.5-flash", "cachedContent": cache.name,
                    "contents": [{"role": "user", "parts": [{"text": "How long?"}]}]}})
        assert counted.status_code == 200, counted.text
        inner = gemini.requests[-1].json["generateContentRequest"]
        assert [c["parts"][0]["text"] for c in inner["contents"]] == [BOOK, "How long?"]
        assert counted.json()["totalTokens"] == fg.count_tokens(gemini.requests[-1].json)

        with pytest.raises(genai_errors.ClientError) as twice:
            await sdk.aio.models.generate_content(model="claude-x", contents="Hi", config={
                "cached_content": cache.name, "system_instruction": "Mine."})
        assert twice.value.code == 400 and "systemInstruction" in str(twice.value.message)

        assert (await sdk.aio.caches.get(name=cache.name)).display_name == "book"
        assert [c.name async for c in await sdk.aio.caches.list()] == [cache.name]
        longer = await sdk.aio.caches.update(name=cache.name, config={"ttl": "7200s"})
        assert longer.expire_time is not None and longer.update_time is not None
        assert (longer.expire_time - longer.update_time).total_seconds() == 7200

        asked_before = len(claude.requests)
        for ask in (other.aio.caches.get(name=cache.name), other.aio.caches.delete(name=cache.name),
                    other.aio.models.generate_content(model="claude-x", contents="Hi",
                                                      config={"cached_content": cache.name})):
            with pytest.raises(genai_errors.ClientError) as hidden:
                await ask
            assert hidden.value.code == 404
        assert len(claude.requests) == asked_before and [c async for c in await other.aio.caches.list()] == []

        await sdk.aio.caches.delete(name=cache.name)
        with pytest.raises(genai_errors.ClientError) as gone:
            await sdk.aio.caches.get(name=cache.name)
        assert gone.value.code == 404
        with pytest.raises(genai_errors.ClientError) as bad:
            await sdk.aio.caches.create(model="claude-x", config={"contents": [
                {"role": "user", "parts": [{"text": "x"}]}], "ttl": "forever"})
        assert bad.value.code == 400


async def _keeps_the_contract(store: Caches) -> None:
    now = int(time.time())
    made = [StoredCache(f"cache-{n}", "m", f"c{n}", 10, now, now, now + 60) for n in range(3)]
    for cache in made:
        await store.create("alice", cache, cache.id.encode())
    await store.create("alice", StoredCache("cache-old", "m", "old", 1, now - 10, now - 10, now - 1), b"x")
    assert await store.get("alice", "cache-1") == (made[1], b"cache-1")
    assert await store.get("bob", "cache-1") is None and await store.get(None, "cache-1") == (made[1], b"cache-1")
    assert await store.get("alice", "cache-old") is None  # expired
    assert await store.page("alice", None, 2) == (made[:2], True)
    assert await store.page("alice", "cache-1", 2) == (made[2:], False)
    assert await store.page("bob", None, 2) == ([], False)
    assert await store.extend("bob", "cache-0", now + 600) is None
    extended = await store.extend("alice", "cache-0", now + 600)
    assert extended is not None and extended.expires == now + 600
    assert await store.delete("bob", "cache-0") is False and await store.delete("alice", "cache-0") is True
    assert await store.get("alice", "cache-0") is None


@async_test
async def test_the_sqlite_store_keeps_the_contract(tmp_path: Path) -> None:
    async with aclosing(CacheStore(tmp_path / "files.sqlite3")) as store:
        await _keeps_the_contract(store)


@async_test
async def test_the_postgresql_store_keeps_the_contract(tmp_path: Path) -> None:
    async with postgres() as server:
        async with aclosing(PgCacheStore(server.url)) as store:
            await _keeps_the_contract(store)
