"""stdio servers behind Streamable HTTP: the gateway is the HTTP server, the process the MCP server.

`initialize` without a session starts a process (`adapters/mcp/stdio.py`) and answers with its
`Mcp-Session-Id`, which only the key that opened it can use (404 for any other). A POST with
requests is answered as SSE (or JSON for a client that accepts no SSE), with the server's own
messages meanwhile; one with only notifications or responses is 202. GET opens the session's
server-to-client stream (one at a time, 409 for a second), DELETE ends the process.
"""

from __future__ import annotations

from interlingua.adapters.dialects import sse
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.mcp import jsonrpc
from interlingua.adapters.mcp.stdio import Pending, StdioSession, StdioSessions
from interlingua.adapters.mcp.stream import filter_tools
from interlingua.middleware.mcp_exchange import SESSION, Exchange
from interlingua.middleware.mcp_http import session_gone


async def bridge(exchange: Exchange, sessions: StdioSessions) -> None:
    body = exchange.body
    if exchange.opens_session():
        session = await sessions.start(exchange.server, exchange.owner)
    else:
        found = sessions.get(exchange.server, exchange.owner, exchange.header(SESSION) or "")
        if found is None:
            raise session_gone()
        session = found
    headers = [(SESSION, session.id.encode())]
    if exchange.method == "DELETE":
        await sessions.stop(session)
        await exchange.answer(200, b"", headers)
    elif exchange.method == "GET":
        await listen(exchange, session, headers)
    elif body is not None and body.requests:
        await ask(exchange, session, headers)
    elif body is not None:
        await session.send(body.messages, None)
        await exchange.answer(202, b"", headers)


async def ask(exchange: Exchange, session: StdioSession, headers: list[tuple[bytes, bytes]]) -> None:
    """Write the body's messages and stream back the answers to its requests."""
    body = exchange.body
    assert body is not None
    pending = Pending({m.id for m in body.requests}, exchange.accepts_sse)
    allowed = session.server.tools if exchange.wants("tools/list") else None
    await session.send(body.messages, pending)
    try:
        answers: list[bytes] = []
        if pending.sse:
            await exchange.open_stream(headers)
        while True:
            line = await pending.queue.get()
            if line is None:
                break
            if allowed is not None:
                line = filter_tools(line, allowed)
            if body.tool is not None:
                exchange.outcome(jsonrpc.outcome(line))
            if pending.sse:
                await exchange.write(sse.frame(line, "message"))
            else:
                answers.append(line)
            if not pending.waiting and pending.queue.empty():
                break
        if pending.sse:
            await exchange.write(b"", more=False)
        else:
            payload = b"[" + b",".join(answers) + b"]" if body.batch else answers[0] if answers else b""
            await exchange.answer(200, payload, headers)
    finally:
        session.done(pending)


async def listen(exchange: Exchange, session: StdioSession, headers: list[tuple[bytes, bytes]]) -> None:
    """The server-to-client stream: what the process says outside any POST's answer."""
    if not exchange.accepts_sse:
        raise GatewayError("invalid_request", "Not Acceptable: the GET stream is text/event-stream", status=406)
    try:
        await exchange.listen(session, headers, lambda line: sse.frame(line, "message"))
    finally:
        session.touch()
