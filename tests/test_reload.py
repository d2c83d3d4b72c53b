"""Config reload: `Gateway.reload()` in process, SIGHUP to `interlingua serve`, and SIGHUP to the
supervisor of `--workers 2`: a new config serves the next requests, requests in flight finish on
the old one, and a config that does not validate is refused with the reason logged."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import httpx
import openai
import pytest

from interlingua.app.config import load
from interlingua.app.factory import create_app
from tests.documents import flate_bomb_pdf
from tests.fakes.openai_upstream import FakeOpenAI, text
from tests.harness import serve
from tests.processes import free_port, gateway_process
from tests.support import async_test

OLD_KEY, NEW_KEY = "sk-old-key-0123", "sk-new-key-0123"


def _write(path: Path, upstream: str, key: str, extra: str = "") -> Path:
    path.write_text(f"""
[server]
data_dir = "{path.parent / 'data'}"
{extra}
[providers.up]
type = "openai"
url = "{upstream}"
models = ["gpt-x"]

[keys.team]
key = "{key}"
""")
    return path


def _sdk(url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)


async def _works(url: str, key: str) -> bool:
    async with _sdk(url, key) as sdk:
        try:
            await sdk.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError:
            return False
    return True


@async_test
async def test_reload_swaps_the_config_and_lets_streams_in_flight_finish(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with FakeOpenAI(["gpt-x"]) as fake:
        path = _write(tmp_path / "gateway.toml", fake.url, OLD_KEY)
        app = create_app(load(path))
        gate = asyncio.Event()
        fake.script(text("one ", "two ", "three", gate=gate))
        try:
            async with serve(app) as url, _sdk(url, OLD_KEY) as old:
                stream = await old.chat.completions.create(
                    model="gpt-x", messages=[{"role": "user", "content": "count"}], stream=True)
                first = await anext(aiter(stream))
                _write(path, fake.url, NEW_KEY, "ping_seconds = 5\n")
                assert app.reload() is True
                assert app.config.server.ping_seconds == 5
                assert await _works(url, NEW_KEY) and not await _works(url, OLD_KEY)
                gate.set()  # the stream that began under the old config ends under it, whole
                pieces = [first.choices[0].delta.content or ""]
                pieces += [c.choices[0].delta.content or "" async for c in stream if c.choices]
                assert "".join(pieces) == "one two three"
                path.write_text(path.read_text().replace('type = "openai"', 'type = "openai"\ntimeout = "soon"'))
                with caplog.at_level(logging.ERROR, "interlingua"):
                    assert app.reload() is False
                assert "config reload refused, the running config stays: providers.up.timeout: must be a number" \
                    in caplog.text
                assert await _works(url, NEW_KEY)
        finally:
            await app.aclose()


@async_test
async def test_reload_gives_the_document_readers_their_new_memory(tmp_path: Path) -> None:
    """`[documents]` applies from the next document on: the idle readers end, new ones get the new bound."""
    bomb = flate_bomb_pdf(300)  # takes PDFium about 700 MB
    async with FakeOpenAI(["gpt-x"]) as fake:
        path = _write(tmp_path / "gateway.toml", fake.url, OLD_KEY)
        path.write_text(path.read_text() + "[documents]\nmemory_mb = 512\n")
        app = create_app(load(path))
        try:
            async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
                headers = {"authorization": f"Bearer {OLD_KEY}", "content-type": "application/pdf"}
                before = await http.post("/v1/extract", content=bomb, headers=headers)
                path.write_text(path.read_text().replace("memory_mb = 512", "memory_mb = 1024"))
                assert app.reload() is True
                after = await http.post("/v1/extract", content=bomb, headers=headers)
        finally:
            await app.aclose()
    assert before.status_code == 413
    assert "the 512 MB of memory a reader may use" in before.json()["error"]["message"]
    assert (after.status_code, after.text) == (200, "Hello")


@async_test
async def test_sighup_reloads_a_running_serve(tmp_path: Path) -> None:
    async with FakeOpenAI(["gpt-x"]) as fake:
        path = _write(tmp_path / "gateway.toml", fake.url, OLD_KEY)
        port = free_port()
        async with gateway_process(["interlingua", "serve", "--config", str(path), "--port", str(port)],
                                   port) as gateway:
            assert await _works(gateway.url, OLD_KEY)
            path.write_text("[server]\nport = 0\n")  # does not validate
            gateway.process.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            assert await _works(gateway.url, OLD_KEY)
            _write(path, fake.url, NEW_KEY)
            gateway.process.send_signal(signal.SIGHUP)
            for _ in range(50):
                await asyncio.sleep(0.1)
                if await _works(gateway.url, NEW_KEY):
                    break
            assert await _works(gateway.url, NEW_KEY) and not await _works(gateway.url, OLD_KEY)
    assert b"config reload refused, the running config stays: server.port: must be between 1 and 65535" \
        in gateway.stderr


@async_test
async def test_sighup_to_the_workers_supervisor_replaces_them_one_by_one(tmp_path: Path) -> None:
    """uvicorn's supervisor starts a new worker before it retires an old one, and keeps the old ones
    when the new config does not load."""
    async with FakeOpenAI(["gpt-x"]) as fake:
        path = _write(tmp_path / "gateway.toml", fake.url, OLD_KEY)
        port = free_port()
        argv = ["interlingua", "serve", "--config", str(path), "--port", str(port), "--workers", "2"]
        async with gateway_process(argv, port) as gateway:
            # One worker answering is not both having read the config: a worker still starting
            # would read the broken one written next, and fail.
            for _ in range(300):
                if len(_loaded(gateway.process.pid, tmp_path / "data")) == 2:
                    break
                await asyncio.sleep(0.1)
            path.write_text("[server]\nport = 0\n")
            gateway.process.send_signal(signal.SIGHUP)
            await asyncio.sleep(2)
            assert all(await asyncio.gather(*(_works(gateway.url, OLD_KEY) for _ in range(6))))
            old_workers = _workers(gateway.process.pid)
            assert len(old_workers) == 2
            _write(path, fake.url, NEW_KEY)
            gateway.process.send_signal(signal.SIGHUP)
            for _ in range(600):  # the supervisor may still be waiting out the failed replacement
                await asyncio.sleep(0.1)
                workers = _workers(gateway.process.pid)
                if len(workers) == 2 and not workers & old_workers:
                    break
            assert not _workers(gateway.process.pid) & old_workers
            assert all(await asyncio.gather(*(_works(gateway.url, NEW_KEY) for _ in range(6))))
    assert b"server.port: must be between 1 and 65535" in gateway.stderr


def _loaded(supervisor: int, data_dir: Path) -> set[int]:
    """The workers that have built their gateway from the config: they hold its state store open."""
    state = str(data_dir / "state.sqlite3")
    found = set()
    for worker in _workers(supervisor):
        try:
            if any(os.readlink(fd) == state for fd in Path(f"/proc/{worker}/fd").iterdir()):
                found.add(worker)
        except OSError:
            continue
    return found


def _workers(supervisor: int) -> set[int]:
    """The live worker processes uvicorn's supervisor has spawned (not multiprocessing's helpers)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == supervisor and fields[0] != "Z" and b"spawn_main" in cmdline:
            found.add(int(stat.parent.name))
    return found
