"""Stored Chat Completions (`store: true`) read back through the official `openai` SDK's
`client.chat.completions.retrieve/update/list/delete` and `.messages.list`: kept by the gateway for
any upstream, whole or streamed (a translated stream with a tool call folded as OpenAI keeps it),
listed by model and metadata, a page at a time, each key's own; the stores' contract in SQLite and
a real PostgreSQL."""

from __future__ import annotations

import json
from contextlib import aclosing
from pathlib import Path

import openai
import pytest

from interlingua.adapters.storage.completions import Completions, CompletionStore
from interlingua.adapters.storage.pg_completions import PgCompletionStore
from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_provider, client, gateway, provider
from tests.servers import postgres
from tests.support import async_test

ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"


async def _gone(ask: object) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        await ask  # type: ignore[misc]
    assert "not found" in refused.value.message


@async_test
async def test_a_stored_completion_is_retrieved_listed_updated_and_deleted(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x", "gpt-y"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x", "gpt-y")}) as (_, url):
        sdk = client(url)
        fake.script(fo.text("Paris."))
        first = await sdk.chat.completions.create(
            model="gpt-x", store=True, metadata={"topic": "geo", "run": "1"}, temperature=0.2, seed=7,
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": [{"type": "text", "text": "Capital of "},
                                                   {"type": "text", "text": "France?"}]}])
        kept = await sdk.chat.completions.retrieve(first.id)
        assert kept.id == first.id and kept.choices[0].message.content == "Paris."
        assert kept.usage is not None and kept.usage.total_tokens == first.usage.total_tokens  # type: ignore[union-attr]
        extra = kept.model_extra or {}
        assert kept.metadata == {"topic": "geo", "run": "1"}
        assert extra["temperature"] == 0.2 and extra["seed"] == 7 and extra["request_id"]

        messages = (await sdk.chat.completions.messages.list(first.id)).data
        assert [m.id for m in messages] == [f"{first.id}-0", f"{first.id}-1"]
        assert messages[0].content == "Be brief." and messages[0].content_parts is None
        assert messages[1].content == "Capital of France?"
        assert [p.text for p in messages[1].content_parts or ()] == ["Capital of ", "France?"]  # type: ignore[union-attr]

        fake.script(fo.text("Madrid."), fo.text("Rome."), fo.text("Not kept."))
        second = await sdk.chat.completions.create(model="gpt-y", store=True, metadata={"topic": "geo"},
                                                   messages=[{"role": "user", "content": "Capital of Spain?"}])
        third = await sdk.chat.completions.create(model="gpt-x", store=True,
                                                  messages=[{"role": "user", "content": "Capital of Italy?"}])
        unkept = await sdk.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "Hi"}])
        await _gone(sdk.chat.completions.retrieve(unkept.id))

        assert [c.id async for c in sdk.chat.completions.list(limit=2)] == [first.id, second.id, third.id]
        page = await sdk.chat.completions.list(limit=2, order="desc")
        assert [c.id for c in page.data] == [third.id, second.id] and page.has_more
        assert [c.id for c in (await sdk.chat.completions.list(model="gpt-x")).data] == [first.id, third.id]
        geo = await sdk.chat.completions.list(metadata={"topic": "geo"})
        assert [c.id for c in geo.data] == [first.id, second.id]
        assert [c.id for c in (await sdk.chat.completions.list(metadata={"topic": "geo", "run": "1"})).data] == [
            first.id]

        updated = await sdk.chat.completions.update(second.id, metadata={"topic": "done"})
        assert updated.metadata == {"topic": "done"}
        assert updated.choices[0].message.content == "Madrid."
        assert [c.id for c in (await sdk.chat.completions.list(metadata={"topic": "geo"})).data] == [first.id]

        deleted = await sdk.chat.completions.delete(first.id)
        assert deleted.deleted and deleted.id == first.id and deleted.object == "chat.completion.deleted"
        await _gone(sdk.chat.completions.retrieve(first.id))
        await _gone(sdk.chat.completions.messages.list(first.id))
        await _gone(sdk.chat.completions.update(first.id, metadata={}))
        await _gone(sdk.chat.completions.delete(first.id))
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.chat.completions.create(model="gpt-x", store=True, metadata={"k" * 65: "v"},
                                              messages=[{"role": "user", "content": "Hi"}])
        assert refused.value.param == "metadata"


@async_test
async def test_a_translated_stream_is_kept_folded(tmp_path: Path) -> None:
    async with fa.FakeAnthropic(["claude-x"], require_thinking_in_tool_turns=False) as fake, gateway(
            tmp_path, providers={"up": anthropic_provider(fake.url, "claude-x")}) as (_, url):
        sdk = client(url)
        fake.script(fa.reply(fa.say("Let me ", "look."), fa.call("weather", '{"city": ', '"Oslo"}')))
        tools = [{"type": "function", "function": {"name": "weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
        stream = await sdk.chat.completions.create(
            model="claude-x", store=True, stream=True, stream_options={"include_usage": True}, tools=tools,
            messages=[{"role": "user", "content": "Weather in Oslo?"}])
        chunks = [chunk async for chunk in stream]
        kept = await sdk.chat.completions.retrieve(chunks[0].id)
        message = kept.choices[0].message
        assert kept.object == "chat.completion" and kept.model == chunks[0].model
        assert message.content == "Let me look." and kept.choices[0].finish_reason == "tool_calls"
        assert message.tool_calls is not None and len(message.tool_calls) == 1
        call = message.tool_calls[0]
        assert call.function.name == "weather" and json.loads(call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
        streamed_ids = [part.id for chunk in chunks for choice in chunk.choices
                        for part in choice.delta.tool_calls or () if part.id]
        assert streamed_ids == [call.id]
        assert kept.usage is not None and kept.usage == chunks[-1].usage
        assert (kept.model_extra or {})["tools"] == tools

        fake.script(fa.fail_mid_stream("Half"))
        failed = await sdk.chat.completions.create(model="claude-x", store=True, stream=True,
                                                   messages=[{"role": "user", "content": "Go"}])
        with pytest.raises(openai.APIError):
            [chunk async for chunk in failed]
        assert [c.id for c in (await sdk.chat.completions.list()).data] == [kept.id]  # the failed one is not kept


@async_test
async def test_a_passed_through_stream_is_kept_folded(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x")}) as (_, url):
        sdk = client(url)
        fake.script(fo.Reply(content=("A", "B"), reasoning=("th", "ink"),
                             tool_calls=(fo.call("f", '{"a":', '1}'), fo.call("g"))))
        stream = await sdk.chat.completions.create(model="gpt-x", store=True, stream=True, logprobs=True,
                                                   messages=[{"role": "user", "content": "x"}])
        chunks = [chunk async for chunk in stream]
        kept = await sdk.chat.completions.retrieve(chunks[0].id)
        message = kept.choices[0].message
        assert (message.content, (message.model_extra or {})["reasoning_content"]) == ("AB", "think")
        assert [(c.function.name, c.function.arguments) for c in message.tool_calls or ()] == [  # type: ignore[union-attr]
            ("f", '{"a":1}'), ("g", "{}")]
        assert [c.id for c in message.tool_calls or ()] == [
            part.id for chunk in chunks for part in chunk.choices[0].delta.tool_calls or () if part.id]
        assert kept.choices[0].finish_reason == "tool_calls" and kept.system_fingerprint == chunks[0].system_fingerprint
        assert all(c.usage is None for c in chunks)  # not asked for in the stream, yet kept, as OpenAI keeps it
        assert kept.usage is not None and (kept.usage.prompt_tokens, kept.usage.completion_tokens) == (10, 5)
        logprobs = kept.choices[0].logprobs
        assert logprobs is not None and [t.token for t in logprobs.content or ()] == ["A", "B"]


@async_test
async def test_a_key_finds_only_its_own_completions(tmp_path: Path) -> None:
    keys = {"alice": {"key": ALICE}, "bob": {"key": BOB}}
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x")}, keys=keys) as (_, url):
        alice, bob = client(url, ALICE), client(url, BOB)
        fake.script(fo.text("Hi Al."))
        made = await alice.chat.completions.create(model="gpt-x", store=True, metadata={"who": "al"},
                                                   messages=[{"role": "user", "content": "I am Al."}])
        for ask in (bob.chat.completions.retrieve(made.id), bob.chat.completions.messages.list(made.id),
                    bob.chat.completions.update(made.id, metadata={"who": "bob"}),
                    bob.chat.completions.delete(made.id)):
            await _gone(ask)
        assert (await bob.chat.completions.list()).data == []
        kept = await alice.chat.completions.retrieve(made.id)
        assert kept.metadata == {"who": "al"}
        assert [c.id for c in (await alice.chat.completions.list()).data] == [made.id]


async def _keeps_the_contract(store: Completions) -> None:
    def completion(n: int, model: str) -> dict[str, object]:
        return {"id": f"chatcmpl-{n}", "object": "chat.completion", "model": model, "choices": []}
    for n, (model, metadata) in enumerate([("a", {"k": "1"}), ("b", {"k": "1", "j": "2"}), ("a", {})]):
        await store.put("alice", completion(n, model + "-2025"), [{"role": "user", "content": str(n)}], model, metadata)
    await store.put(None, completion(9, "a"), [], "a", {})  # made on an open gateway: every key's
    assert await store.get("bob", "chatcmpl-0") is None
    assert (await store.get("alice", "chatcmpl-1")) == {**completion(1, "b-2025"), "metadata": {"k": "1", "j": "2"}}
    assert await store.messages("alice", "chatcmpl-2") == [{"role": "user", "content": "2"}]

    async def ids(owner: str | None, after: str | None = None, limit: int = 20, desc: bool = False,
                  model: str | None = None, metadata: dict[str, str] | None = None) -> tuple[list[object], bool]:
        found, more = await store.page(owner, after, limit, desc, model, metadata or {})
        return [c["id"] for c in found], more
    assert await ids("alice") == (["chatcmpl-0", "chatcmpl-1", "chatcmpl-2", "chatcmpl-9"], False)
    assert await ids("bob") == (["chatcmpl-9"], False)
    assert await ids("alice", limit=2, desc=True) == (["chatcmpl-9", "chatcmpl-2"], True)
    assert await ids("alice", after="chatcmpl-2", limit=1, desc=True) == (["chatcmpl-1"], True)
    assert await ids("alice", model="a") == (["chatcmpl-0", "chatcmpl-2", "chatcmpl-9"], False)
    assert await ids("alice", model="b-2025") == (["chatcmpl-1"], False)  # the model that answered
    assert await ids("alice", metadata={"k": "1"}, limit=1) == (["chatcmpl-0"], True)
    assert await ids("alice", metadata={"j": "2"}) == (["chatcmpl-1"], False)
    assert await store.update("bob", "chatcmpl-1", {"x": "y"}) is None
    assert (await store.update("alice", "chatcmpl-1", {"x": "y"}) or {})["metadata"] == {"x": "y"}
    assert not await store.delete("bob", "chatcmpl-1")
    assert await store.delete("alice", "chatcmpl-1") and await store.get("alice", "chatcmpl-1") is None


@async_test
async def test_the_sqlite_store_keeps_the_contract(tmp_path: Path) -> None:
    async with aclosing(CompletionStore(tmp_path / "responses.sqlite3")) as store:
        await _keeps_the_contract(store)
    expired = CompletionStore(tmp_path / "responses.sqlite3", keep_days=1e-9)
    try:
        assert await expired.get(None, "chatcmpl-0") is None
    finally:
        await expired.aclose()


@async_test
async def test_replicas_on_postgresql_share_completions(tmp_path: Path) -> None:
    async with postgres() as server:
        async with aclosing(PgCompletionStore(server.url)) as store:
            await _keeps_the_contract(store)
        async with fo.FakeOpenAI(["gpt-x"]) as fake:
            tables = {"providers": {"up": provider(fake.url, "gpt-x")}, "storage": {"url": server.url}}
            async with gateway(tmp_path / "a", **tables) as (_, one), gateway(tmp_path / "b", **tables) as (_, other):
                fake.script(fo.text("Kept."))
                made = await client(one).chat.completions.create(model="gpt-x", store=True, metadata={"r": "1"},
                                                                 messages=[{"role": "user", "content": "Keep"}])
                assert (await client(other).chat.completions.retrieve(made.id)).choices[0].message.content == "Kept."
                assert [c.id for c in (await client(other).chat.completions.list(metadata={"r": "1"})).data] == [
                    made.id]
