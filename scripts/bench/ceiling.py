"""The ceiling of this stack: Starlette on uvicorn (uvloop, httptools, one process) passing any
``POST`` through to the upstream with one pooled ``aiohttp`` session, parsing nothing: the body
goes up as bytes and the answer comes back as bytes (streams chunk by chunk). No gateway built on
this stack can be faster; Interlingua's targets are ratios to it.

Runs in its own process: ``python -m scripts.bench.ceiling PORT UPSTREAM_PORT`` (from the
repository root).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from scripts.bench import HOST, UPSTREAM_KEY


def main(port: int, upstream_port: int) -> None:
    upstream = f"http://{HOST}:{upstream_port}"
    sessions: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            sessions["upstream"] = session
            yield

    async def forward(request: Request) -> Response:
        headers = {"content-type": "application/json", "authorization": f"Bearer {UPSTREAM_KEY}"}
        if "anthropic-version" in request.headers:
            headers["anthropic-version"] = request.headers["anthropic-version"]
        response = await sessions["upstream"].post(upstream + request.url.path, data=await request.body(),
                                                   headers=headers)
        content_type = response.headers.get("content-type", "application/json")
        if content_type.startswith("text/event-stream"):
            return StreamingResponse(response.content.iter_any(), status_code=response.status,
                                     media_type=content_type, background=BackgroundTask(response.release))
        body = await response.read()
        return Response(body, status_code=response.status, media_type=content_type)

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])], lifespan=lifespan)
    uvicorn.run(app, host=HOST, port=port, loop="uvloop", http="httptools", access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
