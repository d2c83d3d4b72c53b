"""The three ways to run Interlingua: served alone, mounted in a Starlette app, one middleware alone."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from interlingua.app import create_app
from interlingua.app.config import parse
from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.state import PRINCIPAL, Principal
from tests.asgi import run
from tests.fakes.openai_upstream import FakeOpenAI
from tests.harness import client, provider, serve

ROOT = Path(__file__).resolve().parent.parent


def test_mounted_under_a_prefix_inside_a_starlette_app(tmp_path: Path) -> None:
    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("site ok")

    async def scenario() -> None:
        async with FakeOpenAI() as up:
            gateway = create_app(parse({"providers": {"up": provider(up.url, "m")},
                                        "server": {"data_dir": str(tmp_path)}}, {}, "test"))
            site = Starlette(routes=[Route("/health", health), Mount("/ai", app=gateway)])
            try:
                async with serve(site) as url:
                    async with httpx.AsyncClient(base_url=url) as raw:
                        assert (await raw.get("/health")).text == "site ok"
                        assert (await raw.get("/nothing-here")).status_code == 404
                    reply = await client(url + "/ai").chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "hi"}])
                    assert reply.choices[0].message.content == "Hello from fake"
                    listed = (await client(url + "/ai").models.list()).data
                    assert [m.id for m in listed] == ["all-minilm-l6-v2", "minilm-bm25", "m"]
            finally:
                await gateway.aclose()
            assert up.requests[-1].path == "/v1/chat/completions"

    run(scenario())


def test_auth_middleware_alone_in_front_of_an_unrelated_app() -> None:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"principal": request.scope["state"][PRINCIPAL].name})

    keys = {hashlib.sha256(b"sk-site-secret-1").digest(): Principal("alice")}
    app = AuthMiddleware(Starlette(routes=[Route("/whoami", whoami)]), keys)

    async def scenario() -> None:
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as raw:
            refused = await raw.get("/whoami")
            assert refused.status_code == 401 and refused.json()["error"]["message"] == "missing API key"
            allowed = await raw.get("/whoami", headers={"authorization": "Bearer sk-site-secret-1"})
            assert allowed.json() == {"principal": "alice"}

    run(scenario())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_interlingua_serve_runs_as_a_command(tmp_path: Path) -> None:
    """`interlingua serve` from the environment: no keys, loopback only, answers the models list."""
    port = _free_port()
    env = {"PATH": "/usr/bin:/bin", "INTERLINGUA_DATA_DIR": str(tmp_path), "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    proc = subprocess.Popen([sys.executable, "-m", "interlingua", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        body: Any = None
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/v1/models/openai/gpt-5-mini", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert body == {"id": "openai/gpt-5-mini", "object": "model", "created": 0, "owned_by": "openai",
                        "capabilities": ["chat"]}
    finally:
        proc.terminate()
        proc.wait(10)
    assert b"listening on http://127.0.0.1:" in proc.stderr.read()  # type: ignore[union-attr]
