"""The confined workers (`adapters/confined.py`) on their own: work runs in another process under
the memory bound, answers and exceptions come back, work past the bound or that crashes ends its
worker alone, a caller that leaves kills its worker and what that started, and a zygote that dies
is replaced. The work functions are this module's, imported again by the workers."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from interlingua.adapters import ir
from interlingua.adapters.confined import Confined, Ended
from tests.processes import children, descendants, parent, running
from tests.support import async_test

MB = 1 << 20


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _allocated(size: int) -> int:
    return len(bytearray(size))


def _refused() -> None:
    raise ir.GatewayError("invalid_request", "file: no", status=413, param="file", code="document_too_large")


def _sleep_with_a_child(path: str) -> None:
    """Start a child, leave a temporary file (as Tesseract's input image), say where, and wait."""
    child = subprocess.Popen(["sleep", "60"])
    left, name = tempfile.mkstemp()
    os.close(left)
    Path(path).write_text(f"{os.getpid()} {child.pid} {name}")
    child.wait()


async def _until(check: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@async_test
async def test_work_runs_in_a_worker_with_the_memory_bound_and_its_answer_comes_back() -> None:
    with closing(Confined(2, 600)) as confined:
        pid = await confined.run(os.getpid)
        assert pid != os.getpid() and pid in descendants(os.getpid())
        assert await confined.run(resource.getrlimit, resource.RLIMIT_AS) == (600 * MB, 600 * MB)
        assert await confined.run(os.getpid) == pid  # kept for the next call
        zygote = parent(pid)
        assert zygote in children(os.getpid())
    assert await _until(lambda: not running(pid) and not running(zygote))


@async_test
async def test_exceptions_come_back_as_raised_and_the_worker_stays() -> None:
    with closing(Confined(1, 600)) as confined:
        pid = await confined.run(os.getpid)
        with pytest.raises(ValueError, match="invalid literal"):
            await confined.run(int, "x")
        with pytest.raises(ir.GatewayError) as raised:
            await confined.run(_refused)
        error = raised.value
        assert (error.kind, error.message, error.status, error.param, error.code) == (
            "invalid_request", "file: no", 413, "file", "document_too_large")
        assert await confined.run(os.getpid) == pid


@async_test
async def test_work_past_the_bound_or_that_crashes_ends_its_worker_alone() -> None:
    with closing(Confined(1, 600)) as confined:
        first = await confined.run(os.getpid)
        with pytest.raises(MemoryError):
            await confined.run(_allocated, 700 * MB)
        second = await confined.run(os.getpid)
        assert second != first and not running(first)  # a worker whose heap ran out is not kept
        with pytest.raises(Ended):
            await confined.run(os.abort)  # native code whose allocation failed
        assert await confined.run(_allocated, 100 * MB) == 100 * MB
        assert await confined.run(os.getpid) not in (first, second)


@async_test
async def test_at_most_size_workers_at_once() -> None:
    with closing(Confined(1, 600)) as one, closing(Confined(2, 600)) as two:
        assert len(set(await asyncio.gather(*(one.run(_pid_after, 0.2) for _ in range(3))))) == 1
        assert len(set(await asyncio.gather(*(two.run(_pid_after, 0.2) for _ in range(2))))) == 2


@async_test
async def test_a_caller_that_leaves_kills_its_worker_and_what_the_worker_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    with closing(Confined(1, 600)) as confined:
        task = asyncio.ensure_future(confined.run(_sleep_with_a_child, str(pids)))
        assert await _until(lambda: pids.exists() and len(pids.read_text().split()) == 3)
        worker, child, left = pids.read_text().split()
        assert running(int(worker)) and running(int(child)) and Path(left).exists()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _until(lambda: not running(int(worker)) and not running(int(child)), within=2)
        assert await _until(lambda: not Path(left).parent.exists(), within=2)  # its directory, and what it left
        assert await confined.run(os.getpid) != int(worker)


@async_test
async def test_an_idle_worker_killed_meanwhile_is_replaced_before_work_is_given_to_it() -> None:
    with closing(Confined(1, 600)) as confined:
        idle = await confined.run(os.getpid)
        os.kill(idle, signal.SIGKILL)  # as the OOM killer would
        assert await _until(lambda: not running(idle))
        assert await confined.run(os.getpid) not in (idle, os.getpid())


@async_test
async def test_a_zygote_that_died_is_started_again() -> None:
    with closing(Confined(1, 600)) as confined:
        worker = await confined.run(os.getpid)
        zygote = parent(worker)
        os.kill(zygote, signal.SIGKILL)
        assert await _until(lambda: not running(zygote))
        with pytest.raises(Ended):
            await confined.run(os.abort)  # the idle worker goes, so the next call needs a fork
        replaced = await confined.run(os.getpid)
        assert replaced != worker and parent(replaced) not in (zygote, os.getpid())
