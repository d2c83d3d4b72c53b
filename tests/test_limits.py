"""Per-key rpm, tpm and budgets: the counters, the middleware alone, and the whole gateway with the
official SDKs as clients; the counters shared by processes on one data directory."""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from aiohttp import web

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.pricing import PRICES_AS_OF, Price, PriceTable
from interlingua.adapters.providers.base import Target
from interlingua.adapters.providers.openai import OpenAIProvider
from interlingua.adapters.providers.tokens import inline_media
from interlingua.adapters.state import Limit, leases, window
from interlingua.adapters.state.local import LocalCounters
from interlingua.adapters.state.owned import OwnedCounters
from interlingua.app.cli import main
from interlingua.app.config import ConfigError, parse
from interlingua.app.factory import LEDGER_FILE
from interlingua.middleware.limits import LimitsMiddleware
from interlingua.middleware.metering import MeteringMiddleware
from interlingua.middleware.state import COST, OPERATION, PRINCIPAL, TARGET, USAGE, Principal
from tests.asgi import call, run
from tests.documents import page_lines, text_pdf
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI, Usage, text
from tests.harness import anthropic_client, client, gateway, provider
from tests.support import admitted_in_turns, async_test, fresh_minute, serving

PROVIDER = OpenAIProvider("up", "http://127.0.0.1:9/v1")


class ListLedger:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def record(self, rec: Any) -> None:
        self.records.append(rec)


def answering(usage: ir.Usage, model: str = "gpt-5-mini") -> Any:
    """An inner app that answers 200 and leaves `usage` from `model`, as the dispatcher does."""
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"][USAGE] = usage
        scope["state"][TARGET] = Target(PROVIDER, model)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
    return app


def _state(principal: Principal) -> dict[str, Any]:
    return {PRINCIPAL: principal, OPERATION: ops.CHAT}


# the pieces --------------------------------------------------------------------------------------


def test_windows_are_utc_minutes_days_iso_weeks_and_months() -> None:
    now = datetime(2026, 2, 27, 13, 45, 10, tzinfo=UTC).timestamp()  # a Friday
    label, start, end = window("minute", now)
    assert (end - start, start <= now < end) == (60.0, True)
    assert window("day", now)[0] == "2026-02-27" and window("day", now)[2] - now == 10 * 3600 + 14 * 60 + 50
    label, start, end = window("week", now)
    assert label == "2026-W09" and datetime.fromtimestamp(start, UTC) == datetime(2026, 2, 23, tzinfo=UTC)
    label, start, end = window("month", now)
    assert label == "2026-02" and datetime.fromtimestamp(end, UTC) == datetime(2026, 3, 1, tzinfo=UTC)


def test_price_table_finds_dated_models_and_takes_overrides() -> None:
    table = PriceTable({"my-model": Price(1.0, 0.5, 2.0), "gpt-5-mini": Price(1.0, 1.0, 1.0)})
    usage = ir.Usage(input_tokens=1_000_000, cache_read_tokens=400_000, output_tokens=500_000)
    assert table.cost("openai/claude-haiku-4-5-20251001", usage) == pytest.approx(0.6 + 0.04 + 2.5)
    assert table.cost("my-model", usage) == pytest.approx(0.6 + 0.2 + 1.0)
    assert table.cost("gpt-5-mini-2025-08-07", usage) == pytest.approx(1.5)  # the override wins
    assert table.cost("unknown-model", usage) == 0.0
    written = ir.Usage(input_tokens=1_000_000, cache_read_tokens=400_000, cache_write_tokens=500_000)
    # Claude's writes cost 1.25x input (5-minute cache); elsewhere, and unless the config says, input
    assert table.cost("claude-haiku-4-5", written) == pytest.approx(0.1 + 0.04 + 0.625)
    assert table.cost("my-model", written) == pytest.approx(0.1 + 0.2 + 0.5)
    assert PriceTable({"w": Price(1.0, 0.5, 2.0, 3.0)}).cost("w", written) == pytest.approx(0.1 + 0.2 + 1.5)
    assert PRICES_AS_OF.startswith("20")


@pytest.mark.parametrize("kind", [LocalCounters, OwnedCounters])
def test_counters_admit_all_or_nothing_and_take_corrections(tmp_path: Path, kind: type[Any]) -> None:
    async def scenario() -> None:
        counters = kind(tmp_path / "state.sqlite3")
        end = time.time() + 60
        rpm, tpm = Limit("rpm", "k:rpm", 2, 1, end), Limit("tpm", "k:tpm", 100, 60, end)
        assert await counters.admit([rpm, tpm]) is None
        assert await counters.admit([rpm, tpm]) == tpm  # 120 tokens would pass 100: nothing is added
        assert await counters.values(["k:rpm", "k:tpm"]) == [1, 60]
        counters.add("k:tpm", -50, end)  # the answer used 10 tokens, not 60
        counters.flush()
        assert await counters.admit([rpm, tpm]) is None
        assert await counters.admit([rpm]) == rpm
        assert await counters.values(["k:rpm", "k:tpm", "other"]) == [2, 70, 0]
        assert await counters.admit([Limit("budget", "k:usd", 1.0, 0, end)]) is None
        counters.add("k:usd", 1.0, end)
        counters.flush()
        assert (await counters.admit([Limit("budget", "k:usd", 1.0, 0, end)])).name == "budget"
        assert await counters.ready() is None
        await counters.aclose()
    run(scenario())


def test_one_process_counts_in_memory_and_its_counts_outlive_a_restart(tmp_path: Path) -> None:
    """`serve` with one worker: admissions touch no file; what was counted is written behind (and at
    shutdown), read again by the next start, by workers sharing the file, and ended windows are gone."""
    path = tmp_path / "state.sqlite3"

    async def scenario() -> None:
        end = time.time() + 3600
        budget, old = Limit("budget", "k:usd:2026-12", 1.0, 0, end), Limit("rpm", "k:rpm:0", 5, 1, time.time() - 1)
        counters = OwnedCounters(path)
        assert await counters.admit([budget, old]) is None
        counters.add(budget.key, 0.75, end)
        before = sqlite3.connect(path).execute("SELECT COUNT(*) FROM counters").fetchone()[0]
        assert before == 0  # nothing written on the request path
        await asyncio.sleep(0.4)  # past WRITE_S
        assert sqlite3.connect(path).execute("SELECT value FROM counters WHERE key = ?",
                                             (budget.key,)).fetchone() == (0.75,)
        counters.add(budget.key, 0.25, end)
        await counters.aclose()
        again = OwnedCounters(path)
        assert await again.values([budget.key, old.key]) == [1.0, 0.0]  # the ended window was dropped
        assert await again.admit([budget]) == budget  # spent, after the restart too
        await again.aclose()
        shared = LocalCounters(path)
        assert await shared.values([budget.key]) == [1.0]
        await shared.aclose()

    run(scenario())


def _hammer(path: str, attempts: int, admitted: Any) -> None:
    async def go() -> int:
        counters = LocalCounters(Path(path))
        limit = Limit("rpm", "shared:rpm", 50, 1, time.time() + 60)
        count = sum([await counters.admit([limit]) is None for _ in range(attempts)])
        await counters.aclose()
        return count
    admitted.put(asyncio.run(go()))


def test_counters_hold_across_processes(tmp_path: Path) -> None:
    """Four processes race for a cap of 50 on one data directory: exactly 50 get through."""
    context = multiprocessing.get_context("spawn")
    admitted = context.Queue()
    path = str(tmp_path / "state.sqlite3")
    LocalCounters(Path(path))  # the file exists before they race
    processes = [context.Process(target=_hammer, args=(path, 40, admitted)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert sum(admitted.get(timeout=5) for _ in processes) == 50


def _row(path: Path, key: str) -> float:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()[0]


@async_test
async def test_workers_admit_from_leases_and_together_exactly_up_to_the_cap(tmp_path: Path) -> None:
    """Two workers on one file take turns with one key's requests until both are refused: together
    they admit the cap exactly (a lease is reserved in the file), asking it (a transaction, which
    the other worker's lock would make wait on the event loop) a fraction of the times."""
    path = tmp_path / "state.sqlite3"
    first, second = LocalCounters(path), LocalCounters(path)
    rpm = Limit("rpm", "k:rpm:w", 3000, 1, time.time() + 60)
    assert await admitted_in_turns([first, second], [rpm]) == 3000 and _row(path, rpm.key) == 3000
    asked = first._transactions + second._transactions
    assert asked < 3000 / 4, asked
    await first.aclose()
    await second.aclose()


@async_test
async def test_a_workers_unused_lease_goes_back_when_its_time_is_up_and_at_shutdown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases, "HOLD_S", 0.05)
    path = tmp_path / "state.sqlite3"
    idle, busy = LocalCounters(path), LocalCounters(path)
    rpm = Limit("rpm", "k:rpm:w", 6400, 1, time.time() + 60)
    assert await idle.admit([rpm]) is None
    lease = (6400 - 1) // leases.SHARE
    assert _row(path, rpm.key) == 1 + lease  # reserved for this worker
    await asyncio.sleep(0.2)  # no request comes: it goes back by itself
    assert _row(path, rpm.key) == 1
    assert await busy.admit([rpm]) is None
    assert await busy.admit([rpm]) is None  # from its lease
    await busy.aclose()  # what it did not use goes back at shutdown
    assert _row(path, rpm.key) == 3
    assert await idle.values([rpm.key]) == [3]
    await idle.aclose()


# the middleware alone ----------------------------------------------------------------------------


def test_rpm_refusal_names_the_limit_with_retry_after_and_is_metered() -> None:
    ledger = ListLedger()
    app = MeteringMiddleware(LimitsMiddleware(answering(ir.Usage()), LocalCounters()), ledger)
    outs = [run(call(app, state=_state(Principal("k", rpm=2)))) for _ in range(3)]
    assert [o.status for o in outs] == [200, 200, 429]
    assert 1 <= int(outs[2].headers[b"retry-after"]) <= 60
    error = outs[2].json()["error"]
    assert error["code"] == "rate_limit_exceeded" and "2 requests per minute (rpm)" in error["message"]
    assert [r.status for r in ledger.records] == [200, 200, 429]


def test_tpm_is_estimated_from_the_body_then_corrected_by_the_usage() -> None:
    counters = LocalCounters()
    app = LimitsMiddleware(answering(ir.Usage(input_tokens=30, output_tokens=20)), counters)
    body = [(b"content-length", b"400")]  # estimated at 100 tokens
    principal = Principal("k", tpm=180)
    assert run(call(app, headers=body, state=_state(principal))).status == 200
    counters.flush()  # 50 tokens counted, not the estimate of 100
    assert run(call(app, headers=body, state=_state(principal))).status == 200
    counters.flush()
    refused = run(call(app, headers=body, state=_state(principal)))  # 100 + 100 estimated would pass 180
    assert refused.status == 429 and "180 tokens per minute (tpm)" in refused.json()["error"]["message"]


def test_budget_prices_the_answer_and_refuses_once_spent() -> None:
    counters = LocalCounters()
    prices = PriceTable({"pricey": Price(2.0, 1.0, 8.0)})
    app = MeteringMiddleware(LimitsMiddleware(answering(ir.Usage(input_tokens=500_000, output_tokens=100_000),
                                                        "pricey"), counters, prices), ledger := ListLedger())
    principal = Principal("k", budget=2.5, budget_period="day")
    first = run(call(app, state=_state(principal)))  # $1.80 spent: still under $2.50
    counters.flush()
    assert first.status == 200 and first.scope["state"][COST] == pytest.approx(1.8)
    assert run(call(app, state=_state(principal))).status == 200  # $3.60: in flight when it passed
    counters.flush()
    refused = run(call(app, state=_state(principal)))
    assert refused.status == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    assert "budget of $2.50 per day" in refused.json()["error"]["message"]
    assert int(refused.headers[b"retry-after"]) == pytest.approx(window("day", time.time())[2] - time.time(), abs=2)
    assert [r.cost_usd for r in ledger.records] == pytest.approx([1.8, 1.8, 0.0])


def test_unlimited_keys_and_unmetered_operations_touch_no_counter() -> None:
    counters = LocalCounters()
    app = LimitsMiddleware(answering(ir.Usage()), counters)
    run(call(app, state=_state(Principal("free"))))
    run(call(app, "GET", "/v1/models", state={PRINCIPAL: Principal("k", rpm=1), OPERATION: ops.MODELS_LIST}))
    assert run(counters.values(["free:rpm"])) == [0]
    assert run(call(app, state=_state(Principal("k", rpm=1)))).status == 200


def test_config_reads_limits_budgets_and_prices() -> None:
    config = parse({"keys": {"a": {"key": "sk-a-0123456", "tpm": 1000, "budget": 5, "budget_period": "week"}},
                    "prices": {"my-model": {"input": 1, "output": 3},
                               "claude-mine": {"input": 2, "output": 4, "cache_write": 2.5}}}, {}, "test")
    key = config.keys["a"]
    assert (key.tpm, key.budget, key.budget_period) == (1000, 5.0, "week")
    assert config.prices["my-model"] == Price(1.0, 1.0, 3.0)
    assert config.prices["claude-mine"] == Price(2.0, 2.0, 4.0, 2.5)
    for raw, message in [
        ({"keys": {"a": {"key": "sk-a-0123456", "budget_period": "year"}}}, "keys.a.budget_period: must be one of"),
        ({"keys": {"a": {"key": "sk-a-0123456", "budget": -1}}}, "keys.a.budget: must be a finite number"),
        ({"prices": {"m": {"output": 1}}}, "prices.m.input: is required"),
        ({"prices": {"m": {"input": 1, "output": 1, "cache": 1}}}, "prices.m.cache: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
            parse(raw, {}, "test")


# the whole gateway -------------------------------------------------------------------------------

KEYS = {"team": {"key": "sk-team-0123456", "rpm": 3, "budget": 0.002, "budget_period": "month"}}


@async_test
async def test_limits_through_the_gateway_in_each_dialect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with FakeOpenAI(["gpt-5-mini"]) as fake:
        fake.script(*[text("ok", usage=Usage(prompt_tokens=1000, completion_tokens=500))] * 3)
        async with gateway(tmp_path / "data", providers={"up": provider(fake.url, "gpt-5-mini")}, keys=KEYS) as (
                app, url):
            sdk = client(url, "sk-team-0123456")
            for _ in range(2):
                await sdk.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}])
            app.counters.flush()
            # 2 x (1000 x $0.25 + 500 x $2) per million = $0.0025: the budget of $0.002 is spent.
            with pytest.raises(openai.RateLimitError) as caught:
                await sdk.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}])
            assert caught.value.code == "budget_exceeded"
            assert int(caught.value.response.headers["retry-after"]) > 0
            with pytest.raises(anthropic.RateLimitError) as refused:
                await anthropic_client(url, "sk-team-0123456").messages.create(
                    model="gpt-5-mini", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
            assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
            assert "budget_exceeded: the key's budget of $0.002 per month" in refused.value.message
        assert len([r for r in fake.requests if r.path == "/v1/chat/completions"]) == 2
    config = tmp_path / "gateway.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n[keys.team]\nkey = "sk-team-0123456"\n'
                      'budget = 0.002\n')
    assert main(["usage", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "COST USD" in out and "0.0025" in out
    assert f"key team: $0.0025 spent of $0.002 this month ({window('month', time.time())[0]})" in out
    assert (tmp_path / "data" / LEDGER_FILE).exists()


@async_test
async def test_anthropic_upstream_usage_is_priced(tmp_path: Path) -> None:
    async with FakeAnthropic(["claude-haiku-4-5"]) as fake, gateway(
            tmp_path / "data", providers={"claude": {"type": "anthropic", "url": fake.url, "key": "sk-ant-0123"}},
            keys={"a": {"key": "sk-team-0123456", "tpm": 100000}}) as (app, url):
        sdk = anthropic_client(url, "sk-team-0123456")
        answer = await sdk.messages.create(model="claude/claude-haiku-4-5", max_tokens=50,
                                           messages=[{"role": "user", "content": "hi"}])
        app.counters.flush()
        label = window("minute", time.time())[0]
        (used,) = await app.counters.values([f"a:tpm:{label}"])
        assert used == answer.usage.input_tokens + answer.usage.output_tokens


TPM_KEY = "sk-tpm-0123456789"


def _tpm(cap: int) -> dict[str, Any]:
    return {"tpm": {"key": TPM_KEY, "tpm": cap}}


async def _tokens_counted(app: Any) -> float:
    app.counters.flush()
    (used,) = await app.counters.values([f"tpm:tpm:{window('minute', time.time())[0]}"])
    return used


@async_test
async def test_uploads_that_are_not_text_are_not_estimated_as_text(tmp_path: Path) -> None:
    """A 200 KB recording was 51,200 tokens up front, past a tpm of 20,000 on an empty window; a
    text file of that size still counts as its bytes say."""
    await fresh_minute()  # the tpm counts a calendar minute: the test must not straddle two
    recording = b"RIFF\x24\x00\x01\x00WAVEfmt " + bytes(200_000)
    async with FakeOpenAI(["gpt-4o-transcribe"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-4o-transcribe")}, keys=_tpm(20_000)) as (app, url):
        sdk = client(url, TPM_KEY)
        heard = await sdk.audio.transcriptions.create(model="gpt-4o-transcribe", file=("talk.wav", recording,
                                                                                         "audio/wav"))
        assert heard.text == f"transcript of talk.wav ({len(recording)} bytes)"
        assert await _tokens_counted(app) == len(recording) // 100 + 4  # the usage the upstream reported
        async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {TPM_KEY}"}) as http:
            refused = await http.post("/v1/extract", files={"file": ("notes.txt", b"Notes. " * 12_000, "text/plain")})
            read = await http.post("/v1/extract", files={"file": ("scan.pdf", text_pdf(1, 2) + bytes(200_000),
                                                                   "application/pdf")})
        assert refused.status_code == 429 and "20000 tokens per minute (tpm)" in refused.json()["error"]["message"]
        assert read.status_code == 200 and read.text == "\n".join(page_lines(0, 2))


@async_test
async def test_a_fetched_text_page_is_asked_of_the_tpm_as_its_upload_would_be(tmp_path: Path) -> None:
    await fresh_minute()  # the tpm counts a calendar minute: the test must not straddle two
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="It rained. " * int(request.match_info["n"]), content_type="text/plain")

    site = web.Application()
    site.router.add_get("/{n}", page)
    async with serving(site) as port, FakeOpenAI(["gpt-x"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x")}, keys=_tpm(2_000),
            utilities={"summarize": "up/gpt-x"}, fetch={"allow_networks": ["127.0.0.1/32"]}) as (app, url):
        fake.default = text("Rain.", usage=Usage(prompt_tokens=300, completion_tokens=2))
        async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {TPM_KEY}"}) as http:
            small = await http.post("/v1/summarize", json={"url": f"http://127.0.0.1:{port}/100"})  # 1.1 KB
            assert (small.status_code, small.text) == (200, "Rain.")
            assert await _tokens_counted(app) == 302
            large = await http.post("/v1/summarize", json={"url": f"http://127.0.0.1:{port}/1000"})  # 11 KB
        assert large.status_code == 429 and 1 <= int(large.headers["retry-after"]) <= 60
        assert "2000 tokens per minute (tpm)" in large.json()["error"]["message"]
        assert len(fake.requests) == 1
        assert await _tokens_counted(app) == 302  # what the refused request asked for is given back


@async_test
async def test_a_stored_conversation_is_asked_of_the_tpm_as_if_the_client_had_sent_it(tmp_path: Path) -> None:
    await fresh_minute()  # the tpm counts a calendar minute: the test must not straddle two
    long_input = "word " * 8_000  # 40 KB: about 10,000 tokens up front
    async with FakeOpenAI(["gpt-x"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x")},
            keys={**_tpm(15_000), "wide": {"key": "sk-wide-0123456789", "tpm": 100_000}}) as (app, url):
        fake.default = text("ok", usage=Usage(prompt_tokens=10_000, completion_tokens=10))
        first = await client(url, TPM_KEY).responses.create(model="gpt-x", input=long_input)
        assert await _tokens_counted(app) == 10_010
        with pytest.raises(openai.RateLimitError, match=r"15000 tokens per minute \(tpm\)"):
            await client(url, TPM_KEY).responses.create(model="gpt-x", input="and then?",
                                                        previous_response_id=first.id)
        assert len(fake.requests) == 1 and await _tokens_counted(app) == 10_010
        wide = client(url, "sk-wide-0123456789")  # a response is continued only by its own key
        begun = await wide.responses.create(model="gpt-x", input=long_input)
        second = await wide.responses.create(model="gpt-x", input="and then?", previous_response_id=begun.id)
        assert second.output_text == "ok" and long_input in str(fake.requests[-1].json["messages"])
        app.counters.flush()
        (used,) = await app.counters.values([f"wide:tpm:{window('minute', time.time())[0]}"])
        assert used == 2 * 10_010  # each estimate (the second grown by the history) corrected to the usage


def test_inline_media_are_found_in_the_bytes_of_each_dialects_json() -> None:
    picture = base64.b64encode(bytes(range(256)) * 12).decode()  # 4,096 characters
    bodies = [
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
            "url": f"data:image/png;base64,{picture}"}}]}]},
        {"messages": [{"role": "user", "content": [{"type": "image", "source": {
            "type": "base64", "media_type": "image/png", "data": picture}}]}]},
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": picture}}]}]},
    ]
    for body in bodies:
        assert inline_media(orjson.dumps(body)) == (len(picture), 1)
        assert inline_media(json.dumps(body).encode()) == (len(picture), 1)  # Python's spacing
    prose = {"messages": [{"role": "user", "content": [{"type": "text", "text": "data"}],
                           "data": "x " * 2000, "short": {"data": "aGk="}}]}
    assert inline_media(orjson.dumps(prose)) == (0, 0)
    two = orjson.dumps({"a": {"data": picture}, "b": f"data:audio/wav;base64,{picture}"})
    assert inline_media(two) == (2 * len(picture), 2)


@async_test
async def test_inline_media_are_estimated_as_media_not_as_text(tmp_path: Path) -> None:
    """A 600 KB screenshot was 150,000 tokens up front, and every later turn of the conversation
    that carries it was refused by a tpm of 100,000 on an empty window."""
    await fresh_minute()  # the tpm counts a calendar minute: the test must not straddle two
    screenshot = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(450_000)).decode()
    async with FakeAnthropic(["claude-haiku-4-5"]) as fake, gateway(
            tmp_path, providers={"claude": {"type": "anthropic", "url": fake.url, "key": "sk-ant-0123"}},
            keys=_tpm(100_000)) as (app, url):
        sdk = anthropic_client(url, TPM_KEY)
        answer = await sdk.messages.create(model="claude/claude-haiku-4-5", max_tokens=50, messages=[
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": screenshot}},
                {"type": "text", "text": "What does this show?"}]}])
        assert answer.content[0].type == "text"
        assert fake.requests[-1].json["messages"][0]["content"][0]["source"]["data"] == screenshot
        assert await _tokens_counted(app) == answer.usage.input_tokens + answer.usage.output_tokens
        with pytest.raises(anthropic.RateLimitError, match=r"100000 tokens per minute \(tpm\)"):
            await sdk.messages.create(model="claude/claude-haiku-4-5", max_tokens=50, messages=[
                {"role": "user", "content": "word " * 90_000}])
        assert len(fake.requests) == 1
