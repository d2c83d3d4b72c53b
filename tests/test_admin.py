"""The admin API for managed keys: made with a secret shown once, used by the official SDK at once,
changed, rotated (keeping what the key stored), revoked; across two worker processes a revoked key
is refused by both within a second."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import openai
import pytest

from interlingua.adapters.storage.keys import REFRESH_S, KeyStore, ManagedKey
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import gateway, provider
from tests.processes import free_port, gateway_process
from tests.support import async_test, fresh_minute

ADMIN = "sk-admin-0123456789abcdef"
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN}"}


def _sdk(url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)


async def _chat(url: str, key: str) -> int:
    """The status the SDK saw: 200, or the status of the error it raised."""
    async with _sdk(url, key) as sdk:
        try:
            await sdk.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        except openai.APIStatusError as exc:
            return exc.status_code
    return 200


@async_test
async def test_managed_keys_lifecycle(tmp_path: Path) -> None:
    async with FakeOpenAI(["gpt-x"]) as fake, gateway(
            tmp_path, providers={"up": provider(fake.url, "gpt-x")}, admin={"key": ADMIN},
            keys={"ops": {"key": "sk-config-key-01"}}) as (_, url), httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/admin/keys")).status_code == 401
        assert (await http.get("/admin/keys", headers={"authorization": "Bearer sk-config-key-01"})).status_code == 401
        made = await http.post("/admin/keys", headers=ADMIN_HEADERS,
                               json={"name": "team-b", "models": ["gpt-*"], "rpm": 1})
        assert made.status_code == 201
        secret = made.json()["key"]
        assert secret.startswith("il-") and made.json()["rpm"] == 1 and made.json()["models"] == ["gpt-*"]
        await fresh_minute()
        assert [await _chat(url, secret), await _chat(url, secret)] == [200, 429]  # its rpm holds
        assert await _chat(url, "sk-config-key-01") == 200  # the config's keys still work
        listed = (await http.get("/admin/keys", headers=ADMIN_HEADERS)).json()
        assert listed["object"] == "list" and [k["name"] for k in listed["data"]] == ["team-b"]
        assert secret not in str(listed) and "sha256" not in str(listed)
        patched = await http.patch("/admin/keys/team-b", headers=ADMIN_HEADERS, json={"rpm": None, "tpm": 5000})
        assert (patched.status_code, patched.json()["rpm"], patched.json()["tpm"]) == (200, None, 5000)
        assert await _chat(url, secret) == 200
        async with _sdk(url, secret) as before:
            kept = await before.responses.create(model="gpt-x", input="Remember 7.")
        rotated = await http.post("/admin/keys/team-b/rotate", headers=ADMIN_HEADERS)
        assert rotated.status_code == 200 and rotated.json()["tpm"] == 5000
        renewed = rotated.json()["key"]
        assert renewed.startswith("il-") and renewed != secret
        assert [await _chat(url, secret), await _chat(url, renewed)] == [401, 200]
        async with _sdk(url, renewed) as after:  # the key's name, so its stored state, is the same
            assert (await after.responses.retrieve(kept.id)).output_text == kept.output_text
        assert (await http.post("/admin/keys/nobody/rotate", headers=ADMIN_HEADERS)).status_code == 404
        assert (await http.post("/admin/keys/ops/rotate", headers=ADMIN_HEADERS)).status_code == 404  # config's
        assert (await http.get("/admin/keys/team-b/rotate", headers=ADMIN_HEADERS)).status_code == 405
        secret = renewed
        bad = await http.patch("/admin/keys/team-b", headers=ADMIN_HEADERS, json={"rpm": "many"})
        assert bad.status_code == 400
        assert bad.json()["error"] == {"message": "rpm: must be an integer", "type": "invalid_request_error",
                                       "param": "rpm", "code": None}
        for body, status in [({"name": "ops"}, 409), ({"name": "team-b"}, 409), ({"name": "x y"}, 400),
                             ({"name": "c", "budget_period": "year"}, 400), ({"name": "c", "key": "mine"}, 400)]:
            assert (await http.post("/admin/keys", headers=ADMIN_HEADERS, json=body)).status_code == status, body
        assert (await http.post("/admin/keys", headers=ADMIN_HEADERS, content=b"[1")).status_code == 400
        assert (await http.delete("/admin/keys/nobody", headers=ADMIN_HEADERS)).status_code == 404
        gone = await http.delete("/admin/keys/team-b", headers=ADMIN_HEADERS)
        assert gone.json() == {"name": "team-b", "deleted": True}
        assert await _chat(url, secret) == 401


def test_a_change_in_one_process_reaches_the_others_within_the_refresh(tmp_path: Path) -> None:
    async def scenario() -> None:
        mine, theirs = KeyStore(tmp_path / "keys.sqlite3"), KeyStore(tmp_path / "keys.sqlite3")
        digest = b"d" * 32
        await mine.create(ManagedKey("k", rpm=5), digest)
        await asyncio.sleep(REFRESH_S)
        assert await theirs.lookup(digest) == ManagedKey("k", rpm=5, created=pytest.approx(time.time(), abs=5))
        await mine.delete("k")
        assert await theirs.lookup(digest) is not None  # until its next check
        await asyncio.sleep(REFRESH_S)
        assert await theirs.lookup(digest) is None
        await mine.aclose()
        await theirs.aclose()
    asyncio.run(scenario())


@async_test
async def test_revoked_on_one_worker_refused_by_all_within_a_second(tmp_path: Path) -> None:
    async with FakeOpenAI(["gpt-x"]) as fake:
        config = tmp_path / "gateway.toml"
        config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n[admin]\nkey = "{ADMIN}"\n'
                          f'[providers.up]\ntype = "openai"\nurl = "{fake.url}"\nmodels = ["gpt-x"]\n')
        port = free_port()
        argv = ["interlingua", "serve", "--config", str(config), "--port", str(port), "--workers", "2"]
        async with gateway_process(argv, port) as running, httpx.AsyncClient(base_url=running.url) as http:
            made = await http.post("/admin/keys", headers=ADMIN_HEADERS, json={"name": "temp"})
            secret = made.json()["key"]
            await asyncio.sleep(REFRESH_S)
            assert set(await asyncio.gather(*(_chat(running.url, secret) for _ in range(8)))) == {200}
            assert (await http.delete("/admin/keys/temp", headers=ADMIN_HEADERS)).status_code == 200
            await asyncio.sleep(1)
            assert set(await asyncio.gather(*(_chat(running.url, secret) for _ in range(8)))) == {401}
