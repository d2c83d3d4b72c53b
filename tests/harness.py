"""Serve an ASGI app with real uvicorn on an ephemeral loopback port, inside the test's loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
import uvicorn
from google import genai
from google.genai import types

from interlingua.app.config import parse
from interlingua.app.factory import Gateway, create_app


@asynccontextmanager
async def serve(app: Any, lifespan: str = "off") -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http="httptools", lifespan=lifespan, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.002)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def gateway(data_dir: Path, **tables: Any) -> AsyncIterator[tuple[Gateway, str]]:
    """The whole gateway from config tables (`providers=`, `models=`, `keys=`, `server=`)."""
    raw = dict(tables)
    raw["server"] = {"data_dir": str(data_dir), **raw.get("server", {})}
    app = create_app(parse(raw, {}, "test"))
    try:
        async with serve(app) as url:
            yield app, url
    finally:
        await app.aclose()


def client(url: str, key: str = "sk-anything") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=10)


def provider(url: str, *models: str, **options: Any) -> dict[str, Any]:
    return {"type": "openai", "url": url, "key": "sk-upstream-secret", "models": list(models), **options}


def anthropic_client(url: str, key: str = "sk-anything") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=key, max_retries=0, timeout=10)


def anthropic_provider(url: str, *models: str, **options: Any) -> dict[str, Any]:
    return {"type": "anthropic", "url": url, "key": "sk-ant-upstream-secret", "models": list(models), **options}


def gemini_client(url: str, key: str = "sk-anything") -> genai.Client:
    options = types.HttpOptions(base_url=url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


def gemini_provider(url: str, *models: str, **options: Any) -> dict[str, Any]:
    return {"type": "gemini", "url": url, "key": "g-upstream-secret", "models": list(models), **options}
