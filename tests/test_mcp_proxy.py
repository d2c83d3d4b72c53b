"""The MCP proxy end to end: the official `mcp` SDK as client and as servers, through real sockets.

Servers: Streamable HTTP stateful (SSE answers, an event store for resumption), stateless (JSON
answers), legacy HTTP+SSE, and stdio, all made with the SDK's `MCPServer` (`tests/mcp_servers.py`).
Clients: the SDK's Streamable HTTP and SSE clients and `ClientSession`, with the gateway's key.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CreateMessageResult, TextContent
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from interlingua.app.factory import LEDGER_FILE, Gateway
from tests.harness import gateway, serve
from tests.mcp_servers import MemoryEventStore, build
from tests.support import async_test

ROOT = Path(__file__).resolve().parent.parent
KEY_A, KEY_B, KEY_C = "sk-team-a-key", "sk-team-b-key", "sk-team-c-key"
KEYS = {"a": {"key": KEY_A}, "b": {"key": KEY_B}, "c": {"key": KEY_C, "mcp": ["beta"]}}
ALLOWED = ["add", "steps", "ask", "interrupted", "crash"]
# Sampling is deprecated from 2026-07-28 on; the handshake versions still have it, and clients use it.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")


class Counting:
    """Wraps an upstream app and counts the HTTP requests that reached it, and the disconnects it saw."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, dict[bytes, bytes]]] = []
        self.disconnects = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], dict(scope["headers"])))

            async def watched() -> dict[str, Any]:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.disconnects += 1
                return message

            await self.app(scope, watched, send)
            return
        await self.app(scope, receive, send)


@asynccontextmanager
async def servers(tmp: Path, **mcp: dict[str, Any]) -> AsyncIterator[tuple[Gateway, str, dict[str, Counting]]]:
    """Every kind of upstream and the gateway in front of them; `mcp` adds or overrides servers."""
    ups = {"alpha": Counting(build("alpha").streamable_http_app(event_store=MemoryEventStore(), retry_interval=50)),
           "beta": Counting(build("beta").streamable_http_app(stateless_http=True, json_response=True)),
           "legacy": Counting(build("legacy").sse_app())}
    async with AsyncExitStack() as stack:
        urls = {n: await stack.enter_async_context(serve(app, lifespan="on")) for n, app in ups.items()}
        tables: dict[str, Any] = {
            "alpha": {"url": urls["alpha"] + "/mcp", "tools": ALLOWED, "headers": {"X-Upstream-Token": "up-secret"}},
            "beta": {"url": urls["beta"] + "/mcp"},
            "legacy": {"url": urls["legacy"] + "/sse", "transport": "sse", "tools": ALLOWED},
            "local": {"command": sys.executable, "args": ["-m", "tests.mcp_servers", "local"], "cwd": str(ROOT),
                      "tools": ALLOWED, "max_processes": 2},
            **mcp}
        gw, url = await stack.enter_async_context(gateway(tmp, keys=KEYS, mcp=tables,
                                                          server={"cors_origins": ["http://inspector.test"]}))
        yield gw, url, ups


@asynccontextmanager
async def session(url: str, key: str = KEY_A, **options: Any) -> AsyncIterator[ClientSession]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=20) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write, **options) as client:
                await client.initialize()
                yield client


async def sampling(context: Any, params: Any) -> CreateMessageResult:
    """The client's model: answers a server's sampling request."""
    asked = params.messages[0].content.text
    return CreateMessageResult(role="assistant", content=TextContent(type="text", text=f"echo {asked}"),
                               model="client-model")


def ledger_rows(gw: Gateway, tmp: Path) -> list[dict[str, Any]]:
    assert gw.ledger is not None
    gw.ledger.flush()
    conn = sqlite3.connect(tmp / LEDGER_FILE)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute('SELECT "key", model, upstream, operation, status, total_ms FROM usage')]
    finally:
        conn.close()


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait up to two seconds for what happens once the other side has noticed a closed socket."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition()


def text(result: Any) -> str:
    return str(result.content[0].text)


async def check_tools(client: ClientSession, name: str, progress: bool = True) -> None:
    """The allow-list filters the list and refuses the rest; calls, progress and sampling work."""
    listed = {t.name for t in (await client.list_tools()).tools}
    assert listed == set(ALLOWED)
    assert text(await client.call_tool("add", {"a": 2, "b": 40})) == "42"
    seen: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, message))

    assert text(await client.call_tool("steps", {"n": 3}, progress_callback=on_progress)) == f"{name} did 3 steps"
    if progress:
        assert seen == [(1, "step 1"), (2, "step 2"), (3, "step 3")]
    assert text(await client.call_tool("ask", {"question": "hi"})) == "the model said: echo hi"
    assert text(await client.call_tool("ask", {"question": "psst", "aside": True})) == "the model said: echo psst"
    with pytest.raises(MCPError, match="not available"):
        await client.call_tool("forbidden", {})


@async_test
async def test_stateful_streamable_http(tmp_path: Path) -> None:
    async with servers(tmp_path) as (gw, url, ups):
        async with session(url + "/v1/mcp/alpha", sampling_callback=sampling) as client:
            await check_tools(client, "alpha")
            prompt = await client.get_prompt("greet", {"who": "Ada"})
            assert prompt.messages[0].content.text == "Hello from alpha, Ada"
            resource = await client.read_resource("note://readme")
            assert resource.contents[0].text == "the alpha readme"
        # The server's credentials went upstream, the gateway's key never did.
        sent = [h for _, h in ups["alpha"].requests]
        assert all(h.get(b"x-upstream-token") == b"up-secret" for h in sent)
        assert not any(b"authorization" in h or KEY_A.encode() in b"".join(h.values()) for h in sent)
        assert any(m == "DELETE" for m, _ in ups["alpha"].requests)  # the session ended upstream
        rows = [r for r in ledger_rows(gw, tmp_path) if r["operation"] == "mcp.tools/call"]
        assert [(r["key"], r["upstream"], r["model"], r["status"]) for r in rows] == [
            ("a", "mcp/alpha", "add", 200), ("a", "mcp/alpha", "steps", 200), ("a", "mcp/alpha", "ask", 200),
            ("a", "mcp/alpha", "ask", 200), ("a", "mcp/alpha", "forbidden", 403)]
        assert all(r["total_ms"] > 0 for r in rows)
        assert gw.mcp.counts[("alpha", "tools/list")] == 1


@async_test
async def test_stateless_json_server(tmp_path: Path) -> None:
    async with servers(tmp_path) as (_, url, ups):
        async with session(url + "/v1/mcp/beta", key=KEY_C) as client:
            assert text(await client.call_tool("add", {"a": 1, "b": 1})) == "2"
            assert text(await client.call_tool("forbidden", {})) == "the allow-list let this through"  # no list
        # Answers came as JSON, untouched.
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY_C}"}) as http:
            answer = await http.post(url + "/v1/mcp/beta", json={"jsonrpc": "2.0", "id": 7, "method": "ping"},
                                     headers={"Accept": "application/json, text/event-stream",
                                              "MCP-Protocol-Version": "2025-06-18"})
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json() == {"jsonrpc": "2.0", "id": 7, "result": {}}
        assert ups["beta"].requests[-1][1][b"mcp-protocol-version"] == b"2025-06-18"


@pytest.mark.parametrize("server", ["alpha", "beta", "local"])
@async_test
async def test_every_protocol_version(tmp_path: Path, server: str) -> None:
    """Each handshake version the SDK knows is negotiated through the gateway and then used (a tool
    call carrying `MCP-Protocol-Version`), on a stateful, a stateless and a stdio server; the
    modern per-request one (no handshake) works with the SDK's own client on the HTTP servers."""
    async with servers(tmp_path) as (_, url, _):
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY_A}",
                                              "Accept": "application/json, text/event-stream"}) as http:
            for version in HANDSHAKE_PROTOCOL_VERSIONS:
                answer = await http.post(url + f"/v1/mcp/{server}", json={
                    "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                        "protocolVersion": version, "capabilities": {},
                        "clientInfo": {"name": "test", "version": "1"}}})
                assert answer.status_code == 200
                assert f'"protocolVersion":"{version}"' in answer.text.replace(" ", "")
                headers = {"MCP-Protocol-Version": version}
                if "mcp-session-id" in answer.headers:
                    headers["Mcp-Session-Id"] = answer.headers["mcp-session-id"]
                ready = await http.post(url + f"/v1/mcp/{server}", headers=headers,
                                        json={"jsonrpc": "2.0", "method": "notifications/initialized"})
                assert ready.status_code == 202
                called = await http.post(url + f"/v1/mcp/{server}", headers=headers, json={
                    "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add",
                                                                                  "arguments": {"a": 3, "b": 4}}})
                assert '"text":"7"' in called.text.replace(" ", ""), called.text
                if "Mcp-Session-Id" in headers:
                    assert (await http.delete(url + f"/v1/mcp/{server}", headers=headers)).status_code == 200
        if server == "local":
            return  # stdio sessions start with initialize: the per-request revision is not bridged
        for version in MODERN_PROTOCOL_VERSIONS:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY_A}"}, timeout=20) as http2:
                async with Client(streamable_http_client(url + f"/v1/mcp/{server}", http_client=http2),
                                  mode=version) as client:
                    assert text(await client.call_tool("add", {"a": 3, "b": 4})) == "7"


@async_test
async def test_resumption_with_last_event_id(tmp_path: Path) -> None:
    async with servers(tmp_path) as (_, url, ups):
        async with session(url + "/v1/mcp/alpha") as client:
            seen: list[str | None] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                seen.append(message)

            result = await client.call_tool("interrupted", {}, progress_callback=on_progress)
            assert text(result) == "resumed"
            assert seen == ["before the break", "after the break"]
        resumed = [h for m, h in ups["alpha"].requests if m == "GET" and b"last-event-id" in h]
        assert resumed, "the client's Last-Event-ID reached the server"


@async_test
async def test_sessions_belong_to_their_key(tmp_path: Path) -> None:
    async with servers(tmp_path) as (_, url, ups):
        async with httpx.AsyncClient(headers={"Accept": "application/json, text/event-stream"}) as http:
            init = await http.post(url + "/v1/mcp/alpha", headers={"Authorization": f"Bearer {KEY_A}"}, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            session_id = init.headers["mcp-session-id"]
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            before = len(ups["alpha"].requests)
            stolen = await http.post(url + "/v1/mcp/alpha", json=ping, headers={
                "Authorization": f"Bearer {KEY_B}", "Mcp-Session-Id": session_id})
            assert stolen.status_code == 404
            assert stolen.json()["error"]["message"] == "Session not found"
            forged = await http.post(url + "/v1/mcp/alpha", json=ping, headers={
                "Authorization": f"Bearer {KEY_A}", "Mcp-Session-Id": session_id.rpartition(".")[0]})
            assert forged.status_code == 404
            assert len(ups["alpha"].requests) == before  # neither reached the server
            own = await http.post(url + "/v1/mcp/alpha", json=ping, headers={
                "Authorization": f"Bearer {KEY_A}", "Mcp-Session-Id": session_id})
            assert own.status_code == 200 and '"result":{}' in own.text.replace(" ", "")
            gone = await http.delete(url + "/v1/mcp/alpha", headers={
                "Authorization": f"Bearer {KEY_A}", "Mcp-Session-Id": session_id})
            assert gone.status_code == 200
            after = await http.post(url + "/v1/mcp/alpha", json=ping, headers={
                "Authorization": f"Bearer {KEY_A}", "Mcp-Session-Id": session_id})
            assert after.status_code == 404  # the server forgot it


@async_test
async def test_bad_input_never_reaches_the_server(tmp_path: Path) -> None:
    async with servers(tmp_path) as (_, url, ups):
        async with httpx.AsyncClient() as http:
            auth = {"Authorization": f"Bearer {KEY_A}", "Accept": "application/json, text/event-stream"}
            unknown = await http.post(url + "/v1/mcp/nope", headers=auth, json={"jsonrpc": "2.0", "id": 1,
                                                                                "method": "ping"})
            assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32600
            denied = await http.post(url + "/v1/mcp/alpha", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                     headers={**auth, "Authorization": f"Bearer {KEY_C}"})
            assert denied.status_code == 403
            keyless = await http.post(url + "/v1/mcp/alpha", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert keyless.status_code == 401 and keyless.json()["jsonrpc"] == "2.0"
            garbage = await http.post(url + "/v1/mcp/alpha", headers=auth, content=b"{not json")
            assert garbage.status_code == 400 and garbage.json()["error"]["code"] == -32700
            for body in ({"id": 1, "method": "ping"}, [], {"jsonrpc": "2.0", "id": [1], "method": "ping"},
                         {"jsonrpc": "2.0", "id": 1}, "ping"):
                wrong = await http.post(url + "/v1/mcp/alpha", headers=auth, json=body)
                assert wrong.status_code == 400 and wrong.json()["error"]["code"] == -32600, body
            nameless = await http.post(url + "/v1/mcp/alpha", headers=auth,
                                       json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}})
            assert nameless.json()["error"]["code"] == -32602
            put = await http.put(url + "/v1/mcp/alpha", headers=auth, content=b"{}")
            assert put.status_code == 405
        assert ups["alpha"].requests == []


@async_test
async def test_stdio_server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "interlingua.mcp")
    async with servers(tmp_path) as (gw, url, _):
        async with session(url + "/v1/mcp/local", sampling_callback=sampling) as client:
            await check_tools(client, "local")
            assert len(gw.mcp.stdio.sessions) == 1
            process = next(iter(gw.mcp.stdio.sessions.values())).process
        # The client's DELETE on close ended the process.
        assert gw.mcp.stdio.sessions == {}
        assert await process.wait() is not None
        async with session(url + "/v1/mcp/local") as client:
            with pytest.raises(MCPError, match="exited"):
                await client.call_tool("crash", {})
        assert gw.mcp.stdio.sessions == {}
    assert "stdio MCP server local starting" in caplog.text  # the process's stderr, in the log


@async_test
async def test_stdio_cap_and_bad_command(tmp_path: Path) -> None:
    broken = {"command": str(tmp_path / "no-such-server")}
    idle = {"command": sys.executable, "args": ["-m", "tests.mcp_servers", "idle"], "cwd": str(ROOT),
            "idle_timeout": 0.3}
    async with servers(tmp_path, broken=broken, idle=idle) as (gw, url, _):
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY_A}",
                                              "Accept": "application/json, text/event-stream"}) as http:
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            failed = await http.post(url + "/v1/mcp/broken", json=init)
            assert failed.status_code == 502 and "could not start" in failed.json()["error"]["message"]
            opened = [await http.post(url + "/v1/mcp/local", json=init) for _ in range(2)]
            assert [o.status_code for o in opened] == [200, 200]
            full = await http.post(url + "/v1/mcp/local", json=init)
            assert full.status_code == 503
            other = await http.post(url + "/v1/mcp/local", json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
                                    headers={"Authorization": f"Bearer {KEY_B}",
                                             "Mcp-Session-Id": opened[0].headers["mcp-session-id"]})
            assert other.status_code == 404
            assert (await http.post(url + "/v1/mcp/idle", json=init)).status_code == 200
            assert len(gw.mcp.stdio.sessions) == 3
            spawned = [s.process for s in gw.mcp.stdio.sessions.values()]
            await eventually(lambda: len(gw.mcp.stdio.sessions) == 2)  # the idle one stopping by itself
        assert len(gw.mcp.stdio.sessions) == 2  # stopped by the gateway's shutdown
    assert gw.mcp.stdio.sessions == {}
    # none outlives the gateway, the idle one's stop included, which shutdown once cut short
    assert [p.returncode is not None for p in spawned] == [True] * 3


@async_test
async def test_legacy_sse_server(tmp_path: Path) -> None:
    async with servers(tmp_path) as (gw, url, ups):
        async with sse_client(url + "/v1/mcp/legacy", headers={"Authorization": f"Bearer {KEY_A}"}) as (read, write):
            async with ClientSession(read, write, sampling_callback=sampling) as client:
                await client.initialize()
                await check_tools(client, "legacy")
        posts = [h for m, h in ups["legacy"].requests if m == "POST"]
        assert posts and not any(b"authorization" in h for h in posts)
        await eventually(lambda: gw.mcp.legacy.streams == {})  # the endpoint is forgotten with its stream


@async_test
async def test_index_and_cors(tmp_path: Path) -> None:
    async with servers(tmp_path) as (_, url, _):
        async with httpx.AsyncClient() as http:
            listed = await http.get(url + "/v1/mcp", headers={"Authorization": f"Bearer {KEY_C}"})
            assert [s["id"] for s in listed.json()["data"]] == ["beta"]
            everything = await http.get(url + "/v1/mcp", headers={"Authorization": f"Bearer {KEY_A}"})
            assert [s["id"] for s in everything.json()["data"]] == ["alpha", "beta", "legacy", "local"]
            preflight = await http.options(url + "/v1/mcp/beta", headers={
                "Origin": "http://inspector.test", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version"})
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == "http://inspector.test"
            assert "mcp-protocol-version" in preflight.headers["access-control-allow-headers"]
            answer = await http.post(url + "/v1/mcp/beta", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                     headers={"Origin": "http://inspector.test", "Authorization": f"Bearer {KEY_A}",
                                              "Accept": "application/json, text/event-stream"})
            assert "Mcp-Session-Id" in answer.headers["access-control-expose-headers"]
            stranger = await http.options(url + "/v1/mcp/beta", headers={
                "Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
            assert "access-control-allow-origin" not in stranger.headers


@async_test
async def test_client_disconnect_closes_the_upstream_stream(tmp_path: Path) -> None:
    async with servers(tmp_path) as (_, url, ups):
        async with session(url + "/v1/mcp/alpha") as client:
            assert text(await client.call_tool("add", {"a": 1, "b": 2})) == "3"
            assert any(m == "GET" for m, _ in ups["alpha"].requests)  # the server-to-client stream is open
        await eventually(lambda: ups["alpha"].disconnects >= 1)


@async_test
async def test_federation(tmp_path: Path) -> None:
    """`/v1/mcp` is one server over every server the key may use: prefixed names, calls routed,
    progress and sampling (under ids kept apart) through, upstream sessions opened lazily."""
    async with servers(tmp_path) as (gw, url, ups):
        async with session(url + "/v1/mcp", sampling_callback=sampling) as client:
            assert ups["alpha"].requests == []  # opened lazily
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"alpha__add", "beta__add", "local__add", "beta__forbidden"} <= names
            assert "alpha__forbidden" not in names and "local__forbidden" not in names
            assert "legacy__add" in names and "legacy__forbidden" not in names  # legacy SSE, its allow-list
            assert text(await client.call_tool("alpha__add", {"a": 1, "b": 2})) == "3"
            assert text(await client.call_tool("legacy__add", {"a": 4, "b": 4})) == "8"
            assert text(await client.call_tool("local__add", {"a": 5, "b": 5})) == "10"
            seen: list[str | None] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                seen.append(message)

            assert text(await client.call_tool("alpha__steps", {"n": 2}, progress_callback=on_progress)) == (
                "alpha did 2 steps")
            assert seen == ["step 1", "step 2"]
            assert text(await client.call_tool("legacy__steps", {"n": 3}, progress_callback=on_progress)) == (
                "legacy did 3 steps")
            assert seen[2:] == ["step 1", "step 2", "step 3"]  # read off the legacy stream, by the call's token
            assert text(await client.call_tool("legacy__ask", {"question": "old"})) == "the model said: echo old"
            assert text(await client.call_tool("local__ask", {"question": "yo"})) == "the model said: echo yo"
            assert text(await client.call_tool("alpha__ask", {"question": "hey"})) == "the model said: echo hey"
            # Asked on alpha's own stream, not the call's: it reaches the client on its GET stream.
            assert text(await client.call_tool("alpha__ask", {"question": "psst", "aside": True})) == (
                "the model said: echo psst")
            with pytest.raises(MCPError, match="not available"):
                await client.call_tool("alpha__forbidden", {})
            with pytest.raises(MCPError, match="no tool"):
                await client.call_tool("nowhere__add", {})
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert {"alpha__greet", "beta__greet", "local__greet", "legacy__greet"} <= prompts
            greeting = await client.get_prompt("beta__greet", {"who": "Bo"})
            assert greeting.messages[0].content.text == "Hello from beta, Bo"
            resources = (await client.list_resources()).resources
            assert len(resources) == 4  # one a server
            read = await client.read_resource("note://readme")
            assert read.contents[0].text.startswith("the ")
            await client.send_ping()
            assert len(gw.mcp.stdio.sessions) == 1
        await eventually(lambda: gw.mcp.stdio.sessions == {} and gw.mcp.federation.sessions == {})
        rows = [(r["upstream"], r["model"], r["status"]) for r in ledger_rows(gw, tmp_path)
                if r["operation"] == "mcp.tools/call"]
        assert ("mcp/alpha", "add", 200) in rows and ("mcp/alpha", "forbidden", 400) in rows
        async with session(url + "/v1/mcp", key=KEY_C) as client:  # only beta for this key
            assert {t.name.partition("__")[0] for t in (await client.list_tools()).tools} == {"beta"}
            with pytest.raises(MCPError, match="no tool"):
                await client.call_tool("alpha__add", {"a": 1, "b": 1})
