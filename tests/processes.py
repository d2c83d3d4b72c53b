"""Gateways as separate processes, started the ways operators start them, for the scale-out tests.

`gateway_process` runs a command (`interlingua serve --workers 2`, `uvicorn --factory`, gunicorn)
on a free loopback port, waits until `/healthz` answers, and stops it with SIGTERM on exit, so a
test talks to real worker processes over real sockets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the workers a supervisor started)."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and parent(entry.name) == pid]


def parent(pid: int | str) -> int | None:
    """The parent of `pid`; None once it is gone."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs, and so on."""
    found = children(pid)
    for child in list(found):
        found.extend(descendants(child))
    return found


def command(pid: int) -> str:
    """A process's name (its executable's, as `ps` shows it); "" once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class GatewayProcess:
    __slots__ = ("process", "url", "stderr")

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.stderr = b""


@asynccontextmanager
async def gateway_process(argv: Sequence[str], port: int, env: Mapping[str, str] | None = None,
                          timeout: float = 30.0) -> AsyncIterator[GatewayProcess]:
    """Run `argv` (its first item a program in the venv's bin) and yield once it answers."""
    environ = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), **(env or {})}
    process = await asyncio.create_subprocess_exec(str(BIN / argv[0]), *argv[1:], cwd=ROOT, env=environ,
                                                   stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    running = GatewayProcess(process, f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient() as client:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"{argv[0]} exited: {(await process.stderr.read()).decode()}")  # type: ignore[union-attr]
                try:
                    if (await client.get(running.url + "/healthz", timeout=1)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{argv[0]} did not answer on port {port}")
                await asyncio.sleep(0.1)
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            _, running.stderr = await asyncio.wait_for(process.communicate(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
