"""Work in worker processes of bounded memory, killed once nobody waits for them.

Some work runs native code that no bound can be set on from Python: PDFium inflating a content
stream, an image decoder, Tesseract. A 1 MB PDF whose content stream inflates to 1 GB took PDFium
2 GB and 2 s; a 32 MB one could ask for more than the machine has, and where an allocation fails
PDFium aborts its process. In the gateway's own process that is every client's request ended at
once. Here each worker has `RLIMIT_AS` set, so such work ends its worker alone (`Ended`). A worker
whose caller stopped waiting is killed with its process group (its Tesseract with it), where a
thread could only be asked to stop at its next step. Each worker has a temporary directory of its
own, removed once it ends, so the files a killed Tesseract leaves go with it.

Workers are forked by a zygote, a process started once from a bare interpreter (`_zygote`) that
imports what the work needs and then forks a worker per request, in milliseconds, its imports
done. Not multiprocessing's fork server: its workers import the parent's `__main__` again, and a
script that serves the gateway at its top level would start a server in each.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")

_REQUEST = struct.Struct("!QH")  # a fork request: the worker's address space in bytes, its directory's length
_PID = struct.Struct("!I")


class Ended(Exception):
    """The worker ended before it answered: the work asked for more memory than the worker may
    have (where an allocation fails, native code aborts), or it crashed."""


class Confined:
    """At most `size` workers at once, each of at most `memory_mb` MB of address space, kept from
    call to call. The zygote imports `preload` once, so that a worker starts with them imported."""

    def __init__(self, size: int, memory_mb: int, preload: Iterable[str] = ()) -> None:
        self.size = size
        self.memory_mb = memory_mb
        self._preload = list(preload)
        self._idle: list[_Worker] = []
        self._closed = False
        self._zygote: _Zygote | None = None
        self._forking = threading.Lock()
        # A gateway process has one event loop; tests run one after another, each its own.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(size)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in a worker, `work` (a module's function), its arguments and its result
        pickled across. The worker's exceptions are raised here; `Ended` when it gave no answer."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.size)
        async with self._slots:
            worker = self._living() or await self._forked()
            call = asyncio.ensure_future(asyncio.to_thread(worker.call, work, args))
            try:
                ok, value = await asyncio.shield(call)
            except asyncio.CancelledError:
                worker.kill()  # its thread then sees the connection end
                call.add_done_callback(lambda _: worker.close())
                raise
            except BaseException:
                worker.end()
                raise
            if self._closed or (not ok and isinstance(value, MemoryError)):
                worker.end()
            else:
                self._idle.append(worker)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """End the idle workers and the zygote; workers at work end when their work does."""
        self._closed = True
        while self._idle:
            self._idle.pop().end()
        if self._forking.acquire(blocking=False):  # else the thread forking closes it when done
            try:
                if self._zygote is not None:
                    self._zygote.close()
                    self._zygote = None
            finally:
                self._forking.release()

    def _living(self) -> _Worker | None:
        """An idle worker still there (one may have been killed meanwhile: the OOM killer's pick)."""
        while self._idle:
            worker = self._idle.pop()
            if worker.alive():
                return worker
            worker.close()
        return None

    async def _forked(self) -> _Worker:
        fork = asyncio.ensure_future(asyncio.to_thread(self._fork))
        try:
            return await asyncio.shield(fork)
        except asyncio.CancelledError:
            fork.add_done_callback(self._adopt)
            raise

    def _adopt(self, fork: asyncio.Future[_Worker]) -> None:
        """A worker forked for a caller that left, kept for the next."""
        if fork.cancelled() or fork.exception() is not None:
            return
        if self._closed:
            fork.result().end()
        else:
            self._idle.append(fork.result())

    def _fork(self) -> _Worker:
        with self._forking:
            try:
                return self._forked_by_zygote()
            finally:
                if self._closed and self._zygote is not None:  # closed while this call waited
                    self._zygote.close()
                    self._zygote = None

    def _forked_by_zygote(self) -> _Worker:
        if self._zygote is not None:
            try:
                return self._zygote.fork(self.memory_mb << 20)
            except (EOFError, OSError):
                self._zygote.close()  # it died: a new one
        self._zygote = _Zygote(self._preload)
        return self._zygote.fork(self.memory_mb << 20)


class _Zygote:
    def __init__(self, preload: list[str]) -> None:
        self.control, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OPENBLAS_NUM_THREADS": "1"}
        code = f"import socket, sys; from {__name__} import _zygote; _zygote(socket.socket(fileno={theirs.fileno()}))"
        with theirs:  # forking is for one thread: no BLAS thread pool in the zygote
            self.process = subprocess.Popen([sys.executable, "-c", code, *preload], pass_fds=[theirs.fileno()],
                                            env=env, stdin=subprocess.DEVNULL)

    def fork(self, memory: int) -> _Worker:
        directory = tempfile.mkdtemp(prefix="interlingua-worker-")
        try:
            path = os.fsencode(directory)
            self.control.sendall(_REQUEST.pack(memory, len(path)) + path)
            message, fds, _, _ = socket.recv_fds(self.control, _PID.size, 2)
            if len(message) < _PID.size or len(fds) < 2:
                for fd in fds:
                    os.close(fd)
                if len(message) < _PID.size:
                    raise EOFError("the zygote ended")
                raise Ended("the worker ended as it began")
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        (pid,) = _PID.unpack(message)
        return _Worker(pid, Connection(fds[0]), fds[1], directory)

    def close(self) -> None:
        self.control.close()  # it ends at the end of its pipe
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Worker:
    """The gateway's side of a worker, used from the event loop but for `call`, which is in a
    thread and alone with the connection until it returns."""

    def __init__(self, pid: int, connection: Connection, pidfd: int, directory: str) -> None:
        self.pid = pid
        self.connection = connection
        self.pidfd = pidfd
        self.directory = directory  # its temporary files'

    def call(self, work: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        try:
            self.connection.send((work, args))
            return self.connection.recv()
        except (EOFError, OSError):
            raise Ended("the worker ended before it answered") from None

    def alive(self) -> bool:
        return not select.select([self.pidfd], [], [], 0)[0]  # a pidfd is readable once its process ended

    def kill(self) -> None:
        """Kill the worker (by its pidfd, which no other process can come to own) and what it started."""
        if self.connection.closed:
            return
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            os.killpg(self.pid, signal.SIGKILL)  # its group outlives it only while Tesseract does
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Let go of a worker that was killed or ends at the end of its connection: once it has
        (its pidfd readable, a moment after a kill), its directory is removed."""
        if not self.connection.closed:
            self.connection.close()
            select.select([self.pidfd], [], [], 1.0)
            os.close(self.pidfd)
            shutil.rmtree(self.directory, ignore_errors=True)

    def end(self) -> None:
        self.kill()
        self.close()


def _zygote(control: socket.socket) -> None:
    """The zygote's life (`preload` is its arguments): a worker forked for each request, its end of
    a socket pair and a pidfd of it sent back, until the gateway closes the control socket."""
    for name in sys.argv[1:]:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    while request := control.recv(_REQUEST.size, socket.MSG_WAITALL):
        memory, length = _REQUEST.unpack(request)
        directory = os.fsdecode(control.recv(length, socket.MSG_WAITALL))
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                ours.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # Tesseract's exit is waited for
                os.setpgrp()  # a group of its own, so that a kill takes its children too
                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
                tempfile.tempdir = directory
                _serve(Connection(theirs.detach()))
                shutil.rmtree(directory, ignore_errors=True)  # the gateway is gone, or let go of it
            finally:
                os._exit(0)
        theirs.close()
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            socket.send_fds(control, [_PID.pack(pid)], [])
        else:
            socket.send_fds(control, [_PID.pack(pid)], [ours.fileno(), pidfd])
            os.close(pidfd)
        ours.close()


def _serve(connection: Connection) -> None:
    """A worker's life: calls in, answers out, until the gateway closes its end."""
    while True:
        try:
            work, args = connection.recv()
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, work(*args))
        except Exception as exc:  # noqa: BLE001 - raised in the gateway's process instead
            answer = (False, exc)
        try:
            connection.send(answer)
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
            connection.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))

