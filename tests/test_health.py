"""`/healthz` and `/readyz`: outside auth and the ledger, and 503 naming what is unreachable."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from interlingua.adapters.storage.ledger import totals
from interlingua.app.factory import LEDGER_FILE
from tests.harness import gateway
from tests.support import async_test


@async_test
async def test_health_and_readiness(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with gateway(data, keys={"a": {"key": "sk-health-0123"}}) as (app, url), httpx.AsyncClient() as http:
        alive = await http.get(url + "/healthz")
        assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
        assert (await http.get(url + "/readyz")).json() == {"status": "ok"}
        assert (await http.head(url + "/readyz")).status_code == 200
        assert (await http.post(url + "/healthz")).status_code == 401  # only GET and HEAD are the probe
        assert app.ledger is not None
        app.ledger.flush()
        assert totals(data / LEDGER_FILE) == []  # probes are not metered
        shutil.rmtree(data)
        await app.counters.aclose()
        ready = await http.get(url + "/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "failing": {
            "storage": "the data directory is not writable", "state": "the limit counters' file cannot be read"}}
        assert (await http.get(url + "/healthz")).status_code == 200
        app.counters = type(app.counters)()  # aclose() at the end needs open counters
