"""The vector stores' contract, kept alike by the SQLite store and the PostgreSQL one (on a real
server): stores seen only by their key, their files counted, paged and filtered, files claimed for a
lease and taken up again when it runs out, chunks replaced by a finish, and the version that tells a
process its index of a store is stale."""

from __future__ import annotations

import dataclasses
import time
from contextlib import aclosing
from pathlib import Path

import numpy as np

from interlingua.adapters.dialects.openai_vector_stores import (
    Attributes,
    Chunking,
    Counts,
    StoreAsk,
    StoredBatch,
    StoredStore,
    StoredVectorFile,
)
from interlingua.adapters.storage.pg_vector_stores import PgVectorStoreStore
from interlingua.adapters.storage.vector_stores import VectorStores, VectorStoreStore
from tests.servers import postgres
from tests.support import async_test

VECTORS = np.zeros((2, 384), dtype=np.float32).tobytes()
OTHER_VECTORS = np.ones((1, 384), dtype=np.float32).tobytes()
AUTO = Chunking()


def _file(file_id: str, created: int, store_id: str = "vs_0", batch_id: str | None = None,
          attributes: Attributes | None = None, chunking: Chunking = AUTO) -> StoredVectorFile:
    return StoredVectorFile(store_id, file_id, f"{file_id}.txt", created, "in_progress", attributes or {}, chunking,
                            batch_id=batch_id)


async def _keeps_the_contract(store: VectorStores) -> None:
    now = int(time.time())
    replace = dataclasses.replace
    made = [StoredStore(f"vs_{n}", f"store {n}", "about" if n else None, {"n": str(n)}, now + n, now + n,
                        7 if n == 1 else None) for n in range(4)]
    a, b = _file("file-a", now), _file("file-b", now + 1, chunking=Chunking(200, 50))
    g = _file("file-g", now + 2, store_id="vs_3", attributes={"kind": "guide"})
    await store.create("alice", made[0], [a, b])
    await store.create("alice", made[1], [])
    await store.create("bob", made[2], [])
    await store.create(None, made[3], [g])  # made by an open gateway: every key's
    s0, s1, s2, s3 = (made[0], made[1], made[2], replace(made[3], counts=Counts(in_progress=1)))
    s0 = replace(s0, counts=Counts(in_progress=2))

    # A store is its key's, and an open gateway's (None) sees every one.
    assert await store.get("alice", "vs_0") == s0 and await store.get(None, "vs_0") == s0
    assert await store.get("bob", "vs_0") is None and await store.get("alice", "vs_2") is None
    assert await store.get("bob", "vs_3") == s3 and await store.get("alice", "vs_missing") is None
    assert await store.version("vs_0") == 0 and await store.version("vs_missing") == -1

    # Pages, oldest first or newest first, after a store's id.
    assert await store.page("alice", None, 2, False) == ([s0, s1], True)
    assert await store.page("alice", "vs_1", 2, False) == ([s3], False)
    assert await store.page("alice", None, 2, True) == ([s3, s1], True)
    assert await store.page("alice", "vs_1", 2, True) == ([s0], False)
    assert await store.page("bob", None, 10, False) == ([s2, s3], False)
    assert await store.page(None, None, 10, True) == ([s3, s2, s1, s0], False)
    assert await store.page(None, "vs_3", 10, False) == ([], False)

    # Updates: only what is asked changes; `clear_expiry` takes the policy away.
    assert await store.update("bob", "vs_0", StoreAsk(name="taken")) is None
    assert await store.update("alice", "vs_missing", StoreAsk(name="x")) is None
    s0 = replace(s0, name="renamed", metadata={"k": "v"}, expires_days=3)
    assert await store.update("alice", "vs_0", StoreAsk(name="renamed", metadata={"k": "v"}, expires_days=3)) == s0
    assert await store.update("alice", "vs_0", StoreAsk()) == s0
    s0 = replace(s0, expires_days=None)
    assert await store.update(None, "vs_0", StoreAsk(clear_expiry=True)) == s0
    assert await store.update("alice", "vs_1", StoreAsk(metadata={})) == replace(s1, metadata={})
    s1 = replace(s1, metadata={})
    assert await store.get("bob", "vs_2") == s2  # untouched by the others' updates
    await store.touch("vs_0", now + 100)
    s0 = replace(s0, last_active=now + 100)
    assert await store.get("alice", "vs_0") == s0

    # Files added one at a time and in a batch; each add bumps the version.
    c = _file("file-c", now + 3, attributes={"lang": "en"})
    await store.add_files("vs_0", [c], None)
    assert await store.version("vs_0") == 1
    batch = StoredBatch("vsfb_1", "vs_0", now + 4, False)
    d, e = _file("file-d", now + 4, batch_id="vsfb_1"), _file("file-e", now + 4, batch_id="vsfb_1")
    await store.add_files("vs_0", [d, e], batch)
    assert await store.version("vs_0") == 2
    assert await store.get_batch("vs_0", "vsfb_1") == replace(batch, counts=Counts(in_progress=2))
    assert await store.get_batch("vs_1", "vsfb_1") is None and await store.get_batch("vs_0", "vsfb_x") is None
    assert await store.get_file("vs_0", "file-c") == c and await store.get_file("vs_0", "file-d") == d
    assert await store.get_file("vs_0", "file-missing") is None and await store.get_file("vs_1", "file-a") is None
    s0 = replace(s0, counts=Counts(in_progress=5))
    assert await store.get("alice", "vs_0") == s0

    assert await store.page_files("vs_0", None, None, None, 2, False) == ([a, b], True)
    assert await store.page_files("vs_0", None, None, "file-b", 2, False) == ([c, d], True)
    assert await store.page_files("vs_0", None, None, "file-d", 2, False) == ([e], False)
    assert await store.page_files("vs_0", None, None, None, 2, True) == ([e, d], True)
    assert await store.page_files("vs_0", None, None, "file-d", 10, True) == ([c, b, a], False)
    assert await store.page_files("vs_0", "vsfb_1", None, None, 10, False) == ([d, e], False)
    assert await store.page_files("vs_0", "vsfb_1", None, "file-d", 10, False) == ([e], False)
    assert await store.page_files("vs_0", None, "completed", None, 10, False) == ([], False)
    assert await store.page_files("vs_1", None, None, None, 10, False) == ([], False)

    # Attributes replaced, and taken away by None.
    a = replace(a, attributes={"lang": "fr", "pages": 2, "draft": True})
    assert await store.set_attributes("vs_0", "file-a", {"lang": "fr", "pages": 2, "draft": True}) == a
    assert await store.version("vs_0") == 3
    a = replace(a, attributes={})
    assert await store.set_attributes("vs_0", "file-a", None) == a
    assert await store.get_file("vs_0", "file-a") == a
    assert await store.version("vs_0") == 4

    # Claims: the files waiting, oldest first, with their store's owner; a file is taken up again
    # only once its lease ran out.
    assert await store.claim(now + 60, 2) == [("alice", a), ("alice", b)]
    assert await store.claim(int(time.time()) - 1, 1) == [(None, g)]  # a lease already run out
    assert await store.claim(now + 60, 10) == [(None, g), ("alice", c), ("alice", d), ("alice", e)]
    assert await store.claim(now + 60, 10) == []
    await store.renew("vs_3", "file-g", int(time.time()) - 1)  # a renewal is the lease it gives
    assert await store.claim(now + 60, 10) == [(None, g)]
    await store.renew("vs_3", "file-g", now + 600)
    assert await store.claim(now + 60, 10) == []
    assert await store.version("vs_0") == 4

    # A finish stores the file's chunks (their text's UTF-8 bytes and vectors counted) and bumps the version.
    pieces = [(0, "hello world", VECTORS), (6, "world again", VECTORS)]
    assert await store.finish("vs_0", "file-a", pieces) is True
    a = replace(a, status="completed", usage_bytes=2 * len(VECTORS) + 22)
    assert await store.get_file("vs_0", "file-a") == a
    assert await store.version("vs_0") == 5
    assert await store.finish("vs_0", "file-a", pieces) is False  # no longer in progress
    assert await store.version("vs_0") == 5
    assert await store.finish("vs_0", "file-b", [(0, "héllo", OTHER_VECTORS)]) is True
    b = replace(b, status="completed", usage_bytes=len(OTHER_VECTORS) + 6)
    assert await store.version("vs_0") == 6
    b = replace(b, attributes={"lang": "de"})
    assert await store.set_attributes("vs_0", "file-b", {"lang": "de"}) == b
    assert await store.version("vs_0") == 7
    assert await store.chunks("vs_0") == (7, [
        ("file-a", "file-a.txt", {}, "hello world", VECTORS), ("file-a", "file-a.txt", {}, "world again", VECTORS),
        ("file-b", "file-b.txt", {"lang": "de"}, "héllo", OTHER_VECTORS)])
    assert await store.texts("vs_0", "file-a") == [(0, "hello world"), (6, "world again")]
    assert await store.texts("vs_0", "file-c") == [] and await store.chunks("vs_1") == (0, [])

    # A failure is kept with its error, and only for a file still in progress.
    await store.fail("vs_0", "file-c", "invalid_file", "the file holds no text")
    c = replace(c, status="failed", error=("invalid_file", "the file holds no text"))
    assert await store.get_file("vs_0", "file-c") == c
    await store.fail("vs_0", "file-a", "server_error", "too late")
    assert await store.get_file("vs_0", "file-a") == a
    assert await store.version("vs_0") == 7

    # A batch cancelled: its files still in progress are cancelled, and a finish of one then fails.
    assert await store.finish("vs_0", "file-d", [(0, "done", VECTORS)]) is True
    d = replace(d, status="completed", usage_bytes=len(VECTORS) + 4)
    assert await store.version("vs_0") == 8
    assert await store.cancel_batch("vs_1", "vsfb_1") is None and await store.cancel_batch("vs_0", "vsfb_x") is None
    batch = replace(batch, cancelled=True, counts=Counts(completed=1, cancelled=1))
    assert await store.cancel_batch("vs_0", "vsfb_1") == batch
    assert await store.get_batch("vs_0", "vsfb_1") == batch
    e = replace(e, status="cancelled")
    assert await store.get_file("vs_0", "file-e") == e
    assert await store.finish("vs_0", "file-e", [(0, "late", VECTORS)]) is False
    assert await store.texts("vs_0", "file-e") == [] and await store.version("vs_0") == 8
    s0 = replace(s0, counts=Counts(completed=3, failed=1, cancelled=1), usage_bytes=a.usage_bytes + b.usage_bytes
                 + d.usage_bytes)
    assert await store.get("alice", "vs_0") == s0
    assert await store.page_files("vs_0", None, "completed", None, 10, False) == ([a, b, d], False)
    assert await store.page_files("vs_0", None, "completed", None, 2, True) == ([d, b], True)
    assert await store.page_files("vs_0", None, "failed", None, 10, False) == ([c], False)
    assert await store.page_files("vs_0", "vsfb_1", "cancelled", None, 10, False) == ([e], False)
    assert await store.page_files("vs_0", None, "in_progress", None, 10, False) == ([], False)

    # A file added again is as new: waiting, with no chunks, error, usage or lease, and listed last.
    a2, c2 = _file("file-a", now + 10, chunking=Chunking(300, 0)), _file("file-c", now + 10)
    await store.add_files("vs_0", [c2, a2], None)
    assert await store.version("vs_0") == 9
    assert await store.get_file("vs_0", "file-a") == a2 and await store.get_file("vs_0", "file-c") == c2
    assert await store.texts("vs_0", "file-a") == []
    assert await store.chunks("vs_0") == (9, [("file-b", "file-b.txt", {"lang": "de"}, "héllo", OTHER_VECTORS),
                                              ("file-d", "file-d.txt", {}, "done", VECTORS)])
    assert await store.page_files("vs_0", None, None, None, 10, False) == ([b, d, e, c2, a2], False)
    assert await store.claim(now + 60, 10) == [("alice", c2), ("alice", a2)]
    s0 = replace(s0, counts=Counts(in_progress=2, completed=2, cancelled=1), usage_bytes=b.usage_bytes + d.usage_bytes)
    assert await store.get("alice", "vs_0") == s0

    # A file deleted, with its chunks.
    assert await store.delete_file("vs_0", "file-b") is True
    assert await store.version("vs_0") == 10
    assert await store.get_file("vs_0", "file-b") is None and await store.texts("vs_0", "file-b") == []
    assert await store.chunks("vs_0") == (10, [("file-d", "file-d.txt", {}, "done", VECTORS)])
    assert await store.delete_file("vs_0", "file-b") is False
    assert await store.set_attributes("vs_0", "file-b", {"lang": "it"}) is None
    await store.add_files("vs_0", [_file("file-f", now + 11)], None)

    # A file gone from the Files store leaves every store it was in, with its chunks.
    await store.add_files("vs_1", [_file("file-d", now + 12, store_id="vs_1")], None)
    versions = (await store.version("vs_0"), await store.version("vs_1"))
    await store.forget_file("file-d")
    assert (await store.version("vs_0"), await store.version("vs_1")) == (versions[0] + 1, versions[1] + 1)
    assert await store.get_file("vs_0", "file-d") is None and await store.get_file("vs_1", "file-d") is None
    assert await store.chunks("vs_0") == (versions[0] + 1, []) and await store.texts("vs_0", "file-d") == []
    assert await store.get("alice", "vs_1") == s1
    await store.forget_file("file-nowhere")

    # A store deleted, by its key or an open gateway, with its files, batches and chunks.
    assert await store.delete("bob", "vs_0") is False
    assert await store.delete("alice", "vs_0") is True
    assert await store.get(None, "vs_0") is None and await store.delete("alice", "vs_0") is False
    assert await store.get_file("vs_0", "file-d") is None and await store.get_batch("vs_0", "vsfb_1") is None
    assert await store.page_files("vs_0", None, None, None, 10, False) == ([], False)
    assert await store.version("vs_0") == -1 and await store.chunks("vs_0") == (-1, [])
    assert await store.texts("vs_0", "file-d") == []
    assert await store.delete(None, "vs_2") is True
    assert await store.page(None, None, 10, False) == ([s1, s3], False)
    assert await store.claim(now + 60, 10) == []  # file-f, waiting, went with its store
    assert await store.get("bob", "vs_3") == s3


@async_test
async def test_the_sqlite_store_keeps_the_contract(tmp_path: Path) -> None:
    async with aclosing(VectorStoreStore(tmp_path / "vectors.sqlite3")) as store:
        await _keeps_the_contract(store)


@async_test
async def test_the_postgresql_store_keeps_the_contract(tmp_path: Path) -> None:
    async with postgres() as server:
        async with aclosing(PgVectorStoreStore(server.url)) as store:
            await _keeps_the_contract(store)
