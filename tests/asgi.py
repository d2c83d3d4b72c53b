"""Drive one ASGI app directly, with no server: what each middleware's own tests need."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class Exchange:
    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""
    messages: list[dict[str, Any]] = field(default_factory=list)
    scope: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(app: Any, method: str = "POST", path: str = "/v1/chat/completions", *,
               body: bytes | list[bytes] = b"", headers: list[tuple[bytes, bytes]] | None = None,
               query: bytes = b"", root_path: str = "", state: dict[str, Any] | None = None) -> Exchange:
    chunks = body if isinstance(body, list) else [body]
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    out = Exchange()

    async def send(message: dict[str, Any]) -> None:
        out.messages.append(message)
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")
            if not message.get("more_body"):
                done.set()

    scope = {"type": "http", "method": method, "path": root_path + path, "root_path": root_path,
             "headers": headers or [], "query_string": query, "state": state if state is not None else {}}
    out.scope = scope
    await app(scope, receive, send)
    done.set()
    return out


class Recorder:
    """A tiny inner app that records the scope it saw and answers 200 'inner'."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"inner"})


def run(coro: Any) -> Any:
    return asyncio.run(coro)
