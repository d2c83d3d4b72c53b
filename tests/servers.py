"""Real Redis and PostgreSQL servers for the replica tests: throwaway directories, free loopback
ports, stopped and started again by the fault tests. PostgreSQL refuses to run as root, so as root
its files belong to, and it runs as, the `postgres` user the Debian package makes."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import redis.asyncio as redis

from tests.processes import free_port


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise AssertionError(f"{name} is missing: scripts/test installs PostgreSQL (package postgresql)")
    return found


class RedisServer:
    def __init__(self, password: str | None = None) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="il-redis-"))
        self.password = password
        self.url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.dir),
            *(["--requirepass", self.password] if self.password else []),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except (redis.ConnectionError, OSError):
                    await asyncio.sleep(0.05)
            raise AssertionError("redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()

    async def close(self) -> None:
        await self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="il-pg-"))
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.process: asyncio.subprocess.Process | None = None
        self._as: list[str] = []
        if os.getuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
        subprocess.run([*self._as, _postgres_bin("initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                        "-A", "trust", "--no-sync"], check=True, capture_output=True)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self._as, _postgres_bin("postgres"), "-D", str(self.dir / "data"), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(self.dir), "-c", "fsync=off",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        for _ in range(200):
            try:
                await (await asyncpg.connect(self.url, timeout=1)).close()
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                await asyncio.sleep(0.05)
        raise AssertionError("postgres did not start")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: clean, and clients are disconnected
            await self.process.wait()

    async def close(self) -> None:
        await self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@asynccontextmanager
async def postgres() -> AsyncIterator[PostgresServer]:
    """A PostgreSQL server of the test's own, started on a free loopback port and removed after."""
    server = PostgresServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
