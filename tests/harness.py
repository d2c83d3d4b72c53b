"""Serve an ASGI app with real uvicorn on an ephemeral loopback port, inside the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
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
        await _stopped(server, task)


async def _stopped(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Uvicorn's own shutdown, without its fixed waits: its main loop looks for `should_exit` every
    0.1 s and its shutdown sleeps 0.1 s before it looks at the connections, which a test's every
    server paid (about 0.2 s, a tenth of the suite). Connections still finish what they are sending,
    background tasks still end, and the lifespan still shuts down."""
    server.should_exit = True
    if not task.done():
        task.cancel()  # the main loop, asleep between its ticks
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for listening in server.servers:
        listening.close()
    for connection in list(server.server_state.connections):
        connection.shutdown()
    deadline = asyncio.get_running_loop().time() + server.config.timeout_graceful_shutdown if (
        server.config.timeout_graceful_shutdown) else None
    while server.server_state.connections or server.server_state.tasks:
        if deadline is not None and asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.002)
    for listening in server.servers:
        await listening.wait_closed()
    await server.lifespan.shutdown()


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


async def streamed_response(sdk: openai.AsyncOpenAI, **body: Any) -> tuple[Any, list[str]]:
    """A Responses turn streamed through the SDK: the final response it assembles, and the type of
    every event, in order."""
    kinds: list[str] = []
    async with sdk.responses.stream(**body) as stream:
        async for event in stream:
            kinds.append(event.type)
        final = await stream.get_final_response()
    return final, kinds


async def chat_text(completions: Any, stream: bool, /, **body: Any) -> str:
    """A Chat turn's text through the SDK's `chat.completions`: created whole, or streamed and its
    deltas joined."""
    if not stream:
        return (await completions.create(**body)).choices[0].message.content or ""
    chunks = [chunk async for chunk in await completions.create(**body, stream=True)]
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def claude_message(resource: Any, stream: bool, /, **body: Any) -> Any:
    """A Messages turn through the SDK's `messages` (or `beta.messages`) resource: created whole, or
    streamed and the message the SDK assembles from the events."""
    if not stream:
        return await resource.create(**body)
    async with resource.stream(**body) as events:
        return await events.get_final_message()


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
