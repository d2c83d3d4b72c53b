"""Background mode of the Responses API, run by the gateway for an upstream of any dialect: the
`openai` SDK creates a background response, polls it, cancels it, streams it and leaves; the
fakes record what the upstream was asked (never `background` itself)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response

from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.harness import anthropic_provider, client, gateway, provider
from tests.support import async_test

FINAL = ("completed", "failed", "cancelled", "incomplete")


async def settled(sdk: openai.AsyncOpenAI, response_id: str, timeout: float = 10.0) -> Response:
    """The response once its status is final, polled as the SDK's users poll it."""
    deadline = time.monotonic() + timeout
    while True:
        found = await sdk.responses.retrieve(response_id)
        if found.status in FINAL or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def ledger_rows(data_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "usage.sqlite3") as db:
        return db.execute("SELECT operation, status, input_tokens, output_tokens FROM usage ORDER BY id").fetchall()


async def rows_when(app: Any, data_dir: Path, ready: Callable[[list[tuple[Any, ...]]], bool],
                    timeout: float = 5.0) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + timeout
    while True:
        app.ledger.flush()
        rows = ledger_rows(data_dir) if (data_dir / "usage.sqlite3").exists() else []
        if ready(rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


def upstream_of(kind: str) -> Any:
    """A fake upstream of `kind`, and how to script its answer, and its provider table."""
    if kind == "chat":
        fake: Any = fo.FakeOpenAI(["gpt-x"])
        return fake, fo.text, lambda: provider(fake.url, "gpt-x")
    if kind == "responses":
        fake = fr.FakeResponses()
        return fake, fr.text, lambda: provider(fake.url, "gpt-x", api="responses")
    fake = FakeAnthropic(["gpt-x"])
    return fake, fa.text, lambda: anthropic_provider(fake.url, "gpt-x")


@pytest.mark.parametrize("kind", ["chat", "responses", "anthropic"])
@async_test
async def test_a_background_response_is_queued_then_polled_to_its_answer(tmp_path: Path, kind: str) -> None:
    fake, text, table = upstream_of(kind)
    async with fake, gateway(tmp_path, providers={"up": table()}) as (app, url):
        fake.script(text("Sunny", " in Paris", head_delay=1.0))
        sdk = client(url)
        queued = await sdk.responses.create(model="gpt-x", input="Weather in Paris?", background=True,
                                            metadata={"job": "7"})
        assert (queued.status, queued.background, queued.output, queued.usage) == ("queued", True, [], None)
        assert queued.id.startswith("resp_") and queued.metadata == {"job": "7"}
        running = await sdk.responses.retrieve(queued.id)
        assert running.status == "in_progress" and running.output == []  # the upstream holds its answer 1 s
        done = await settled(sdk, queued.id)
        assert (done.id, done.status, done.background, done.output_text) == (queued.id, "completed", True,
                                                                             "Sunny in Paris")
        assert done.usage is not None and done.usage.input_tokens > 0
        sent = fake.requests[-1].json
        assert "background" not in sent and sent.get("stream") in (None, False)
        rows = await rows_when(app, tmp_path, lambda rows: len(rows) == 1)
        assert rows == [("chat", 200, done.usage.input_tokens, done.usage.output_tokens)]
        fake.script(text("Rain"))
        follow = await sdk.responses.create(model="gpt-x", input="And tomorrow?", previous_response_id=queued.id)
        assert follow.output_text == "Rain"
        assert "Sunny in Paris" in str(fake.requests[-1].json)  # the background answer is in the history


@async_test
async def test_a_cancel_stops_the_run_and_is_kept(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(tmp_path, providers={"up": provider(fake.url, "gpt-x")}) as (
            app, url):
        fake.script(fo.text("never seen", head_delay=30))
        sdk = client(url)
        queued = await sdk.responses.create(model="gpt-x", input="A long job", background=True)
        cancelled = await sdk.responses.cancel(queued.id)
        assert (cancelled.id, cancelled.status, cancelled.output) == (queued.id, "cancelled", [])
        # The run reads the cancel and ends (its ledger row is written then), long before the 30 s.
        rows = await rows_when(app, tmp_path, lambda rows: len(rows) == 1)
        assert rows == [("chat", 200, 0, 0)]
        assert (await sdk.responses.retrieve(queued.id)).status == "cancelled"
        assert (await sdk.responses.cancel(queued.id)).status == "cancelled"  # again: as it is
        fake.script(fo.text("Done."))
        finished = await sdk.responses.create(model="gpt-x", input="A short one")
        with pytest.raises(openai.BadRequestError, match="Only responses created with background=true"):
            await sdk.responses.cancel(finished.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.cancel("resp_unknown")
        fake.script(fo.text("late", head_delay=30))
        running = await sdk.responses.create(model="gpt-x", input="Another", background=True)
        with pytest.raises(openai.BadRequestError) as still:
            await sdk.responses.create(model="gpt-x", input="Go on", previous_response_id=running.id)
        assert still.value.body["param"] == "previous_response_id"  # type: ignore[index]
        assert "is still in_progress" in still.value.message
        await sdk.responses.cancel(running.id)


@async_test
async def test_a_cancel_on_another_worker_stops_the_run(tmp_path: Path) -> None:
    """Two gateways on one data directory, as two workers are: one runs, the other cancels."""
    async with fo.FakeOpenAI(["gpt-x"]) as fake:
        fake.script(fo.text("never seen", head_delay=30))
        tables = {"providers": {"up": provider(fake.url, "gpt-x")}}
        async with gateway(tmp_path, **tables) as (first, one), gateway(tmp_path, **tables) as (_, other):
            queued = await client(one).responses.create(model="gpt-x", input="A long job", background=True)
            assert (await client(other).responses.retrieve(queued.id)).status == "in_progress"
            assert (await client(other).responses.cancel(queued.id)).status == "cancelled"
            rows = await rows_when(first, tmp_path, lambda rows: len(rows) == 1)
            assert rows == [("chat", 200, 0, 0)]
            assert (await client(one).responses.retrieve(queued.id)).status == "cancelled"


@async_test
async def test_refusals_are_at_once_and_failures_are_kept(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as fake, gateway(tmp_path, providers={"up": provider(fake.url, "gpt-x")}) as (
            _, url):
        sdk = client(url)
        with pytest.raises(openai.BadRequestError) as unstored:
            await sdk.responses.create(model="gpt-x", input="hi", background=True, store=False)
        assert unstored.value.body["param"] == "background"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):  # routing answers before anything is queued
            await sdk.responses.create(model="no-such-model", input="hi", background=True)
        fake.script(fo.error(400, "This model's maximum context length is 8192 tokens.",
                             code="context_length_exceeded"))
        queued = await sdk.responses.create(model="gpt-x", input="hi", background=True)
        failed = await settled(sdk, queued.id)
        assert failed.status == "failed" and failed.error is not None
        assert failed.error.code == "context_length_exceeded" and "8192 tokens" in failed.error.message
        async with httpx.AsyncClient() as http:
            resumed = await http.get(f"{url}/v1/responses/{queued.id}?stream=true")
        assert resumed.status_code == 400 and resumed.json()["error"]["param"] == "stream"
        assert len(fake.requests) == 1


@pytest.mark.parametrize("kind", ["chat", "responses"])
@async_test
async def test_a_background_stream_goes_on_when_its_client_leaves(tmp_path: Path, kind: str) -> None:
    gate = asyncio.Event()
    fake, text, table = upstream_of(kind)
    async with fake, gateway(tmp_path, providers={"up": table()}) as (app, url):
        fake.script(text("First turn."), text("Sunny", " in", " Paris", gate=gate))
        sdk = client(url)
        first = await sdk.responses.create(model="gpt-x", input="Hello")
        stream = await sdk.responses.create(model="gpt-x", input="Weather?", background=True, stream=True,
                                            previous_response_id=first.id)
        created = await anext(aiter(stream))  # the upstream holds the rest until the gate opens
        await stream.close()
        assert created.type == "response.created"
        response_id = created.response.id
        assert (await sdk.responses.retrieve(response_id)).status == "in_progress"
        gate.set()
        done = await settled(sdk, response_id)
        assert (done.status, done.background, done.output_text) == ("completed", True, "Sunny in Paris")
        assert done.previous_response_id == first.id
        rows = await rows_when(app, tmp_path, lambda rows: len(rows) == 2)
        assert rows[1][:2] == ("chat", 200) and rows[1][3] == done.usage.output_tokens  # type: ignore[union-attr]
        fake.script(text("Rain."))
        await sdk.responses.create(model="gpt-x", input="Tomorrow?", previous_response_id=response_id)
        history = str(fake.requests[-1].json)
        assert "Hello" in history and "First turn." in history and "Sunny in Paris" in history
