"""OpenAI Batch run by the gateway, driven by the official `openai` SDK: a JSONL file of Chat
Completions requests for a Claude and an OpenAI upstream becomes an output file (and an error file
for the request that failed), with the counts and the ledger's rows; input files that are wrong
fail at creation with their lines named; a cancel keeps what was answered; each key sees its own;
a batch left by a stopped gateway is taken up by another on the same data directory where it was,
and the store's contract holds in PostgreSQL too."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest
from openai.types import Batch

from interlingua.adapters.storage.pg_batches import PgBatchStore
from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_client, anthropic_provider, client, gateway, provider
from tests.servers import PostgresServer, postgres
from tests.support import async_test
from tests.test_observe import METRICS_KEY, sample, scrape

ALICE, BOB = "sk-alice-0123456789", "sk-bob-0123456789"
LINES = 20  # of the batch a gateway stops in the middle of: 4 s of answers, stopped after about one


def _jsonl(*lines: Any) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def _chat(custom_id: str, model: str, ask: str = "Hi") -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": ask}]}}


async def _done(sdk: openai.AsyncOpenAI, batch_id: str, timeout: float = 15.0) -> Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = await sdk.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired") or time.monotonic() > deadline:
            return batch
        await asyncio.sleep(0.05)


async def _lines(sdk: openai.AsyncOpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [orjson.loads(line) for line in (await sdk.files.content(file_id)).content.splitlines()]


@async_test
async def test_a_batch_runs_on_any_upstream_into_output_and_error_files(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    async with fa.FakeAnthropic(["claude-x"]) as claude, fo.FakeOpenAI(["gpt-x"]) as chat, gateway(
            tmp_path, providers={"claude": anthropic_provider(claude.url, "claude-x"),
                                 "chat": provider(chat.url, "gpt-x")},
            telemetry={"metrics_key": METRICS_KEY, "log_format": "json"}) as (_, url):
        claude.default = fa.text("Bonjour.")
        chat.default = fo.text("Hola.")
        sdk = client(url)
        source = await sdk.files.create(file=("jobs.jsonl", _jsonl(
            _chat("fr", "claude-x", "Hello in French?"), _chat("es", "gpt-x", "Hello in Spanish?"),
            _chat("xx", "no-such-model"))), purpose="batch")
        made = await sdk.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                                        completion_window="24h", metadata={"run": "nightly"})
        assert made.id.startswith("batch_") and made.status == "in_progress" and made.metadata == {"run": "nightly"}
        assert made.request_counts is not None and made.request_counts.total == 3
        batch = await _done(sdk, made.id)
        assert batch.status == "completed" and batch.completed_at is not None
        assert batch.request_counts is not None
        assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 1)
        assert batch.usage is not None  # the fakes' 10 in and 5 out for each answered line
        assert (batch.usage.input_tokens, batch.usage.output_tokens, batch.usage.total_tokens) == (20, 10, 30)
        output = {line["custom_id"]: line for line in await _lines(sdk, batch.output_file_id)}
        assert output["fr"]["response"]["status_code"] == 200
        assert output["fr"]["response"]["body"]["choices"][0]["message"]["content"] == "Bonjour."  # from Claude
        assert output["es"]["response"]["body"]["object"] == "chat.completion"
        assert all(line["id"].startswith("batch_req_") and line["error"] is None for line in output.values())
        (failed,) = await _lines(sdk, batch.error_file_id)
        assert failed["custom_id"] == "xx" and failed["response"]["status_code"] == 404
        assert failed["response"]["body"]["error"]["code"] == "model_not_found"
        assert (await sdk.files.retrieve(batch.output_file_id or "")).purpose == "batch_output"
        assert [b.id for b in (await sdk.batches.list()).data] == [made.id]
        # Each line is observed as a client's request is: counted, its tokens by key, its log line.
        samples = await scrape(url, METRICS_KEY)
        assert sample(samples, "interlingua_requests_total", dialect="openai", operation="chat", model="claude-x",
                      upstream="claude/claude-x", status_class="2xx") == 1
        assert sample(samples, "interlingua_tokens_total", key="", model="gpt-x", kind="output") == 5
        logged = [orjson.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
        assert {line["request_id"] for line in logged if line.get("model") == "no-such-model"} == {
            failed["response"]["request_id"]}
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:  # each line is metered as the key's request
        assert sorted(db.execute("SELECT model, status FROM usage").fetchall()) == [
            ("claude-x", 200), ("gpt-x", 200), ("no-such-model", 404)]


@async_test
async def test_a_batch_of_legacy_completions_runs_on_claude(tmp_path: Path) -> None:
    async with fa.FakeAnthropic(["claude-x"]) as claude, gateway(
            tmp_path, providers={"claude": anthropic_provider(claude.url, "claude-x")}) as (_, url):
        claude.default = fa.text(" blue.")
        sdk = client(url)
        line = {"custom_id": "sky", "method": "POST", "url": "/v1/completions",
                "body": {"model": "claude-x", "prompt": "The sky is"}}
        source = await sdk.files.create(file=("jobs.jsonl", _jsonl(line)), purpose="batch")
        made = await sdk.batches.create(input_file_id=source.id, endpoint="/v1/completions", completion_window="24h")
        batch = await _done(sdk, made.id)
        assert batch.status == "completed" and batch.usage is not None and batch.usage.total_tokens == 15
        (answered,) = await _lines(sdk, batch.output_file_id)
        assert answered["response"]["body"]["object"] == "text_completion"
        assert answered["response"]["body"]["choices"][0]["text"] == " blue."


async def _gemini_ended(sdk: Any, name: str, timeout: float = 15.0) -> Any:
    """The google-genai batch `name` once it has ended (or as it is at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        job = await sdk.aio.batches.get(name=name)
        if job.state.name in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED") \
                or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.05)


@async_test
async def test_the_gemini_sdk_runs_a_batch_on_any_upstream(tmp_path: Path) -> None:
    """google-genai's `batches.create` with inline requests (and their metadata), `get` until it has
    ended, its responses inline in order (Claude answered one, an unknown model failed), `list`,
    `cancel` of a running one, `delete`; another key finds none of them. A batch of a file of
    requests has a file of responses, which `files.download` reads."""
    import io

    from google.genai import errors as genai_errors

    from tests.harness import gemini_client

    keys = {"alice": {"key": ALICE}, "bob": {"key": BOB}}
    async with fa.FakeAnthropic(["claude-x"]) as claude, gateway(
            tmp_path, providers={"claude": anthropic_provider(claude.url, "claude-x")}, keys=keys) as (_, url):
        claude.script(fa.text("Bonjour."), fa.text("Hola."), fa.text("Ciao."))
        sdk = gemini_client(url, ALICE)
        job = await sdk.aio.batches.create(model="claude-x", src=[
            {"contents": [{"role": "user", "parts": [{"text": "Hello in French?"}]}], "metadata": {"lang": "fr"}},
            {"contents": [{"role": "user", "parts": [{"text": "Hello in Spanish?"}]}],
             "config": {"temperature": 0.5, "system_instruction": "Be brief."}}],
            config={"display_name": "greetings"})
        assert job.name is not None and job.name.startswith("batches/") and job.display_name == "greetings"
        assert job.model == "models/claude-x"
        job = await _gemini_ended(sdk, job.name)
        assert job.state is not None and job.state.name == "JOB_STATE_SUCCEEDED" and job.end_time is not None
        assert job.dest is not None and job.dest.inlined_responses is not None
        first, second = job.dest.inlined_responses
        assert first.response is not None and first.response.text == "Bonjour." and first.metadata == {"lang": "fr"}
        assert second.response is not None and second.response.text == "Hola."
        asked = claude.requests[-1].json
        assert (asked["system"], asked["temperature"]) == ([{"type": "text", "text": "Be brief."}], 0.5)

        source = await client(url, ALICE).files.create(file=("jobs.jsonl", _jsonl(_chat("x", "claude-x"))),
                                                       purpose="batch")
        await client(url, ALICE).batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                                                completion_window="24h")  # an OpenAI client's, between them
        bad = await sdk.aio.batches.create(model="no-such-model", src=[
            {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}])
        assert bad.name is not None
        bad = await _gemini_ended(sdk, bad.name)
        assert bad.dest is not None and bad.dest.inlined_responses is not None
        (failed,) = bad.dest.inlined_responses
        assert failed.error is not None and failed.error.code == 404 and failed.response is None

        listed = [b.name async for b in await sdk.aio.batches.list()]
        assert sorted(listed) == sorted([job.name, bad.name])
        paged = [b.name async for b in await sdk.aio.batches.list(config={"page_size": 1})]
        assert paged == [bad.name, job.name]  # newest first; the OpenAI batch between them ends no page
        assert (await anthropic_client(url, ALICE).messages.batches.list()).data == []  # none is Anthropic's
        other = gemini_client(url, BOB)
        with pytest.raises(genai_errors.ClientError) as hidden:
            await other.aio.batches.get(name=job.name)
        assert hidden.value.code == 404
        assert [b.name async for b in await other.aio.batches.list()] == []

        claude.script(fa.text("Later.", head_delay=1.5))  # cancelled while its one request is asked
        running = await sdk.aio.batches.create(model="claude-x", src=[
            {"contents": [{"role": "user", "parts": [{"text": "Take your time"}]}]}])
        assert running.name is not None
        with pytest.raises(genai_errors.ClientError) as busy:
            await sdk.aio.batches.delete(name=running.name)
        assert busy.value.code == 400
        await sdk.aio.batches.cancel(name=running.name)
        running = await _gemini_ended(sdk, running.name)
        assert running.state is not None and running.state.name == "JOB_STATE_CANCELLED"
        await sdk.aio.batches.delete(name=job.name)
        with pytest.raises(genai_errors.ClientError):
            await sdk.aio.batches.get(name=job.name)

        claude.script(fa.text("Ciao."), fa.text("Hallo."))
        requests = b"".join(orjson.dumps({"key": key, "request": {"contents": [
            {"role": "user", "parts": [{"text": f"Hello in {lang}?"}]}]}}) + b"\n"
            for key, lang in (("it", "Italian"), ("de", "German")))
        uploaded = await sdk.aio.files.upload(file=io.BytesIO(requests), config={"mime_type": "application/jsonl"})
        assert uploaded.name is not None
        from_file = await sdk.aio.batches.create(model="claude-x", src=uploaded.name)
        assert from_file.name is not None
        from_file = await _gemini_ended(sdk, from_file.name)
        assert from_file.state is not None and from_file.state.name == "JOB_STATE_SUCCEEDED"
        assert from_file.dest is not None and from_file.dest.file_name is not None
        assert (await sdk.aio.batches.get(name=from_file.name or "")).dest.file_name == from_file.dest.file_name  # type: ignore[union-attr]
        answers = [orjson.loads(line) for line in (await sdk.aio.files.download(
            file=from_file.dest.file_name)).splitlines()]
        assert [(a["key"], a["response"]["candidates"][0]["content"]["parts"][0]["text"]) for a in answers] == [
            ("it", "Ciao."), ("de", "Hallo.")]


@async_test
async def test_wrong_batches_are_refused_or_fail_naming_their_lines(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (_, url):
        sdk = client(url)
        notes = await sdk.files.create(file=("a.txt", b"x"), purpose="user_data")
        for ask, param in [({"input_file_id": notes.id}, "input_file_id"), ({"input_file_id": "file-none"},
                                                                            "input_file_id"),
                           ({"input_file_id": notes.id, "endpoint": "/v1/audio/speech"}, "endpoint")]:
            with pytest.raises(openai.BadRequestError) as refused:
                await sdk.batches.create(**{"endpoint": "/v1/chat/completions", "completion_window": "24h", **ask})
            assert refused.value.body["param"] == param  # type: ignore[index]
        source = await sdk.files.create(file=("jobs.jsonl", b"not json\n" + _jsonl(
            _chat("a", "m"), _chat("a", "m"), {**_chat("b", "m"), "url": "/v1/embeddings"},
            {**_chat("c", "m"), "body": {"model": "m", "stream": True}})
            + b'{"custom_id": "d", "method": "POST", "url": "/v1/chat/completions", "body": '
            + b'{"a": ' * 300 + b"1" + b"}" * 301 + b"\n"), purpose="batch")  # past what JSON is written with
        failed = await sdk.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")
        assert failed.status == "failed" and failed.failed_at is not None and failed.errors is not None
        assert [(e.line, e.code) for e in failed.errors.data or []] == [
            (1, "invalid_json_line"), (3, "duplicate_custom_id"), (4, "mismatched_endpoint"), (5, "invalid_request"),
            (6, "invalid_request")]
        with pytest.raises(anthropic.BadRequestError) as deep:  # a create's requests are checked as a body is
            await anthropic_client(url).messages.batches.create(requests=[{"custom_id": "d", "params": {
                "model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                "metadata": orjson.loads(b'{"a": ' * 150 + b"1" + b"}" * 150)}}])  # type: ignore[typeddict-item]
        assert "nests deeper" in deep.value.message


@async_test
async def test_a_cancel_keeps_what_was_answered_and_each_key_sees_its_own(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as chat, gateway(
            tmp_path, providers={"chat": provider(chat.url, "gpt-x")},
            keys={"alice": {"key": ALICE}, "bob": {"key": BOB}}) as (app, url):
        app.batches.concurrency = 1
        chat.script(fo.text("first"), *[fo.text("late", head_delay=0.5)] * 20)
        alice, bob = client(url, ALICE), client(url, BOB)
        source = await alice.files.create(file=("jobs.jsonl", _jsonl(
            *[_chat(f"n{n}", "gpt-x") for n in range(20)])), purpose="batch")
        made = await alice.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")
        for ask in (bob.batches.retrieve(made.id), bob.batches.cancel(made.id)):
            with pytest.raises(openai.NotFoundError):
                await ask
        assert (await bob.batches.list()).data == []
        while (await alice.batches.retrieve(made.id)).request_counts.completed < 1:  # type: ignore[union-attr]
            await asyncio.sleep(0.05)
        assert (await alice.batches.cancel(made.id)).status == "cancelling"
        batch = await _done(alice, made.id)
        assert batch.status == "cancelled" and batch.cancelled_at is not None
        kept = await _lines(alice, batch.output_file_id)
        assert 1 <= len(kept) < 20 and kept[0]["custom_id"] == "n0"
        assert len(chat.requests) < 20  # the rest were never asked


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
@async_test
async def test_a_batch_a_stopped_gateway_left_is_taken_up_where_it_was(tmp_path: Path, storage: str) -> None:
    """Two gateways on one data directory (as workers are), or on one PostgreSQL (as replicas are):
    the first stops midway, the second finishes the batch from where the first's lines end."""
    server = PostgresServer() if storage == "postgresql" else None
    if server is not None:
        await server.start()
    try:
        async with fo.FakeOpenAI(["gpt-x"]) as chat:
            chat.default = fo.text("ok", head_delay=0.2)
            tables: dict[str, Any] = {"providers": {"chat": provider(chat.url, "gpt-x")}}
            if server is not None:
                tables["storage"] = {"url": server.url}
            async with gateway(tmp_path / "a", **tables) as (first, url):
                first.batches.concurrency, first.batches.lease = 1, 1.0
                sdk = client(url)
                source = await sdk.files.create(file=("jobs.jsonl", _jsonl(
                    *[_chat(f"n{n}", "gpt-x") for n in range(LINES)])), purpose="batch")
                made = await sdk.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                                                completion_window="24h")
                while (await sdk.batches.retrieve(made.id)).request_counts.completed < 3:  # type: ignore[union-attr]
                    await asyncio.sleep(0.05)
            assert len(chat.requests) < LINES
            chat.default = fo.text("ok")
            async with gateway(tmp_path / ("b" if server else "a"), **tables) as (second, url):
                second.batches.lease, second.batches.sweep_every = 1.0, 0.2
                second.batches.start()  # as its lifespan does; the first's lease runs out within a second
                batch = await _done(client(url), made.id)
                assert batch.status == "completed" and batch.request_counts is not None
                assert batch.request_counts.completed == LINES
                output = await _lines(client(url), batch.output_file_id)
                assert sorted(line["custom_id"] for line in output) == sorted(f"n{n}" for n in range(LINES))
            assert len(chat.requests) <= LINES + 1  # each line asked once, but for the one in flight at the stop
    finally:
        if server is not None:
            await server.close()


@async_test
async def test_the_postgresql_store_keeps_batches_and_leases() -> None:
    async with postgres() as server:
        async with aclosing(PgBatchStore(server.url)) as store:
            batch = {"id": "batch_1", "status": "in_progress", "request_counts": {"total": 2}}
            await store.create("alice", batch)
            assert await store.get("alice", "batch_1") == batch and await store.get("bob", "batch_1") is None
            assert await store.page("alice", None, 5) == ([batch], False) and await store.page("bob", None, 5) == (
                [], False)
            assert await store.claim("batch_1", "one", 100.0, 10.0) is True
            assert await store.claim("batch_1", "two", 200.0, 50.0) is False  # leased to one until 100
            assert await store.stale(150.0) == [("batch_1", "alice")]
            assert await store.claim("batch_1", "two", 200.0, 150.0) is True  # ran out: two takes it
            await store.record("batch_1", (2, 200, b"b"))
            await store.record("batch_1", (1, 404, b"a"))
            assert await store.results("batch_1") == [(1, 404, b"a"), (2, 200, b"b")]
            assert await store.save({**batch, "status": "cancelling"}) is True
            assert await store.save({**batch, "status": "in_progress"}, unless=("cancelling",)) is False
            assert (await store.get(None, "batch_1") or {})["status"] == "cancelling"


@async_test
async def test_anthropic_message_batches_run_on_any_upstream(tmp_path: Path) -> None:
    """The Anthropic SDK's `messages.batches`: created, polled to `ended`, its results read (a
    message from Claude, one translated from a Chat upstream, an error), listed, deleted; a cancel
    leaves the requests never asked `canceled`."""
    from tests.harness import anthropic_client

    async with fa.FakeAnthropic(["claude-x"]) as claude, fo.FakeOpenAI(["gpt-x"]) as chat, gateway(
            tmp_path, providers={"claude": anthropic_provider(claude.url, "claude-x"),
                                 "chat": provider(chat.url, "gpt-x")}) as (app, url):
        claude.default = fa.text("Bonjour.")
        chat.default = fo.text("Hola.")
        sdk = anthropic_client(url)

        def ask(custom_id: str, model: str) -> dict[str, Any]:
            return {"custom_id": custom_id, "params": {"model": model, "max_tokens": 50,
                                                       "messages": [{"role": "user", "content": "Hello?"}]}}

        made = await sdk.messages.batches.create(requests=[ask("fr", "claude-x"), ask("es", "gpt-x"),
                                                           ask("xx", "no-such-model")])  # type: ignore[list-item]
        assert made.id.startswith("msgbatch_") and made.type == "message_batch"
        assert made.processing_status == "in_progress" and made.results_url is None
        deadline = time.monotonic() + 15
        while (batch := await sdk.messages.batches.retrieve(made.id)).processing_status != "ended":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        counts = batch.request_counts
        assert (counts.succeeded, counts.errored, counts.canceled, counts.processing) == (2, 1, 0, 0)
        assert batch.ended_at is not None and batch.results_url == f"{url}/v1/messages/batches/{made.id}/results"
        results = {r.custom_id: r.result async for r in await sdk.messages.batches.results(made.id)}
        assert results["fr"].type == "succeeded" and results["fr"].message.content[0].text == "Bonjour."  # type: ignore[union-attr]
        assert results["es"].type == "succeeded" and results["es"].message.content[0].text == "Hola."  # type: ignore[union-attr]
        assert results["xx"].type == "errored" and results["xx"].error.error.type == "not_found_error"  # type: ignore[union-attr]
        assert [b.id async for b in sdk.messages.batches.list()] == [made.id]

        app.batches.concurrency = 1
        chat.script(fo.text("first"), *[fo.text("late", head_delay=0.5)] * 9)
        slow = await sdk.messages.batches.create(requests=[ask(f"n{n}", "gpt-x") for n in range(10)])  # type: ignore[misc]
        while (await sdk.messages.batches.retrieve(slow.id)).request_counts.succeeded < 1:
            await asyncio.sleep(0.05)
        assert (await sdk.messages.batches.cancel(slow.id)).processing_status == "canceling"
        while (batch := await sdk.messages.batches.retrieve(slow.id)).processing_status != "ended":
            await asyncio.sleep(0.05)
        assert batch.request_counts.canceled > 0 and batch.cancel_initiated_at is not None
        kinds = [r.result.type async for r in await sdk.messages.batches.results(slow.id)]
        assert kinds[0] == "succeeded" and "canceled" in kinds and len(kinds) == 10

        files_before = {f.id async for f in client(url).files.list()}
        assert (await sdk.messages.batches.delete(made.id)).type == "message_batch_deleted"
        with pytest.raises(anthropic.NotFoundError):
            await sdk.messages.batches.retrieve(made.id)
        assert len(files_before - {f.id async for f in client(url).files.list()}) == 3  # requests, output, errors
        with pytest.raises(anthropic.BadRequestError) as duplicate:
            await sdk.messages.batches.create(requests=[ask("a", "claude-x"), ask("a", "claude-x")])  # type: ignore[list-item]
        assert "custom_id" in duplicate.value.message


@async_test
async def test_a_line_a_rate_limit_refuses_is_asked_again_after_its_retry_after(tmp_path: Path) -> None:
    """The runner against a stand-in for the gateway below auth: a 429 with `Retry-After` is asked
    again, a 429 of an exhausted budget is kept as failed, and each line is asked as the batch's key."""
    from interlingua.adapters.dialects import openai_batches as wire
    from interlingua.adapters.dialects.files import StoredFile
    from interlingua.adapters.storage.batches import BatchStore
    from interlingua.adapters.storage.files import FileStore
    from interlingua.middleware.batches import BatchRunner
    from interlingua.middleware.state import PRINCIPAL, Principal

    asked: list[tuple[str, str]] = []

    async def gateway_below_auth(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = orjson.loads((await receive())["body"])
        asked.append((scope["state"][PRINCIPAL].name, body["messages"][0]["content"]))
        tries = sum(1 for _, said in asked if said == body["messages"][0]["content"])
        if body["messages"][0]["content"] == "limited" and tries < 3:
            status, headers, answer = 429, [(b"retry-after", b"0")], {"error": {"code": "rate_limit_exceeded"}}
        elif body["messages"][0]["content"] == "broke":
            status, headers, answer = 429, [(b"retry-after", b"0")], {"error": {"code": "budget_exceeded"}}
        else:
            status, headers, answer = 200, [], {"object": "chat.completion", "choices": []}
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})

    async def principal_of(name: str | None) -> Principal | None:
        return Principal(name or "")

    files, store = FileStore(tmp_path / "files.sqlite3"), BatchStore(tmp_path / "files.sqlite3")
    runner = BatchRunner(store, files, gateway_below_auth, principal_of)
    try:
        data = _jsonl(_chat("a", "m", "limited"), _chat("b", "m", "broke"), _chat("c", "m", "fine"))
        await files.create("team", StoredFile("file-in", "in.jsonl", "batch", "application/jsonl", len(data), 0,
                                              None), data)
        made = await runner.create("team", wire.BatchAsk("file-in", "/v1/chat/completions", None, 3600))
        while (batch := await store.get("team", made["id"]) or {})["status"] != "completed":
            await asyncio.sleep(0.02)
        assert batch["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
        assert sorted(said for _, said in asked) == ["broke", "fine", "limited", "limited", "limited"]
        assert {name for name, _ in asked} == {"team"}
    finally:
        await runner.aclose()
        await store.aclose()
        await files.aclose()
