"""The counters' own Redis connection against a real redis-server: pipelined commands from many
tasks answered each to its own, error replies, the URL's password and database, a server that
goes away and comes back, one that never answers, and replies that arrive a byte at a time."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.connection import parse_url

from interlingua.adapters.state.resp import ReplyError, RespConnection, pack, parse, tls
from tests.servers import RedisServer
from tests.support import async_test


@asynccontextmanager
async def _connected(timeout: float = 2) -> AsyncIterator[tuple[RedisServer, RespConnection]]:
    """A redis-server of the test's own and a connection to it; both closed afterwards."""
    server = RedisServer()
    await server.start()
    conn = RespConnection(server.url, timeout=timeout)
    try:
        yield server, conn
    finally:
        await conn.aclose()
        await server.close()

@async_test
async def test_concurrent_commands_share_one_connection_and_each_gets_its_own_answer() -> None:
    async with _connected() as (server, conn):
        async def one(i: int) -> tuple[int, list[bytes | None]]:
            await asyncio.sleep(0)
            counted = await conn.call("INCRBY", f"k{i}", i)
            return counted, await conn.call("MGET", f"k{i}", "missing")

        answers = await asyncio.gather(*(one(i) for i in range(200)))
        assert answers == [(i, [str(i).encode(), None]) for i in range(200)]
        replies = await conn.pipeline([("INCRBYFLOAT", "f", 0.25), ("EXPIREAT", "f", int(time.time()) + 60),
                                       ("GET", "f"), ("PING",)])
        assert replies == [b"0.25", 1, b"0.25", "PONG"]
        client = redis.Redis.from_url(server.url)
        try:
            assert (await client.info("clients"))["connected_clients"] == 2  # ours, and this one
        finally:
            await client.aclose()


@async_test
async def test_an_error_reply_fails_its_command_and_leaves_the_connection_usable() -> None:
    async with _connected() as (server, conn):
        with pytest.raises(ReplyError, match="NOSCRIPT"):
            await conn.call("EVALSHA", "0" * 40, 0)
        await conn.call("SET", "s", "text")
        replies = await conn.pipeline([("INCR", "s"), ("GET", "s")])
        assert isinstance(replies[0], ReplyError) and "not an integer" in str(replies[0])
        assert replies[1] == b"text"
        assert await conn.call("EVAL", "return ARGV[1] + 1", 0, 41) == 42


@async_test
async def test_the_urls_password_and_database_are_used() -> None:
    server = RedisServer(password="s3cret")
    await server.start()
    try:
        conn = RespConnection(server.url.replace("/0", "/3"), timeout=2)
        await conn.call("SET", "where", "db3")
        await conn.aclose()
        client = redis.Redis.from_url(server.url.replace("/0", "/3"))
        try:
            assert await client.get("where") == b"db3"
        finally:
            await client.aclose()
        wrong = RespConnection(server.url.replace("s3cret", "wrong"), timeout=2)
        with pytest.raises(ReplyError, match="WRONGPASS|invalid password"):
            await wrong.call("PING")
        await wrong.aclose()
    finally:
        await server.close()


@async_test
async def test_a_server_that_goes_away_fails_commands_until_it_is_back() -> None:
    async with _connected(1) as (server, conn):
        assert await conn.call("PING") == "PONG"
        await server.stop()
        with pytest.raises(ConnectionError):
            await conn.call("PING")
        with pytest.raises(OSError):  # refused: nothing listens
            await conn.call("PING")
        await server.start()
        assert await conn.call("PING") == "PONG"


@async_test
async def test_a_server_that_never_answers_times_out_and_the_connection_is_dropped() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    conn = RespConnection(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await conn.call("PING")
        assert time.monotonic() - started < 1
        with pytest.raises(TimeoutError):
            await conn.call("PING")
        assert len(accepted) == 2  # the first connection was dropped, not reused out of step
    finally:
        await conn.aclose()
        listener.close()
        for writer in accepted:
            writer.close()


def test_replies_are_read_only_once_whole_whatever_the_split() -> None:
    wire = (b"+OK\r\n:-7\r\n$5\r\nab\r\nc\r\n$-1\r\n*3\r\n$1\r\nx\r\n$-1\r\n*1\r\n:2\r\n"
            b"-ERR wrong\r\n$0\r\n\r\n*0\r\n")
    expected = ["OK", -7, b"ab\r\nc", None, [b"x", None, [2]], "ERR wrong", b"", []]
    for cut in range(len(wire) + 1):
        buffer = bytearray(wire[:cut])
        got: list[object] = []
        at = 0
        while (parsed := parse(buffer, at)) is not None:
            reply, at = parsed
            got.append(str(reply) if isinstance(reply, ReplyError) else reply)
        assert got == expected[:len(got)]
        buffer += wire[cut:]
        while (parsed := parse(buffer, at)) is not None:
            reply, at = parsed
            got.append(str(reply) if isinstance(reply, ReplyError) else reply)
        assert got == expected and at == len(wire)
    assert pack(("SET", b"k\r\n", 1, 0.5)) == b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\n1\r\n$3\r\n0.5\r\n"


def test_a_connection_made_by_another_event_loop_is_replaced() -> None:
    """An app built once and served by one event loop after another (tests, an embedding app's
    restarts) must not write to a socket that belongs to a loop no longer running."""
    server = RedisServer()
    conn = RespConnection(server.url, timeout=2)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()

    async def start() -> Any:
        await server.start()
        assert await conn.call("PING") == "PONG"
        return conn._protocol

    async def stop(stale: Any) -> None:
        stale.transport.close()
        await server.close()

    try:
        stale = first.run_until_complete(start())
        assert second.run_until_complete(conn.call("SET", "from", "second")) == "OK"
        second.run_until_complete(conn.aclose())
        assert conn._protocol is None and stale.lost is None  # the first loop's connection was left alone
    finally:
        first.run_until_complete(stop(stale))
        first.close()
        second.close()


def test_a_rediss_url_asks_for_tls_as_redis_py_reads_it() -> None:
    assert tls(parse_url("redis://127.0.0.1:6379/0")) is None
    strict = tls(parse_url("rediss://cache.example:6380/0"))
    assert strict is not None and strict.verify_mode == ssl.CERT_REQUIRED and strict.check_hostname
    lax = tls(parse_url("rediss://cache.example:6380/0?ssl_cert_reqs=none"))
    assert lax is not None and lax.verify_mode == ssl.CERT_NONE and not lax.check_hostname
    named = tls(parse_url("rediss://10.0.0.5:6380/0?ssl_check_hostname=false"))
    assert named is not None and named.verify_mode == ssl.CERT_REQUIRED and not named.check_hostname
