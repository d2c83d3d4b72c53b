"""Several worker processes on one port and one data directory, started the ways operators do:
`interlingua serve --workers 2`, `uvicorn --factory interlingua:create_app`, and gunicorn with
uvicorn workers. Real processes, real sockets, the official `openai` SDK as the client."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from interlingua.adapters.storage.ledger import totals
from interlingua.app.factory import LEDGER_FILE
from tests.fakes.openai_upstream import FakeOpenAI
from tests.processes import children, free_port, gateway_process
from tests.support import async_test

KEY = "sk-gateway-workers-0123"


def _config(tmp_path: Path, upstream: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f"""
[server]
data_dir = "{tmp_path / 'data'}"

[providers.up]
type = "openai"
url = "{upstream}"
key = "sk-upstream-0123"
models = ["gpt-x"]

[keys.team]
key = "{KEY}"
""")
    return path


async def _counted(url: str, requests: int) -> bool:
    """Whether a scrape of /metrics, which one worker answers, counts every worker's requests (each
    moves its tallies into the shared files within a second)."""
    async with httpx.AsyncClient() as http:
        for _ in range(50):
            text = (await http.get(url + "/metrics")).text
            found = sum(sample.value for family in text_string_to_metric_families(text)
                        if family.name == "interlingua_requests" for sample in family.samples
                        if sample.name == "interlingua_requests_total")
            if found == requests:
                return True
            await asyncio.sleep(0.1)
    return False


def _sdk(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=20)


async def _conversation(url: str, turns: int) -> list[str]:
    """A Responses conversation continued by id, each turn on a new connection (so on any worker)."""
    ids: list[str] = []
    for turn in range(turns):
        async with _sdk(url) as sdk:
            response = await sdk.responses.create(model="gpt-x", input=f"turn {turn}",
                                                  previous_response_id=ids[-1] if ids else None)
        ids.append(response.id)
    return ids


@async_test
async def test_serve_with_two_workers_shares_the_data_directory(tmp_path: Path) -> None:
    async with FakeOpenAI(["gpt-x"]) as fake:
        port = free_port()
        argv = ["interlingua", "serve", "--config", str(_config(tmp_path, fake.url)), "--port", str(port),
                "--workers", "2"]
        async with gateway_process(argv, port) as gateway:
            assert len(children(gateway.process.pid)) >= 2  # the supervisor's two workers
            sdks = [_sdk(gateway.url) for _ in range(8)]
            answers = await asyncio.gather(*(
                sdk.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": f"hi {n}"}])
                for n, sdk in enumerate(sdks * 3)))
            assert {a.choices[0].message.content for a in answers} == {"Hello from fake"}
            for sdk in sdks:
                await sdk.close()
            await _conversation(gateway.url, 6)
            assert await _counted(gateway.url, 24 + 6)  # whichever worker answers the scrape
        # Every turn reached the upstream with the whole conversation so far, whichever worker held it.
        chats = [r.json for r in fake.requests if r.path == "/v1/chat/completions"]
        conversation = [c["messages"] for c in chats[24:]]
        assert [len([m for m in messages if m["role"] == "user"]) for messages in conversation] == [1, 2, 3, 4, 5, 6]
        assert conversation[-1][-1] == {"role": "user", "content": "turn 5"}
    assert b"2 workers" in gateway.stderr
    rows = totals(tmp_path / "data" / LEDGER_FILE)
    assert [(r["key"], r["model"], r["requests"], r["errors"]) for r in rows] == [("team", "gpt-x", 30, 0)]


@async_test
async def test_uvicorn_factory_takes_the_config_from_the_environment(tmp_path: Path) -> None:
    async with FakeOpenAI(["gpt-x"]) as fake:
        port = free_port()
        env = {"INTERLINGUA_CONFIG": str(_config(tmp_path, fake.url))}
        argv = ["uvicorn", "--factory", "interlingua:create_app", "--port", str(port), "--workers", "2"]
        async with gateway_process(argv, port, env) as gateway, _sdk(gateway.url) as sdk:
            answer = await sdk.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "Hello from fake"
            with_bad_key = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
            try:
                await with_bad_key.models.list()
                raise AssertionError("a wrong key was let in")
            except openai.AuthenticationError:
                pass
            await with_bad_key.close()


@async_test
async def test_gunicorn_with_uvicorn_workers(tmp_path: Path) -> None:
    async with FakeOpenAI(["gpt-x"]) as fake:
        port = free_port()
        env = {"INTERLINGUA_CONFIG": str(_config(tmp_path, fake.url))}
        argv = ["gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "2", "-b", f"127.0.0.1:{port}",
                "interlingua:create_app()"]
        async with gateway_process(argv, port, env) as gateway:
            assert len(children(gateway.process.pid)) == 2
            ids = await _conversation(gateway.url, 4)
            async with _sdk(gateway.url) as sdk:
                assert (await sdk.responses.retrieve(ids[0])).output_text == "Hello from fake"
    assert os.path.exists(tmp_path / "data" / "responses.sqlite3")
