"""MCP proxy benchmark: ``.venv/bin/python -m scripts.bench.mcp [--calls N] [--streams N]``.

Side by side in one run, against one real MCP server (the `mcp` SDK's `MCPServer`, Streamable
HTTP, stateless), the ceiling in front of it (a Starlette pass-through with one pooled aiohttp
session that parses nothing, `ceiling.py`'s idea with MCP's headers: no proxy on this stack can add
less) and the gateway in front of it (`/v1/mcp/bench`, with a gateway key), each in a process of
its own on 127.0.0.1; the ceiling and the gateway on core 0, the servers and this load generator
on core 1 (when `taskset` and two cores are there), as the main benchmark pins them:

* a `tools/call` answered as JSON, one at a time and from 32 concurrent sessions: p50 and p99,
  direct, through the ceiling and through the gateway, and the latency each adds;
* the delay of a progress notification: the server stamps each with its clock, the client reads
  the SSE stream and subtracts; through the gateway minus direct is what forwarding costs;
* memory: the gateway's resident set before and after opening 1,000 idle server-to-client (GET)
  streams on a stateful server, per stream.

Raw JSON-RPC over one pooled httpx client is the load generator, so that client-side SDK work
does not hide what the gateway adds. Targets: added p50 <= 0.5 ms, notifications within 1 ms,
under 50 KB per idle stream. A measurement, not a test: the exit status is 0 unless it crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from mcp.server.mcpserver import Context, MCPServer

KEY = "sk-bench-mcp-key"
ACCEPT = "application/json, text/event-stream"
ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def upstream_app(stateless: bool) -> Any:
    server = MCPServer("bench")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool()
    async def ticks(n: int, ctx: Context) -> str:
        """Progress notifications stamped with the server's clock."""
        for i in range(n):
            await ctx.report_progress(i + 1, n, repr(time.time()))
            await asyncio.sleep(0.002)
        return "done"

    return server.streamable_http_app(stateless_http=stateless, json_response=False, max_sessions=None)


def ceiling_app(upstream: str) -> Any:
    """Any POST passed to `upstream` as bytes, with the headers MCP needs, and its answer back as it
    comes (chunk by chunk for a stream)."""
    import aiohttp
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    sessions: dict[str, aiohttp.ClientSession] = {}
    kept = ("accept", "content-type", "mcp-protocol-version", "mcp-session-id")

    async def forward(request: Request) -> Response:
        if "upstream" not in sessions:
            sessions["upstream"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                                         auto_decompress=False)
        headers = {name: request.headers[name] for name in kept if name in request.headers}
        response = await sessions["upstream"].post(upstream + "/mcp", data=await request.body(), headers=headers)
        content_type = response.headers.get("content-type", "application/json")
        if content_type.startswith("text/event-stream"):
            return StreamingResponse(response.content.iter_any(), status_code=response.status,
                                     media_type=content_type, background=BackgroundTask(response.release))
        return Response(await response.read(), status_code=response.status, media_type=content_type)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])


def serve(role: str, port: int, upstream: str) -> None:
    """Child process: the upstream (`stateless`/`stateful`) or the gateway (`upstream`: both URLs, comma
    separated)."""
    _raise_fd_limit()
    if role == "gateway":
        from interlingua.app.config import parse
        from interlingua.app.factory import create_app

        stateless, stateful = upstream.split(",")
        data = tempfile.mkdtemp(prefix="bench-mcp-")
        app: Any = create_app(parse({"server": {"data_dir": data}, "keys": {"bench": {"key": KEY}},
                                     "mcp": {"bench": {"url": stateless + "/mcp"},
                                             "stateful": {"url": stateful + "/mcp"}}},
                                    {}, "bench"))
    elif role == "ceiling":
        app = ceiling_app(upstream)
    else:
        app = upstream_app(role == "stateless")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="httptools",
                timeout_keep_alive=120,  # no pooled connection of the load generator closed mid-run
                loop="uvloop", lifespan="on" if role not in ("gateway", "ceiling") else "auto")


PROXY_CORE, LOAD_CORE = 0, 1


def can_pin() -> bool:
    return {PROXY_CORE, LOAD_CORE} <= os.sched_getaffinity(0) and shutil.which("taskset") is not None


def start(role: str, port: int, upstream: str = "") -> subprocess.Popen[bytes]:
    core = PROXY_CORE if role in ("gateway", "ceiling") else LOAD_CORE
    pin = ["taskset", "-c", str(core)] if can_pin() else []
    process = subprocess.Popen([*pin, sys.executable, "-m", "scripts.bench.mcp", "--serve", role, str(port), upstream],
                               cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{role} did not start")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def call(ident: int, name: str, arguments: dict[str, Any]) -> bytes:
    """A `tools/call` that asks for progress (the server only reports it to a request with a token)."""
    return orjson.dumps({"jsonrpc": "2.0", "id": ident, "method": "tools/call",
                         "params": {"name": name, "arguments": arguments, "_meta": {"progressToken": ident}}})


HEADERS = {"Authorization": f"Bearer {KEY}", "Accept": ACCEPT, "Content-Type": "application/json",
           "MCP-Protocol-Version": "2025-06-18"}


async def timed_calls(http: httpx.AsyncClient, url: str, count: int) -> list[float]:
    times = []
    body = call(1, "add", {"a": 1, "b": 2})
    for _ in range(count):
        started = time.perf_counter()
        answer = await http.post(url, content=body, headers=HEADERS)
        await answer.aread()
        times.append(time.perf_counter() - started)
        assert b'"result"' in answer.content, answer.content
    return times


async def concurrent(http: httpx.AsyncClient, url: str, count: int, sessions: int = 32) -> list[float]:
    results = await asyncio.gather(*(timed_calls(http, url, count // sessions) for _ in range(sessions)))
    return [t for r in results for t in r]


async def progress_delays(http: httpx.AsyncClient, url: str, rounds: int) -> list[float]:
    delays = []
    for i in range(rounds):
        async with http.stream("POST", url, content=call(i, "ticks", {"n": 20}), headers=HEADERS) as answer:
            async for line in answer.aiter_lines():
                if line.startswith("data:") and b"notifications/progress" in line.encode():
                    received = time.time()
                    message = orjson.loads(line[5:])
                    delays.append(received - float(message["params"]["message"]))
    return delays


async def idle_streams(http: httpx.AsyncClient, url: str, count: int, pid: int) -> float:
    """KB of the gateway's memory per open, idle GET stream."""
    init = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    ids = []
    for _ in range(count):
        answer = await http.post(url, content=init, headers=HEADERS)
        ids.append(answer.headers["mcp-session-id"])
    await asyncio.sleep(0.5)
    before = rss_kb(pid)
    streams = []
    for session in ids:
        request = http.build_request("GET", url, headers={**HEADERS, "Mcp-Session-Id": session,
                                                          "Accept": "text/event-stream"})
        streams.append(await http.send(request, stream=True))
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    assert all(s.status_code == 200 for s in streams), {s.status_code for s in streams}
    for stream in streams:
        await stream.aclose()
    return (after - before) / count


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def quantiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return statistics.median(times), cuts[98]


async def measure(args: argparse.Namespace, direct: str, ceiling: str, gateway: str, stateful_gateway: str,
                  pid: int) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        rows: list[tuple[str, ...]] = []

        async def row(label: str, run: Callable[[str, int], Awaitable[list[float]]], count: int) -> None:
            """Direct, through the ceiling and through the gateway in alternating rounds, so all see
            the same noise (other processes on the machine), after a warm-up of each."""
            targets = (direct, ceiling, gateway)
            for url in targets:
                await run(url, count // ROUNDS)
            times: list[list[float]] = [[], [], []]
            for _ in range(ROUNDS):
                for url, found in zip(targets, times, strict=True):
                    found += await run(url, count // ROUNDS)
            (d50, d99), (c50, c99), (g50, g99) = (quantiles(found) for found in times)
            rows.append((label, f"{ms(d50)} / {ms(d99)}", f"{ms(c50)} / {ms(c99)}", f"{ms(g50)} / {ms(g99)}",
                         f"{ms(c50 - d50)} / {ms(c99 - d99)}", f"{ms(g50 - d50)} / {ms(g99 - d99)}"))

        await row("tools/call, one at a time", lambda url, n: timed_calls(http, url, n), args.calls)
        await row("tools/call, 32 sessions", lambda url, n: concurrent(http, url, n), args.calls * 4)
        await row("progress notification delay", lambda url, n: progress_delays(http, url, n), args.calls // 20)
        per_stream = await idle_streams(http, stateful_gateway, args.streams, pid)
    print("\n| measurement (ms, p50 / p99) | direct | ceiling | gateway | ceiling adds | gateway adds |")
    print("|---|---|---|---|---|---|")
    for cells in rows:
        print(f"| {' | '.join(cells)} |")
    print(f"| gateway memory per idle GET stream ({args.streams} open) | | | {per_stream:.1f} KB | | |")


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts.bench.mcp", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="sequential tools/call per target (1000)")
    parser.add_argument("--streams", type=int, default=1000, help="idle GET streams for the memory figure (1000)")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        role, port, upstream = args.serve
        serve(role, int(port), upstream)
        return 0
    _raise_fd_limit()
    if can_pin():
        os.sched_setaffinity(0, {LOAD_CORE})
    ports = {role: free_port() for role in ("stateless", "stateful", "gateway", "ceiling")}
    processes = [start("stateless", ports["stateless"]), start("stateful", ports["stateful"])]
    try:
        stateless = f"http://127.0.0.1:{ports['stateless']}"
        stateful = f"http://127.0.0.1:{ports['stateful']}"
        gateway = start("gateway", ports["gateway"], f"{stateless},{stateful}")
        processes += [gateway, start("ceiling", ports["ceiling"], stateless)]
        base = f"http://127.0.0.1:{ports['gateway']}/v1/mcp"
        asyncio.run(measure(args, stateless + "/mcp", f"http://127.0.0.1:{ports['ceiling']}/mcp", base + "/bench",
                            base + "/stateful", gateway.pid))
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
