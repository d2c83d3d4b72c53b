"""The naive floor: Starlette on uvicorn (uvloop, httptools, one process) forwarding
``POST /v1/chat/completions`` with a default ``httpx.AsyncClient()``.

Runs in its own process: ``python -m scripts.bench.floor PORT UPSTREAM_PORT`` (from the repository
root).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from scripts.bench import CHAT_PATH, HOST, UPSTREAM_KEY


def main(port: int, upstream_port: int) -> None:
    upstream_url = f"http://{HOST}:{upstream_port}{CHAT_PATH}"
    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as client:
            clients["upstream"] = client
            yield

    async def chat_completions(request: Request) -> Response:
        client = clients["upstream"]
        upstream_request = client.build_request(
            "POST", upstream_url, content=await request.body(),
            headers={"content-type": "application/json", "authorization": f"Bearer {UPSTREAM_KEY}"})
        response = await client.send(upstream_request, stream=True)
        content_type = response.headers.get("content-type", "application/json")
        if content_type.startswith("text/event-stream"):
            return StreamingResponse(response.aiter_raw(), status_code=response.status_code,
                                     media_type=content_type, background=BackgroundTask(response.aclose))
        body = await response.aread()
        return Response(body, status_code=response.status_code, media_type=content_type)

    app = Starlette(routes=[Route(CHAT_PATH, chat_completions, methods=["POST"])], lifespan=lifespan)
    uvicorn.run(app, host=HOST, port=port, loop="uvloop", http="httptools", access_log=False,
                log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
