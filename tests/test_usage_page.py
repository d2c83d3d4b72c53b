"""The usage page in headless Chromium (Debian's, driven by Playwright): it loads without console
errors, draws its charts from a seeded ledger, its table shows the ledger's numbers, and a
screenshot is kept in `test-artifacts/usage-page.png` (INTERLINGUA_ARTIFACTS moves it)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from playwright.async_api import async_playwright

from interlingua.adapters.storage import pg_ledger
from interlingua.adapters.storage.ledger import Ledger, UsageRecord, totals
from interlingua.app.factory import LEDGER_FILE
from tests.asgi import run
from tests.harness import gateway
from tests.servers import postgres

ADMIN_KEY = "admin-secret-1"
CHROMIUM = "/usr/bin/chromium"
# Those that keep Chromium from reaching out of a closed network at start.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("INTERLINGUA_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
NUMBERS = ("requests", "errors", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens")


def record(key: str, model: str, ago: float, status: int = 200, tokens: tuple[int, int] = (100, 40)) -> UsageRecord:
    return UsageRecord(
        ts=time.time() - ago, key=key, model=model, upstream=f"up/{model}", dialect="openai", operation="chat",
        status=status, input_tokens=tokens[0], cached_tokens=tokens[0] // 4, output_tokens=tokens[1],
        reasoning_tokens=tokens[1] // 8, ttfb_ms=80.0 + ago / 1000, total_ms=400.0 + ago / 500, stream=False,
        estimated=False, cost_usd=(tokens[0] * 0.25 + tokens[1] * 2.0) / 1e6)


def seed(path: Path) -> None:
    ledger = Ledger(path)
    ledger.start()
    for hour in range(20):
        ago = hour * 3600 + 300
        ledger.record(record("team-a", "fast", ago, tokens=(100 + hour * 10, 40 + hour)))
        ledger.record(record("team-b", "claude-sonnet", ago + 60, tokens=(300 + hour, 90)))
        if hour % 3 == 0:
            ledger.record(record("team-a", "claude-sonnet", ago + 120, status=502, tokens=(50, 0)))
    ledger.record(record("team-b", "fast", 3 * 86400))  # outside the default day
    ledger.close()


async def rows_of(page: Any) -> list[list[str]]:
    rows: list[list[str]] = await page.eval_on_selector_all(
        "#totals tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    return rows


def expected(path: Path, since: float) -> list[list[str]]:
    return [[r["key"], r["model"], *(str(r[n]) for n in NUMBERS), f"{r['cost_usd']:.4f}"]
            for r in totals(path, since=since)]


def test_usage_page_in_chromium(tmp_path: Path) -> None:
    seed(tmp_path / LEDGER_FILE)

    async def scenario() -> None:
        keys = {"team-a": {"key": "sk-team-a-key"}}
        async with gateway(tmp_path, keys=keys, telemetry={"admin_key": ADMIN_KEY}) as (_, url):
            async with httpx.AsyncClient() as http:
                refused = await http.get(url + "/ui")
                wrong = await http.get(url + "/ui/api/usage", auth=("admin", "sk-team-a-key"))
                bad = await http.get(url + "/ui/api/usage?step=1", auth=("admin", ADMIN_KEY))
            assert refused.status_code == wrong.status_code == 401
            assert "Basic" in refused.headers.get_list("www-authenticate")[-1]
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "step"
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    context = await browser.new_context(http_credentials={"username": "admin", "password": ADMIN_KEY,
                                                                          "send": "always"},
                                                        viewport={"width": 1280, "height": 1000})
                    page = await context.new_page()
                    problems: list[str] = []
                    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
                    page.on("pageerror", lambda e: problems.append(str(e)))
                    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
                    started = time.time()
                    await page.goto(url + "/ui")
                    await page.wait_for_selector("body[data-loaded=true]")
                    day = expected(tmp_path / LEDGER_FILE, started - 86400)
                    assert [row[:9] for row in await rows_of(page)] == day
                    assert len(day) == 3  # the 3-day-old row is outside the range
                    assert any(row[8] != "0.0000" for row in day)  # spend, from the ledger's prices
                    for chart in ("requests", "tokens", "spend", "errors", "latency"):
                        points = int(await page.get_attribute(f"#chart-{chart}", "data-points") or 0)
                        assert points >= (7 if chart == "errors" else 20), chart
                    inked = await page.evaluate("""() => {
                        const c = document.getElementById('chart-requests');
                        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                        let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++; return n; }""")
                    assert inked > 500
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(ARTIFACTS / "usage-page.png"), full_page=True)
                    # The range selector: the last hour holds only the most recent requests.
                    await page.evaluate("document.body.dataset.loaded = ''")
                    await page.select_option("#range", "3600")
                    await page.wait_for_selector("body[data-loaded=true]")
                    hour = expected(tmp_path / LEDGER_FILE, time.time() - 3600)
                    assert [row[:9] for row in await rows_of(page)] == hour
                    assert sum(int(row[2]) for row in hour) == 3
                    assert problems == []
                finally:
                    await browser.close()
        assert (ARTIFACTS / "usage-page.png").stat().st_size > 10_000

    run(scenario())


def test_usage_api_reads_the_ledger_in_postgresql(tmp_path: Path) -> None:
    """With `[storage] url` the ledger is in PostgreSQL, and the page's API reads it there."""
    async def scenario() -> None:
        async with postgres() as server:
            ledger = pg_ledger.PgLedger(server.url)
            for hour in range(5):
                ledger.record(record("team-a", "fast", hour * 3600 + 300, tokens=(100 + hour, 40)))
                ledger.record(record("team-b", "claude-sonnet", hour * 3600 + 360, status=502))
            ledger.record(record("team-b", "fast", 3 * 86400))  # outside the default day
            await ledger.aclose()
            keys = {"team-a": {"key": "sk-team-a-key"}}
            async with gateway(tmp_path, keys=keys, storage={"url": server.url},
                               telemetry={"admin_key": ADMIN_KEY}) as (_, url), httpx.AsyncClient() as http:
                reply = await http.get(url + "/ui/api/usage?step=3600", auth=("admin", ADMIN_KEY))
            assert reply.status_code == 200
            body = reply.json()
            rows = [(r["key"], r["model"], r["requests"], r["errors"], r["input_tokens"]) for r in body["totals"]]
            assert rows == [("team-a", "fast", 5, 0, 510), ("team-b", "claude-sonnet", 5, 5, 500)]
            assert body["totals"] == await pg_ledger.totals(server.url, since=body["since"], until=body["until"])
            spent = (sum(100 + hour for hour in range(5)) * 0.25 + 5 * 40 * 2 + 5 * (100 * 0.25 + 40 * 2)) / 1e6
            assert round(sum(r["cost_usd"] for r in body["totals"]), 12) == round(spent, 12)
            assert sum(r["requests"] for r in body["series"]) == 10
            assert {r["t"] % 3600 for r in body["series"]} == {0}
            # The page reads every key's rows of a time range: that is an index on ts alone.
            conn = await asyncpg.connect(server.url)
            try:
                await conn.execute("SET enable_seqscan = off")
                plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN SELECT COUNT(*) FROM usage WHERE ts >= $1",
                                                                 body["since"]))
            finally:
                await conn.close()
            assert re.search(r"\busage_ts\b", plan), plan

    run(scenario())
