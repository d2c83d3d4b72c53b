"""OpenAI Conversations (`/v1/conversations`) kept by the gateway, read and written by the official
`openai` SDK: the objects and their pages, turns that continue a conversation on Chat, Responses
and Anthropic upstreams (whole, streamed and in the background), the errors in OpenAI's shape, and
the stores' contract in SQLite and in a real PostgreSQL, shared by two gateways as by replicas."""

from __future__ import annotations

import sqlite3
from contextlib import aclosing
from pathlib import Path
from typing import Any

import asyncpg
import openai
import pytest

from interlingua.adapters.storage.conversations import Conversations, ConversationStore
from interlingua.adapters.storage.pg_conversations import PgConversationStore
from tests.fakes import openai_upstream as fo
from tests.harness import client, gateway, provider
from tests.servers import postgres
from tests.support import async_test
from tests.test_background import settled, upstream_of


def _said(item: Any) -> str:
    """The text of a message item, as the SDK reads it."""
    return "".join(getattr(part, "text", "") for part in item.content)


@async_test
async def test_a_conversation_is_created_read_updated_paged_and_deleted(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = client(url)
        made = await sdk.conversations.create(
            items=[{"type": "message", "role": "user", "content": f"note {n}"} for n in range(5)],
            metadata={"topic": "notes"})
        assert made.id.startswith("conv_") and made.object == "conversation" and made.metadata == {"topic": "notes"}
        assert made.created_at > 0
        found = await sdk.conversations.retrieve(made.id)
        assert (found.id, found.created_at, found.metadata) == (made.id, made.created_at, {"topic": "notes"})
        updated = await sdk.conversations.update(made.id, metadata={"topic": "kept"})
        assert updated.metadata == {"topic": "kept"}
        assert (await sdk.conversations.retrieve(made.id)).metadata == {"topic": "kept"}

        newest = await sdk.conversations.items.list(made.id, limit=2)  # newest first by default
        assert [_said(item) for item in newest.data] == ["note 4", "note 3"] and newest.has_more
        assert newest.first_id == newest.data[0].id and newest.last_id == newest.data[1].id
        assert all(item.type == "message" and item.status == "completed" and item.id.startswith("msg_")
                   for item in newest.data)
        every = [_said(item) async for item in sdk.conversations.items.list(made.id, limit=2, order="asc")]
        assert every == [f"note {n}" for n in range(5)]  # the SDK followed `last_id` through three pages
        later = await sdk.conversations.items.list(made.id, after=newest.last_id, order="desc")
        assert [_said(item) for item in later.data] == ["note 2", "note 1", "note 0"] and not later.has_more

        added = await sdk.conversations.items.create(made.id, items=[
            {"type": "message", "role": "assistant", "content": "noted"},
            {"type": "function_call_output", "call_id": "call_1", "output": "42"}])
        assert [item.type for item in added.data] == ["message", "function_call_output"]
        assert added.data[0].content[0].type == "output_text"
        item = await sdk.conversations.items.retrieve(added.data[1].id, conversation_id=made.id)
        assert (item.type, item.output) == ("function_call_output", "42")
        after_delete = await sdk.conversations.items.delete(added.data[1].id, conversation_id=made.id)
        assert (after_delete.id, after_delete.object) == (made.id, "conversation")
        with pytest.raises(openai.NotFoundError) as gone_item:
            await sdk.conversations.items.retrieve(added.data[1].id, conversation_id=made.id)
        assert gone_item.value.code == "item_not_found"
        assert len((await sdk.conversations.items.list(made.id, limit=100)).data) == 6

        deleted = await sdk.conversations.delete(made.id)
        assert (deleted.id, deleted.deleted, deleted.object) == (made.id, True, "conversation.deleted")
        for ask in (sdk.conversations.retrieve(made.id), sdk.conversations.items.list(made.id),
                    sdk.conversations.delete(made.id), sdk.conversations.update(made.id, metadata={}),
                    sdk.conversations.items.retrieve("msg_x", conversation_id=made.id)):
            with pytest.raises(openai.NotFoundError) as gone:
                await ask
            assert gone.value.code == "conversation_not_found"
            assert gone.value.body["message"] == f"Conversation with id '{made.id}' not found."  # type: ignore[index]
        empty = await sdk.conversations.create()
        assert empty.metadata == {} and (await sdk.conversations.items.list(empty.id)).data == []


@async_test
async def test_bad_conversation_requests_are_400s_naming_the_field(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = client(url)
        made = await sdk.conversations.create()
        cases: list[tuple[Any, str]] = [
            (sdk.conversations.create(metadata={f"k{n}": "v" for n in range(17)}), "metadata"),
            (sdk.conversations.create(metadata={"k": "v" * 513}), "metadata.k"),
            (sdk.conversations.create(items=[{"type": "message", "role": "user", "content": "x"}] * 21), "items"),
            (sdk.conversations.create(items=[{"type": "message", "role": "user"}]), "items[0].content"),
            (sdk.conversations.items.create(made.id, items=[{"type": "message", "role": "wizard", "content": "x"}]),
             "items[0].role"),
            (sdk.conversations.items.list(made.id, limit=101), "limit"),
            (sdk.conversations.items.list(made.id, order="sideways"), "order"),  # type: ignore[arg-type]
            (sdk.conversations.update(made.id, metadata=None), "metadata"),
            (sdk.responses.create(model="gpt-x", input="hi", conversation=made.id, previous_response_id="resp_1"),
             "conversation"),
            (sdk.responses.create(model="gpt-x", input="hi", conversation={"id": ""}), "conversation.id"),
        ]
        for ask, param in cases:
            with pytest.raises(openai.BadRequestError) as refused:
                await ask
            assert refused.value.body["param"] == param, param  # type: ignore[index]
        with pytest.raises(openai.NotFoundError) as unknown:
            await sdk.responses.create(model="gpt-x", input="hi", conversation="conv_unknown")
        assert unknown.value.code == "conversation_not_found"
        assert unknown.value.body["param"] == "conversation"  # type: ignore[index]


@pytest.mark.parametrize("kind", ["chat", "responses", "anthropic"])
@async_test
async def test_turns_continue_a_conversation_on_any_upstream(tmp_path: Path, kind: str) -> None:
    fake, text, table = upstream_of(kind)
    async with fake, gateway(tmp_path, providers={"up": table()}) as (_, url):
        sdk = client(url)
        made = await sdk.conversations.create(items=[{"type": "message", "role": "user",
                                                      "content": "My name is Ada."}])
        fake.script(text("Hello Ada."))
        first = await sdk.responses.create(model="gpt-x", input="Greet me.", conversation=made.id)
        assert first.output_text == "Hello Ada."
        assert first.conversation is not None and first.conversation.id == made.id
        assert "My name is Ada." in str(fake.requests[-1].json)
        assert "conversation" not in fake.requests[-1].json
        fake.script(text("Ada, again."))
        second = await sdk.responses.create(model="gpt-x", input=[{"role": "user", "content": "Once more."}],
                                            conversation={"id": made.id})
        assert second.output_text == "Ada, again."
        sent = str(fake.requests[-1].json)
        assert all(said in sent for said in ("My name is Ada.", "Greet me.", "Hello Ada.", "Once more."))
        items = (await sdk.conversations.items.list(made.id, order="asc")).data
        assert [(item.role, _said(item)) for item in items] == [  # type: ignore[union-attr]
            ("user", "My name is Ada."), ("user", "Greet me."), ("assistant", "Hello Ada."),
            ("user", "Once more."), ("assistant", "Ada, again.")]
        assert items[2].id == first.output[0].id  # the answer's own item
        # One turn's items, one id each: the stored response lists the ids its conversation has.
        assert [item.id for item in (await sdk.responses.input_items.list(second.id)).data] == [items[3].id]
        counted = await sdk.responses.input_tokens.count(model="gpt-x", input="Last one?", conversation=made.id)
        alone = await sdk.responses.input_tokens.count(model="gpt-x", input="Last one?")
        assert counted.input_tokens > alone.input_tokens  # the history is counted too


@pytest.mark.parametrize("kind", ["chat", "responses"])
@async_test
async def test_a_streamed_turn_is_in_the_conversation_when_its_stream_ends(tmp_path: Path, kind: str) -> None:
    fake, text, table = upstream_of(kind)
    async with fake, gateway(tmp_path, providers={"up": table()}) as (_, url):
        sdk = client(url)
        made = await sdk.conversations.create()
        fake.script(text("Sunny", " all week"))
        async with sdk.responses.stream(model="gpt-x", input="Weather?", conversation=made.id) as stream:
            done = await stream.get_final_response()
        assert done.output_text == "Sunny all week"
        items = (await sdk.conversations.items.list(made.id, order="asc")).data
        assert [_said(item) for item in items] == ["Weather?", "Sunny all week"]
        assert items[1].id == done.output[0].id


@async_test
async def test_a_background_turn_joins_its_conversation_when_it_completes(tmp_path: Path) -> None:
    fake, text, table = upstream_of("anthropic")
    async with fake, gateway(tmp_path, providers={"up": table()}) as (_, url):
        sdk = client(url)
        made = await sdk.conversations.create()
        fake.script(text("Later, ", "done.", head_delay=0.5))
        queued = await sdk.responses.create(model="gpt-x", input="A long job", conversation=made.id,
                                            background=True)
        assert queued.status == "queued" and queued.conversation is not None and queued.conversation.id == made.id
        assert (await sdk.conversations.items.list(made.id)).data == []  # nothing until it has an answer
        finished = await settled(sdk, queued.id)
        assert finished.status == "completed" and finished.conversation is not None
        items = (await sdk.conversations.items.list(made.id, order="asc")).data
        assert [_said(item) for item in items] == ["A long job", "Later, done."]


@async_test
async def test_a_failed_turn_leaves_the_conversation_as_it_was(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(tmp_path, providers={"up": provider(fake.url, "gpt-x")}) as (
            _, url):
        sdk = client(url)
        made = await sdk.conversations.create(items=[{"role": "user", "content": "kept"}])
        fake.script(fo.error(400, "bad things"))
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.create(model="gpt-x", input="lost", conversation=made.id)
        assert [_said(item) for item in (await sdk.conversations.items.list(made.id)).data] == ["kept"]


ME = "alice"  # the calling key


async def _keeps_the_contract(store: Conversations) -> None:
    made, created = await store.create(ME, {"a": "1"}, [{"id": f"msg_{n}", "n": n} for n in range(3)])
    assert await store.get(ME, made) == (created, {"a": "1"})
    assert await store.update(ME, made, {"b": "2"}) == created and (await store.get(ME, made)) == (created, {"b": "2"})
    assert await store.append(ME, made, [{"id": "msg_3", "n": 3}]) is True
    assert [i["n"] for i in await store.items(ME, made) or []] == [0, 1, 2, 3]
    page = await store.page(ME, made, None, 2, True)
    assert page is not None and [i["n"] for i in page[0]] == [3, 2] and page[1] is True
    page = await store.page(ME, made, "msg_2", 5, True)
    assert page is not None and [i["n"] for i in page[0]] == [1, 0] and page[1] is False
    page = await store.page(ME, made, "msg_0", 2, False)
    assert page is not None and [i["n"] for i in page[0]] == [1, 2] and page[1] is True
    assert await store.item(ME, made, "msg_1") == {"id": "msg_1", "n": 1}
    assert await store.delete_item(ME, made, "msg_1") is True and await store.delete_item(ME, made, "msg_1") is False
    assert await store.item(ME, made, "msg_1") is None
    assert await store.delete(ME, made) is True
    for gone in (store.get(ME, made), store.items(ME, made), store.page(ME, made, None, 5, False),
                 store.delete_item(ME, made, "x")):
        assert await gone is None
    assert await store.append(ME, made, [{"id": "msg_9"}]) is False and await store.delete(ME, made) is False
    other, _ = await store.create(ME, {}, [])
    assert await store.items(ME, other) == []
    await _found_only_by_its_key(store)


async def _found_only_by_its_key(store: Conversations) -> None:
    """Another key finds nothing under a conversation's id, and changes nothing; an open gateway
    (no key) finds them all, and a conversation made open is found by every key."""
    made, created = await store.create(ME, {"a": "1"}, [{"id": "msg_0"}])
    for ask in (store.get("bob", made), store.items("bob", made), store.page("bob", made, None, 5, False),
                store.item("bob", made, "msg_0"), store.delete_item("bob", made, "msg_0"),
                store.update("bob", made, {"b": "2"})):
        assert await ask is None
    assert await store.append("bob", made, [{"id": "msg_1"}]) is False and await store.delete("bob", made) is False
    assert await store.get(ME, made) == (created, {"a": "1"})
    assert [item["id"] for item in await store.items(None, made) or []] == ["msg_0"]
    shared, _ = await store.create(None, {}, [{"id": "msg_0"}])
    assert await store.item("bob", shared, "msg_0") == {"id": "msg_0"} and await store.delete("bob", shared)


# The tables as a gateway made them before conversations had owners, with one conversation.
_OLD_TABLES = ("CREATE TABLE conversations (id TEXT PRIMARY KEY, created INTEGER NOT NULL, metadata BLOB NOT NULL)",
               "INSERT INTO conversations VALUES ('conv_old', 1, '{}')")


async def _old_one_found_by_every_key(store: Conversations) -> None:
    """A conversation made before owners were kept is found by every key, as it was."""
    assert await store.get("bob", "conv_old") == (1, {}) and await store.get(ME, "conv_old") == (1, {})


@async_test
async def test_the_sqlite_store_keeps_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    with sqlite3.connect(path) as old:
        for statement in _OLD_TABLES:
            old.execute(statement)
    async with aclosing(ConversationStore(path)) as store:
        await _old_one_found_by_every_key(store)
        await _keeps_the_contract(store)


@async_test
async def test_replicas_on_postgresql_share_conversations(tmp_path: Path) -> None:
    async with postgres() as server:
        old = await asyncpg.connect(server.url)
        for statement in _OLD_TABLES:
            await old.execute(statement.replace("BLOB", "BYTEA").replace("'{}'", "'{}'::bytea"))
        await old.close()
        async with aclosing(PgConversationStore(server.url)) as store:
            await _old_one_found_by_every_key(store)
            await _keeps_the_contract(store)
        async with fo.FakeOpenAI(["gpt-x"]) as fake:
            tables = {"providers": {"up": provider(fake.url, "gpt-x")}, "storage": {"url": server.url}}
            async with gateway(tmp_path / "a", **tables) as (_, one), gateway(tmp_path / "b", **tables) as (_, other):
                made = await client(one).conversations.create(items=[{"role": "user", "content": "Hi, I am Bo."}])
                fake.script(fo.text("Hello Bo."))
                await client(other).responses.create(model="gpt-x", input="Who am I?", conversation=made.id)
                items = (await client(one).conversations.items.list(made.id, order="asc")).data
                assert [_said(item) for item in items] == ["Hi, I am Bo.", "Who am I?", "Hello Bo."]
                await server.stop()
                with pytest.raises(openai.InternalServerError) as away:
                    await client(one).conversations.retrieve(made.id)
                assert away.value.status_code == 503 and "unreachable" in away.value.message
                await server.start()  # a pool's connection from before may fail once: a 503 the SDK retries
                assert (await client(other).with_options(max_retries=3).conversations.retrieve(made.id)).id == made.id


@async_test
async def test_two_workers_on_one_data_directory_share_conversations(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as fake:
        tables = {"providers": {"up": provider(fake.url, "gpt-x")}}
        async with gateway(tmp_path, **tables) as (_, one), gateway(tmp_path, **tables) as (_, other):
            made = await client(one).conversations.create()
            fake.script(fo.text("Noted."))
            answer = await client(other).responses.create(model="gpt-x", input="Remember 7.", conversation=made.id)
            items = (await client(one).conversations.items.list(made.id, order="asc")).data
            assert [item.id for item in items][-1] == answer.output[0].id
