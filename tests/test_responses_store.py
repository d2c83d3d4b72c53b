"""How long stored Responses are kept (`[server] responses_days`), in the SQLite store and in
PostgreSQL (a real server started by the test): an expired response is not found, a conversation's
history ends at its first expired turn, and a store that writes deletes the expired ones; with 0
they stay until deleted. And whose they are: a response is found only by the key that made it,
before its write has landed and after; one stored before owners were kept, by every key."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from interlingua.adapters.storage.pg_responses import PgResponseStore
from interlingua.adapters.storage.responses import DAY, ResponseStore
from tests.servers import postgres
from tests.support import async_test

Age = Callable[[str, float], Awaitable[None]]
Count = Callable[[], Awaitable[int]]


def _response(n: int) -> dict[str, Any]:
    return {"id": f"resp_{n}", "object": "response",
            "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": f"{n}"}]}]}


def _turn(n: int) -> list[Any]:
    return [{"type": "message", "role": "user", "content": f"turn {n}"}]


async def _kept_so_long(make: Callable[[float], Any], age: Age, count: Count) -> None:
    store = make(1)
    for n in (1, 2, 3):
        store.put(None, _response(n), _turn(n), f"resp_{n - 1}" if n > 1 else None)
    await store.aclose()  # every write landed
    await age("resp_1", 2 * DAY)
    store = make(1)
    try:
        assert await store.get(None, "resp_1") is None and await store.input_items(None, "resp_1") is None
        assert await store.get(None, "resp_2") == _response(2)
        history = await store.history(None, "resp_3")
        assert [item.get("content") for item in history if item.get("role") == "user"] == ["turn 2", "turn 3"]
        assert await store.delete(None, "resp_1") is False
        assert await count() == 3  # expired, not yet deleted
        store.put(None, _response(4), _turn(4), "resp_3")  # a store's first write sweeps
    finally:
        await store.aclose()
    assert await count() == 3
    forever = make(0)
    try:
        await age("resp_2", 400 * DAY)
        assert await forever.get(None, "resp_2") == _response(2)
        forever.put(None, _response(5), _turn(5), "resp_4")
    finally:
        await forever.aclose()
    assert await count() == 4


@async_test
async def test_sqlite_store_keeps_responses_so_many_days(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"

    async def age(response_id: str, seconds: float) -> None:
        with sqlite3.connect(path) as db:
            db.execute("UPDATE responses SET created = ? WHERE id = ?", (time.time() - seconds, response_id))

    async def count() -> int:
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    await _kept_so_long(lambda days: ResponseStore(path, days), age, count)


@async_test
async def test_postgresql_store_keeps_responses_so_many_days() -> None:
    async with postgres() as server:
        async def age(response_id: str, seconds: float) -> None:
            db = await asyncpg.connect(server.url)
            try:
                await db.execute("UPDATE responses SET created = $1 WHERE id = $2", time.time() - seconds, response_id)
            finally:
                await db.close()

        async def count() -> int:
            db = await asyncpg.connect(server.url)
            try:
                return int(await db.fetchval("SELECT COUNT(*) FROM responses"))
            finally:
                await db.close()

        await _kept_so_long(lambda days: PgResponseStore(server.url, days), age, count)


@async_test
async def test_postgresql_store_keeps_the_last_of_a_response_put_again() -> None:
    """A background response is put as it runs (queued, in_progress, its answer): its writes may
    be in flight on several connections at once, and the last put must be what the database keeps."""
    async with postgres() as server:
        store = PgResponseStore(server.url, 1)
        await store.warm()
        for response in range(1, 6):
            for n in range(60):
                store.put(None, _response(response) | {"status": f"step {n}"}, _turn(response), None)
                for _ in range(n % 4):  # each write under way before the next put, some several
                    await asyncio.sleep(0)
        await store.aclose()
        again = PgResponseStore(server.url, 1)
        try:
            found = [await again.get(None, f"resp_{response}") for response in range(1, 6)]
        finally:
            await again.aclose()
        assert [response["status"] if response else None for response in found] == ["step 59"] * 5


_OLD_TABLE = ("CREATE TABLE responses (id TEXT PRIMARY KEY, created REAL NOT NULL, previous_id TEXT, "
              "response BLOB NOT NULL, input BLOB NOT NULL)")
_OLD_ROW = ("resp_0", time.time(), None, orjson.dumps(_response(0)), orjson.dumps(_turn(0)))


async def _found_only_by_its_key(make: Callable[[], Any]) -> None:
    store = make()
    try:
        assert await store.get("bob", "resp_0") == _response(0)  # stored before owners were kept
        store.put("alice", _response(1), _turn(1), "resp_0")
        store.put("alice", _response(2), _turn(2), "resp_1")
        store.put(None, _response(3), _turn(3), None)  # made on an open gateway
        await _seen_by_owner(store)  # served from memory, the writes not yet landed
    finally:
        await store.aclose()
    store = make()
    try:
        await _seen_by_owner(store)
        assert await store.delete("bob", "resp_2") is False and await store.get("alice", "resp_2") == _response(2)
        assert await store.delete("alice", "resp_2") is True and await store.get(None, "resp_2") is None
        assert await store.delete("bob", "resp_3") is True
    finally:
        await store.aclose()


async def _seen_by_owner(store: Any) -> None:
    assert await store.get("bob", "resp_2") is None and await store.input_items("bob", "resp_2") is None
    assert await store.history("bob", "resp_2") is None
    assert await store.get("alice", "resp_2") == _response(2) and await store.input_items("alice", "resp_2") == _turn(2)
    assert [item["content"] for item in await store.history("alice", "resp_2") if item.get("role") == "user"] == [
        "turn 0", "turn 1", "turn 2"]
    assert await store.get(None, "resp_1") == _response(1)  # an open gateway finds every response
    assert await store.get("bob", "resp_3") == _response(3)


@async_test
async def test_sqlite_store_finds_a_response_only_for_its_key(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(_OLD_TABLE)
        old.execute("INSERT INTO responses VALUES (?, ?, ?, ?, ?)", _OLD_ROW)
    await _found_only_by_its_key(lambda: ResponseStore(path, 1))


@async_test
async def test_postgresql_store_finds_a_response_only_for_its_key() -> None:
    async with postgres() as server:
        old = await asyncpg.connect(server.url)
        await old.execute(_OLD_TABLE.replace("REAL", "DOUBLE PRECISION").replace("BLOB", "BYTEA"))
        await old.execute("INSERT INTO responses VALUES ($1, $2, $3, $4, $5)", *_OLD_ROW)
        await old.close()
        await _found_only_by_its_key(lambda: PgResponseStore(server.url, 1))


@async_test
async def test_sqlite_store_writes_a_burst_in_one_transaction_and_a_delete_after_it(tmp_path: Path) -> None:
    """Responses put within `HOLD` of each other land in one transaction (a commit each would cost
    every streamed turn a thread's wake-up and a commit); a delete asked for meanwhile waits for
    them, so what it deletes stays deleted; another connection (a worker) then reads the rest."""
    path = tmp_path / "responses.sqlite3"
    store = ResponseStore(path)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        for n in range(20):
            store.put(None, _response(n), _turn(n), None)
        assert await store.get(None, "resp_7") == _response(7)  # served from memory until it lands
        assert await store.delete(None, "resp_3") is True  # so it had landed
        assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
        with sqlite3.connect(path) as worker:
            ids = {row[0] for row in worker.execute("SELECT id FROM responses")}
        assert ids == {f"resp_{n}" for n in range(20)} - {"resp_3"}
        assert await store.get(None, "resp_3") is None
    finally:
        await store.aclose()
