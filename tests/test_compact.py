"""`POST /v1/responses/compact` on every upstream, with the `openai` SDK as the client: a Responses
upstream compacts itself; for any other the gateway has the model summarise the conversation and
seals the summary into the compaction item, which the next turn opens for whichever upstream
serves it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from interlingua.adapters.providers.compaction import SUMMARY_NOTE
from interlingua.adapters.providers.seal import PREFIX
from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_provider, client, gateway, provider
from tests.support import async_test

CONVERSATION = [{"role": "user", "content": "Plan the trip"},
                {"role": "assistant", "content": "Paris first, then Lyon."},
                {"role": "user", "content": "Book it"}]
SUMMARY = "Trip planned: Paris, then Lyon; the user asked to book it."


@pytest.mark.parametrize("kind", ["chat", "anthropic"])
@async_test
async def test_a_conversation_compacted_by_the_gateway_is_opened_by_the_next_turn(tmp_path: Path, kind: str) -> None:
    fake: Any = fo.FakeOpenAI(["gpt-x"]) if kind == "chat" else fa.FakeAnthropic(["gpt-x"])
    fakes: Any = fo if kind == "chat" else fa
    async with fake, fr.FakeResponses() as responses:
        table = provider(fake.url, "gpt-x") if kind == "chat" else anthropic_provider(fake.url, "gpt-x")
        providers = {"up": table, "rs": provider(responses.url, "rs-x", api="responses")}
        async with gateway(tmp_path, providers=providers) as (app, url):
            fake.script(fakes.text(SUMMARY), fakes.text("Which dates?"))
            sdk = client(url)
            raw = await sdk.responses.with_raw_response.compact(model="gpt-x", input=CONVERSATION)  # type: ignore[arg-type]
            compacted, history = raw.parse(), raw.http_response.json()["output"]  # what a client sends back
            assert compacted.object == "response.compaction"
            assert [item.type for item in compacted.output] == ["message", "message", "compaction"]
            users = [item.content[0].text for item in compacted.output[:2]]  # type: ignore[union-attr]
            assert users == ["Plan the trip", "Book it"]
            state = compacted.output[2].encrypted_content  # type: ignore[union-attr]
            assert state.startswith(PREFIX) and SUMMARY not in state
            assert compacted.usage.input_tokens > 0 and compacted.usage.output_tokens > 0
            asked = str(fake.requests[-1].json)
            assert "Plan the trip" in asked and "Paris first, then Lyon." in asked  # the transcript summarised
            answer = await sdk.responses.create(model="gpt-x", input=[*history, {"role": "user",
                                                                                 "content": "And the hotel?"}])
            assert answer.output_text == "Which dates?"
            sent = str(fake.requests[-1].json)
            assert f"{SUMMARY_NOTE}\\n{SUMMARY}" in sent and "And the hotel?" in sent and PREFIX not in sent
            # A Responses upstream cannot read the gateway's seal either: it gets the summary as text.
            await sdk.responses.create(model="rs-x", input=[*history, {"role": "user", "content": "Hotel?"}])
            kept = str(responses.requests[-1].json)
            assert SUMMARY in kept and PREFIX not in kept and "'compaction'" not in kept
            app.ledger.flush()
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        rows = db.execute("SELECT operation, status, output_tokens FROM usage ORDER BY id").fetchall()
    assert rows[0][:2] == ("responses.compact", 200) and rows[0][2] > 0


@async_test
async def test_a_responses_upstream_compacts_itself(tmp_path: Path) -> None:
    async with fr.FakeResponses() as fake, gateway(tmp_path, providers={
            "rs": provider(fake.url, "rs-x", api="responses")}) as (_, url):
        sdk = client(url)
        first = await sdk.responses.create(model="rs-x", input="Plan the trip")
        raw = await sdk.responses.with_raw_response.compact(model="rs-x", input="Book it",
                                                            previous_response_id=first.id)
        compacted, history = raw.parse(), raw.http_response.json()["output"]
        sent = fake.requests[-1]
        assert sent.path == "/v1/responses/compact" and sent.json["model"] == "rs-x"
        assert "previous_response_id" not in sent.json and "Plan the trip" in str(sent.json["input"])
        state = compacted.output[-1].encrypted_content  # type: ignore[union-attr]
        assert compacted.output[-1].type == "compaction" and state in fake.encrypted  # the upstream's own
        await sdk.responses.create(model="rs-x", input=[*history, {"role": "user", "content": "Hotel?"}])
        assert state in str(fake.requests[-1].json)  # passed back as it came


@async_test
async def test_a_compaction_sealed_by_another_gateway_is_left_out(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(tmp_path, providers={
            "up": provider(fake.url, "gpt-x")}) as (_, url):
        forged = {"type": "compaction", "id": "cmp_1", "encrypted_content": PREFIX + "bm90IG91cnM"}
        answer = await client(url).responses.create(model="gpt-x", input=[
            {"role": "user", "content": "Plan the trip"}, forged, {"role": "user", "content": "Hotel?"}])
        assert answer.status == "completed"
        sent = str(fake.requests[-1].json)
        assert "Plan the trip" in sent and "Hotel?" in sent and PREFIX not in sent
