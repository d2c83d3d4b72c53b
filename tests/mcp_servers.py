"""Real MCP servers for the proxy's tests, made with the official `mcp` SDK's `MCPServer`.

The same tools on every transport: Streamable HTTP (stateful with SSE and an event store, or
stateless with JSON answers), legacy HTTP+SSE, and stdio (`python -m tests.mcp_servers NAME`).
"""

from __future__ import annotations

import os
import sys
from itertools import count

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.types import JSONRPCMessage, SamplingMessage, TextContent


class MemoryEventStore(EventStore):
    """Every event kept, so a client that reconnects with Last-Event-ID gets the rest."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, JSONRPCMessage | None]] = []
        self._ids = count(1)

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = str(next(self._ids))
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        stream = next((s for e, s, _ in self.events if e == last_event_id), None)
        if stream is None:
            return None
        after = False
        for event_id, stream_id, message in self.events:
            if after and stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream


def build(name: str) -> MCPServer:
    server = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def forbidden() -> str:
        """A tool the allow-list leaves out."""
        return "the allow-list let this through"

    @server.tool()
    async def steps(n: int, ctx: Context) -> str:
        """Report progress n times."""
        for i in range(n):
            await ctx.report_progress(i + 1, n, f"step {i + 1}")
            await anyio.sleep(0.01)
        return f"{name} did {n} steps"

    @server.tool()
    async def ask(question: str, ctx: Context, aside: bool = False) -> str:
        """Ask the client's model (sampling): on this call's stream, or `aside` on the session's own."""
        answer = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(type="text", text=question))], max_tokens=20,
            related_request_id=None if aside else ctx.request_id)
        return f"the model said: {answer.content.text}"

    @server.tool()
    async def interrupted(ctx: Context) -> str:
        """Close the answer's stream midway, so the client must resume it with Last-Event-ID."""
        await ctx.report_progress(1, 2, "before the break")
        await ctx.close_sse_stream()
        await anyio.sleep(0.3)
        await ctx.report_progress(2, 2, "after the break")
        return "resumed"

    @server.tool()
    def crash() -> str:
        """End the server process (stdio) in the middle of a call."""
        sys.stdout.flush()
        os._exit(3)

    @server.prompt()
    def greet(who: str) -> str:
        """A greeting."""
        return f"Hello from {name}, {who}"

    @server.resource("note://readme")
    def readme() -> str:
        return f"the {name} readme"

    return server


if __name__ == "__main__":
    print(f"stdio MCP server {sys.argv[1]} starting", file=sys.stderr)
    build(sys.argv[1]).run("stdio")
