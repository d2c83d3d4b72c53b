"""The built wheel in someone else's project: one import name, no shadowing either way.

The wheel goes into a fresh virtual environment (the locked runtime dependencies, then the wheel
alone), next to a sample project that has its own `app`, `app.config`, `middleware` and
`adapters` packages, as most Starlette and FastAPI projects do. The project mounts the gateway
under `/ai` beside its own routes, and the wheel's `interlingua` command serves on its own; both
answer the official SDK through a fake OpenAI upstream.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.asgi import run
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import client

ROOT = Path(__file__).resolve().parent.parent

SITE = {
    "app/__init__.py": '"""The shop\'s own app package."""\n',
    "app/config.py": 'SHOP_NAME = "corner shop"\n',
    "middleware/__init__.py": 'MARK = "shop middleware"\n',
    "adapters/__init__.py": 'MARK = "shop adapters"\n',
    "app/main.py": '''
        from contextlib import asynccontextmanager

        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Mount, Route

        import adapters
        import middleware
        from app.config import SHOP_NAME
        from interlingua import create_app
        from interlingua.app.config import from_env

        gateway = create_app(from_env())


        async def home(request):
            return JSONResponse({"shop": SHOP_NAME, "marks": [middleware.MARK, adapters.MARK]})


        @asynccontextmanager
        async def lifespan(site):
            yield
            await gateway.aclose()


        site = Starlette(routes=[Route("/", home), Mount("/ai", app=gateway)], lifespan=lifespan)
        ''',
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment holding the locked runtime dependencies and the wheel, nothing else."""
    work = tmp_path_factory.mktemp("wheel")
    # This environment's pip installs into the new one, which needs none of its own; the servers
    # compile what they import, not every module of every dependency.
    pip = [sys.executable, "-m", "pip", "--python", str(work / "venv/bin/python"), "install", "--quiet",
           "--disable-pip-version-check", "--no-compile"]
    steps = [
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(work / "dist"), str(ROOT)],
        [sys.executable, "-m", "venv", "--without-pip", str(work / "venv")],
        [*pip, "--require-hashes", "--only-binary", ":all:", "-r", str(ROOT / "requirements.lock")],
    ]
    for step in steps:
        subprocess.run(step, check=True, capture_output=True, timeout=300)
    (wheel,) = (work / "dist").glob("interlingua-*.whl")
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, capture_output=True, timeout=120)
    return work / "venv"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for name, text in SITE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    return tmp_path


@contextmanager
def started(command: list[str], cwd: Path, upstream: str, port: int) -> Iterator[str]:
    """Run a server from the fresh environment, configured from its environment alone."""
    env = {"PATH": "/usr/bin:/bin", "OPENAI_BASE_URL": upstream, "OPENAI_API_KEY": "sk-upstream",
           "INTERLINGUA_DATA_DIR": str(cwd / "data")}
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ask(base_url: str) -> str | None:
    reply = await client(base_url).chat.completions.create(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    return reply.choices[0].message.content


def test_mounted_in_a_project_with_its_own_app_package(venv: Path, site: Path) -> None:
    port = free_port()
    command = [str(venv / "bin/python"), "-m", "uvicorn", "app.main:site", "--port", str(port)]

    async def scenario() -> None:
        async with FakeOpenAI() as up:
            with started(command, site, up.url, port) as url:
                home = await asyncio.to_thread(httpx.get, url + "/")
                answer = await ask(url + "/ai")
            assert up.requests[-1].json["model"] == "gpt-4o"
        assert home.json() == {"shop": "corner shop", "marks": ["shop middleware", "shop adapters"]}
        assert answer == "Hello from fake"

    run(scenario())


def test_the_wheels_command_serves(venv: Path, site: Path) -> None:
    port = free_port()
    command = [str(venv / "bin/interlingua"), "serve", "--port", str(port)]

    async def scenario() -> None:
        async with FakeOpenAI() as up:
            with started(command, site, up.url, port) as url:
                answer = await ask(url)
        assert answer == "Hello from fake"
        assert os.path.exists(site / "data")  # the ledger went where the environment said

    run(scenario())
