"""Replicas on shared engines: two gateway processes, each with its own data directory as if on its
own machine, against a real Redis (`[state] url`) and a real PostgreSQL (`[storage] url`) started
here; and the faults: Redis down and back, PostgreSQL down and back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openai

from tests.fakes import anthropic_upstream as fa
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import anthropic_provider, client, gateway
from tests.processes import GatewayProcess, free_port, gateway_process
from tests.servers import RedisServer, postgres
from tests.support import async_test, fresh_minute

KEY = "sk-replica-key-0123"
ADMIN = "sk-replica-admin-0123456"
TOOLS: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def _config(path: Path, upstream: str, extra: str, rpm: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""
[server]
data_dir = "{path.parent / 'data'}"
{extra}
[providers.up]
type = "openai"
url = "{upstream}"
models = ["gpt-x"]

[keys.team]
key = "{KEY}"
{f'rpm = {rpm}' if rpm else ''}
""")
    return path


@contextlib.asynccontextmanager
async def _replicas(tmp_path: Path, upstream: str, extra: str, rpm: int = 0) -> AsyncIterator[list[GatewayProcess]]:
    """Two `interlingua serve` processes started at the same moment (so their start-up races)."""
    async with contextlib.AsyncExitStack() as stack:
        runs = []
        for name in ("a", "b"):
            port = free_port()
            config = _config(tmp_path / name / "gateway.toml", upstream, extra, rpm)
            runs.append(gateway_process(["interlingua", "serve", "--config", str(config), "--port", str(port)], port))
        yield list(await asyncio.gather(*(stack.enter_async_context(run) for run in runs)))


async def _chat(url: str, key: str = KEY) -> int:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20) as sdk:
        try:
            await sdk.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        except openai.APIStatusError as exc:
            return exc.status_code
    return 200


@async_test
async def test_rate_limit_holds_across_replicas_and_survives_redis_going_away(tmp_path: Path) -> None:
    server = RedisServer()
    await server.start()
    try:
        async with FakeOpenAI(["gpt-x"]) as fake, _replicas(
                tmp_path, fake.url, f'[state]\nurl = "{server.url}"\n', rpm=5) as (a, b):
            await fresh_minute()
            statuses = [await _chat(gateway.url) for gateway in (a, b) * 4]
            assert statuses.count(200) == 5 and statuses.count(429) == 3  # one limit for both replicas
            await server.stop()
            # Redis is gone: each replica counts alone, and serves (this minute anew, on its own).
            assert [await _chat(a.url) for _ in range(6)] == [200] * 5 + [429]
            async with httpx.AsyncClient() as http:
                ready = await http.get(a.url + "/readyz")
                assert ready.status_code == 503 and "Redis" in ready.json()["failing"]["state"]
                await server.start()  # an empty Redis: the shared count starts again
                await asyncio.sleep(1.1)  # the replicas try Redis again after a second
                assert (await http.get(b.url + "/readyz")).status_code == 200
            await fresh_minute()
            statuses = [await _chat(gateway.url) for gateway in (a, b) * 4]
            assert statuses.count(200) == 5  # shared again
    finally:
        await server.close()
    assert b"Redis at redis://127.0.0.1" in a.stderr and b"unreachable" in a.stderr and b"is back" in a.stderr


async def _conversation_across(a: GatewayProcess, b: GatewayProcess, fake: FakeOpenAI) -> None:
    """A Responses conversation begun on one replica goes on on the other, at once."""
    def sdk(gateway: GatewayProcess) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0, timeout=20)

    async with sdk(a) as on_a, sdk(b) as on_b:
        first = await on_a.responses.create(model="gpt-x", input="Capital of France?")
        second = await on_b.responses.create(model="gpt-x", input="Population?", previous_response_id=first.id)
        third = await on_a.responses.create(model="gpt-x", input="Area?", previous_response_id=second.id)
        assert (await on_b.responses.retrieve(third.id)).output_text == "Hello from fake"
        items = await on_b.responses.input_items.list(second.id)
        assert [item.content[0].text for item in items.data] == ["Population?"]  # type: ignore[union-attr]
    messages = fake.requests[-1].json["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["Capital of France?", "Population?", "Area?"]


async def _keys_across(a: GatewayProcess, b: GatewayProcess) -> None:
    """A key made on one replica works on the other within a second; rotated or revoked there, its
    old secret is refused by the first within a second."""
    admin = {"authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient() as http:
        made = await http.post(a.url + "/admin/keys", headers=admin, json={"name": "roaming", "rpm": 100})
        secret = made.json()["key"]
        await asyncio.sleep(1)
        assert await _chat(b.url, secret) == 200
        assert [k["name"] for k in (await http.get(b.url + "/admin/keys", headers=admin)).json()["data"]] == ["roaming"]
        rotated = (await http.post(b.url + "/admin/keys/roaming/rotate", headers=admin)).json()["key"]
        await asyncio.sleep(1)
        assert [await _chat(a.url, secret), await _chat(a.url, rotated)] == [401, 200]
        assert (await http.delete(b.url + "/admin/keys/roaming", headers=admin)).status_code == 200
        await asyncio.sleep(1)
        assert await _chat(a.url, rotated) == 401


async def _rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT COUNT(*) FROM usage WHERE status = 200"))
    finally:
        await conn.close()


async def _wait_rows(url: str, count: int, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = await _rows(url)
        except (OSError, asyncpg.PostgresError):
            rows = -1
        if rows >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


@async_test
async def test_ledger_in_postgres_from_two_replicas_and_none_lost_in_a_database_restart(tmp_path: Path) -> None:
    async with postgres() as server:
        storage = f'[storage]\nurl = "{server.url}"\n[admin]\nkey = "{ADMIN}"\n'
        async with FakeOpenAI(["gpt-x"]) as fake, _replicas(tmp_path, fake.url, storage) as (a, b):
            assert set(await asyncio.gather(*(_chat(g.url) for g in (a, b) * 3))) == {200}
            assert await _wait_rows(server.url, 6) == 6
            await server.stop()
            assert [await _chat(g.url) for g in (a, b) * 2] == [200] * 4  # served while it is down
            async with httpx.AsyncClient() as http:
                ready = await http.get(a.url + "/readyz")
                assert ready.status_code == 503 and "PostgreSQL" in ready.json()["failing"]["storage"]
                stored = await http.get(b.url + "/v1/responses/resp_0123", headers={"authorization": f"Bearer {KEY}"})
                assert stored.status_code == 503  # the store cannot say: not a 404, not a 500
                assert stored.json()["error"]["message"] == "the Responses store is unreachable; try again shortly"
            await server.start()
            assert await _wait_rows(server.url, 10) == 10  # the queued rows arrive once it is back
            await _conversation_across(a, b, fake)
            await _keys_across(a, b)
        conn = await asyncpg.connect(server.url)
        try:
            keys = {row["key"] for row in await conn.fetch('SELECT DISTINCT "key" FROM usage')}
        finally:
            await conn.close()
        assert keys == {"team", "roaming"}
    assert b"cannot write to PostgreSQL" in a.stderr + b.stderr


@async_test
async def test_chat_clients_reasoning_continues_on_another_replica(tmp_path: Path) -> None:
    """A Chat client's tool loop on Anthropic with thinking: the signed thinking that replica A
    kept is sent back by replica B, which gets it through Redis."""
    server = RedisServer()
    await server.start()
    try:
        async with fa.FakeAnthropic() as up, contextlib.AsyncExitStack() as stack:
            urls = []
            for name in ("a", "b"):
                _, url = await stack.enter_async_context(gateway(
                    tmp_path / name, providers={"claude": anthropic_provider(up.url, "c1")},
                    state={"url": server.url}))
                urls.append(url)
            up.script(fa.reply(fa.thinking("weather ", "needed"), fa.call("get_weather", '{"city": "Oslo"}')),
                      fa.text("Cold."))
            hi: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
            first = await client(urls[0]).chat.completions.create(model="c1", messages=hi, tools=TOOLS,
                                                                  reasoning_effort="high")
            (call,) = first.choices[0].message.tool_calls or []
            history: list[Any] = [*hi, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                                  {"role": "tool", "tool_call_id": call.id, "content": "-3 C"}]
            await asyncio.sleep(0.1)  # A's write to Redis is off the request path
            second = await client(urls[1]).chat.completions.create(model="c1", messages=history, tools=TOOLS,
                                                                   reasoning_effort="high")
            assert second.choices[0].message.content == "Cold."
            turn = up.requests[-1].json["messages"][1]["content"]
            assert turn[0]["type"] == "thinking" and turn[0]["signature"] in up.signatures
    finally:
        await server.close()
