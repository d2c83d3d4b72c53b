"""What many test modules need and would otherwise each write again: running async tests, a real
web app on a free loopback port, raw HTTP posts to a fake, feeding a stream to a decoder or
passthrough in network-sized pieces, reading a server-sent-events body back into its events with
its framing checked, and the invariants every OpenAI Responses stream keeps, whoever wrote it (a
fake or the gateway)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, ParamSpec, Protocol

import aiohttp
import orjson
import pytest
from aiohttp import web

from interlingua.adapters import ir
from interlingua.adapters.dialects import CODECS, tools

P = ParamSpec("P")


# Async tests -------------------------------------------------------------------------------------


def cpu_seconds(work: Callable[[], Any]) -> tuple[Any, float]:
    """`work`'s result and the CPU seconds this thread spent on it. The bounds the suite puts on how
    an algorithm grows read this, not the clock or the process's CPU: neither another test process
    sharing the cores nor a thread an earlier test left in this one can make it fail, while the
    slow way it guards against takes many times the bound."""
    started = time.thread_time()
    result = work()
    return result, time.thread_time() - started


async def cancelled_at_work(work: Awaitable[Any], busy: float = 0.2) -> None:
    """Start `work`, cancel it once it has spent `busy` seconds of this process's CPU (its worker
    thread is at work), and see the cancellation through."""
    task = asyncio.ensure_future(work)
    cpu = time.process_time()
    while time.process_time() - cpu < busy:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def goes_quiet(within: float) -> bool:
    """Whether this process's CPU falls idle (under 0.1 s in half a second) within `within` seconds:
    whether a worker thread whose caller left stopped at its next step, however long a step takes
    on a busy machine, rather than going on to the end of its work."""
    for _ in range(max(1, int(within / 0.5))):
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        if time.process_time() - cpu < 0.1:
            return True
    return False


async def fresh_minute() -> None:
    """Start a per-minute count (rpm, tpm: windows of a calendar minute) early enough in the minute
    that the test cannot straddle two."""
    if time.time() % 60 > 50:
        await asyncio.sleep(60.2 - time.time() % 60)


async def admitted_in_turns(processes: Sequence[Any], limits: Sequence[Any]) -> int:
    """How many requests counters of several processes (workers, replicas) admit, taking turns with
    `limits` until each is refused."""
    admitted, refused = 0, [False] * len(processes)
    while not all(refused):
        for i, counters in enumerate(processes):
            if await counters.admit(limits) is None:
                admitted += 1
            else:
                refused[i] = True
    return admitted


def unset_env(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`name` unset for the test, and unset again after it whatever the code under test set:
    `monkeypatch.delenv` of a variable that is not set records nothing to undo."""
    monkeypatch.setenv(name, "")
    monkeypatch.delenv(name)


def async_test(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test in a fresh event loop: pytest-asyncio is deliberately not a dependency.

    The wrapper keeps the test's signature (`functools.wraps`), so pytest still passes it fixtures
    and parameters.
    """

    @functools.wraps(test)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


@asynccontextmanager
async def serving(app: web.Application, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """`app` served on an ephemeral 127.0.0.1 port (over TLS with `tls`); yields the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


# Raw HTTP ----------------------------------------------------------------------------------------


class Served(Protocol):
    """Any fake upstream: all a raw request needs is where it listens."""

    url: str


class RawReply(NamedTuple):
    status: int
    headers: Mapping[str, str]  # case-insensitive, as aiohttp gives them
    body: bytes


async def raw_post(server: Served, path: str, body: Any, headers: Mapping[str, str]) -> RawReply:
    """POST `body` as JSON to `server.url + path` and return the status, the headers and the exact
    bytes: for what an SDK hides (framing, compact JSON) or refuses to send (invalid requests)."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}{path}", json=body, headers=dict(headers)) as response:
            return RawReply(response.status, response.headers, await response.read())


# Feeding streams ---------------------------------------------------------------------------------


class Decoder(Protocol):
    def feed(self, chunk: bytes) -> list[ir.StreamEvent]: ...

    def close(self) -> list[ir.StreamEvent]: ...


class Forwarder(Protocol):
    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...


def pieces(data: bytes, sizes: Sequence[int] | None = None) -> Iterator[bytes]:
    """`data` cut into consecutive pieces of `sizes` (cycled), as a network might deliver it;
    whole when `sizes` is None. Empty data gives no pieces."""
    pos = 0
    for size in itertools.cycle(sizes or [len(data)]):
        if pos >= len(data):
            return
        yield data[pos:pos + size]
        pos += size


def decode_in_pieces(decoder: Decoder, data: bytes, sizes: Sequence[int] | None = None) -> list[ir.StreamEvent]:
    """Every event `decoder` makes of `data` fed in `pieces`, then closed."""
    return [event for piece in pieces(data, sizes) for event in decoder.feed(piece)] + decoder.close()


def forward_in_pieces(passthrough: Forwarder, data: bytes, sizes: Sequence[int] | None = None) -> bytes:
    """The bytes `passthrough` sends on for `data` fed in `pieces`, then closed."""
    return b"".join(passthrough.feed(piece) for piece in pieces(data, sizes)) + passthrough.close()


def no_clock(events: list[ir.StreamEvent]) -> list[ir.StreamEvent]:
    """The events with `StreamStart.created` zeroed: decoders stamp it from the wall clock when the
    upstream does not say, so it cannot be compared."""
    return [dataclasses.replace(e, created=0) if isinstance(e, ir.StreamStart) else e for e in events]


def sse_body(payloads: Sequence[Mapping[str, Any]], named: bool = True) -> bytes:
    """An upstream's SSE body of `payloads`, each named by its `type` (Anthropic, Responses) or not
    (Chat, Gemini)."""
    return b"".join((f"event: {p['type']}\n".encode() if named else b"") + b"data: " + orjson.dumps(p) + b"\n\n"
                    for p in payloads)


def relayed(decoder: Any, body: bytes, encoder: Any) -> bytes:
    """What a client of `encoder`'s dialect is sent for an upstream's whole stream `body`."""
    events: list[ir.StreamEvent] = []
    decoder.decode(body, events)
    return b"".join(encoder.encode(event) for event in events) + encoder.end()


# Reading SSE -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SSEEvent:
    name: str | None  # its `event:` line, when it has one
    data: bytes  # its `data:` line, exactly as sent

    def json(self) -> Any:
        return orjson.loads(self.data)


def sse_events(body: bytes, separator: bytes = b"\n\n") -> list[SSEEvent]:
    """The events of a whole SSE body, asserting the framing every dialect here uses: the body ends
    with a blank line, and each event is an optional `event: <name>` line then one `data: <payload>`
    line. `separator` is the blank line, LF (`\\n\\n`) or CRLF (`\\r\\n\\r\\n`); lines end likewise."""
    assert body.endswith(separator), body[-200:]
    newline = separator[:len(separator) // 2]
    events = []
    for frame in body[:-len(separator)].split(separator):
        lines = frame.split(newline)
        assert len(lines) <= 2 and not any(b"\n" in line or b"\r" in line for line in lines), frame[:200]
        *head, data = lines
        assert data.startswith(b"data: "), frame[:200]
        assert all(line.startswith(b"event: ") for line in head), frame[:200]
        events.append(SSEEvent(head[0][7:].decode() if head else None, data[6:]))
    return events


def sse_data(body: bytes, separator: bytes = b"\n\n") -> list[Any]:
    """The payloads of a body of unnamed `data:` events (OpenAI Chat, Gemini), JSON decoded but for
    a `[DONE]` terminator, kept as that string."""
    events = sse_events(body, separator)
    assert all(event.name is None for event in events), [event.name for event in events]
    return ["[DONE]" if event.data == b"[DONE]" else event.json() for event in events]


# Responses streams -------------------------------------------------------------------------------


def responses_events(body: bytes) -> list[Any]:
    """The events of a Responses stream, asserting what every one shares: each SSE event is named
    by its payload's `type` and written as compact JSON, `sequence_number` counts from 0 without a
    gap, and no `[DONE]` ends it (only Chat Completions has one)."""
    assert b"[DONE]" not in body
    events = []
    for frame in sse_events(body):
        payload = frame.json()
        assert payload["type"] == frame.name  # the event line names the payload's type
        assert frame.data == orjson.dumps(payload)  # compact JSON, exactly as orjson writes it
        events.append(payload)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def responses_items(events: list[Any]) -> list[Any]:
    """The done output items of a Responses stream, in order, asserting that each item opens before
    its events, closes before the next one opens, and keeps its `output_index` and id throughout."""
    added: list[Any] = []
    done: list[Any] = []
    for event in events:
        if event["type"] == "response.output_item.added":
            assert event["output_index"] == len(added) == len(done)
            added.append(event["item"])
        elif event["type"] == "response.output_item.done":
            assert event["output_index"] == len(done) == len(added) - 1
            assert event["item"]["id"] == added[-1]["id"]
            done.append(event["item"])
        elif "output_index" in event:
            assert (event["output_index"], event["item_id"]) == (len(added) - 1, added[-1]["id"])
    return done


def upstream_body(request: ir.ChatRequest, upstream: str) -> Any:
    """The body an upstream of dialect `upstream` is sent for a client's decoded request, its tools
    adapted as a provider adapts them (`Provider.encode`)."""
    codec: Any = next(c for c in CODECS if c.name == upstream)  # an upstream dialect: it encodes requests
    return codec.encode_request(tools.adapt_request(read_all(request), upstream), "m")


def read_all(request: ir.ChatRequest) -> ir.ChatRequest:
    """`request` with what a codec defers (messages, tools, Gemini's response format) decoded, as
    translating reads them."""
    assert request.messages is not None and (request.tools is None or isinstance(request.tools, list))
    assert request.response_format is None or isinstance(request.response_format, ir.ResponseFormat)
    return request
