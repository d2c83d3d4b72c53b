"""Stored Responses and conversations belong to the gateway key that made them, read through the
official `openai` SDK: another key gets OpenAI's 404 for every way of reaching them (retrieve,
input items, delete, cancel, continue; a conversation's every endpoint and a turn in it), changes
nothing, and sends nothing upstream; the owner goes on as before. The stores' side, with rows from
before owners were kept, is in `test_responses_store.py` and `test_conversations.py`."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes import openai_upstream as fo
from tests.harness import client, gateway, provider
from tests.support import async_test

ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"


async def _not_found(ask: Awaitable[Any], code: str) -> openai.NotFoundError:
    with pytest.raises(openai.NotFoundError) as refused:
        await ask
    assert refused.value.code == code
    return refused.value


@async_test
async def test_a_key_finds_only_its_own_responses_and_conversations(tmp_path: Path) -> None:
    keys = {"alice": {"key": ALICE}, "bob": {"key": BOB}}
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x")}, keys=keys) as (_, url):
        alice, bob = client(url, ALICE), client(url, BOB)
        fake.script(fo.text("Paris."))
        first = await alice.responses.create(model="gpt-x", input="Capital of France?")
        made = await alice.conversations.create(items=[{"role": "user", "content": "I am Al."}], metadata={"who": "al"})
        item = (await alice.conversations.items.list(made.id)).data[0].id
        asked = len(fake.requests)

        for ask in (bob.responses.retrieve(first.id), bob.responses.input_items.list(first.id),
                    bob.responses.delete(first.id), bob.responses.cancel(first.id)):
            gone = await _not_found(ask, "response_not_found")
            assert gone.body["message"] == f"Response with id '{first.id}' not found."  # type: ignore[index]
        gone = await _not_found(bob.responses.create(model="gpt-x", input="And Spain?", previous_response_id=first.id),
                                "response_not_found")
        assert gone.param == "previous_response_id"
        for ask in (bob.conversations.retrieve(made.id), bob.conversations.update(made.id, metadata={"who": "bob"}),
                    bob.conversations.delete(made.id), bob.conversations.items.list(made.id),
                    bob.conversations.items.create(made.id, items=[{"role": "user", "content": "I am Bob."}]),
                    bob.conversations.items.retrieve(item, conversation_id=made.id),
                    bob.conversations.items.delete(item, conversation_id=made.id),
                    bob.responses.create(model="gpt-x", input="Who am I?", conversation=made.id)):
            await _not_found(ask, "conversation_not_found")
        assert len(fake.requests) == asked  # none of Bob's reached the upstream

        assert (await alice.responses.retrieve(first.id)).output_text == "Paris."
        fake.script(fo.text("Madrid."))
        second = await alice.responses.create(model="gpt-x", input="And Spain?", previous_response_id=first.id)
        assert second.previous_response_id == first.id and second.output_text == "Madrid."
        assert [m["content"] for m in fake.requests[-1].json["messages"]] == ["Capital of France?", "Paris.",
                                                                             "And Spain?"]
        assert (await alice.conversations.retrieve(made.id)).metadata == {"who": "al"}
        fake.script(fo.text("You are Al."))
        await alice.responses.create(model="gpt-x", input="Who am I?", conversation=made.id)
        items = (await alice.conversations.items.list(made.id, order="asc")).data
        assert [part.text for entry in items for part in entry.content] == ["I am Al.", "Who am I?", "You are Al."]
        fake.script(fo.text("Later.", head_delay=30))
        running = await alice.responses.create(model="gpt-x", input="A long job", background=True)
        await _not_found(bob.responses.cancel(running.id), "response_not_found")
        assert (await alice.responses.retrieve(running.id)).status == "in_progress"
        assert (await alice.responses.cancel(running.id)).status == "cancelled"
