"""This process's share of the vector stores' work: files indexed, and stores searched.

A file added to a store waits `in_progress` in the store until a process claims it for a lease:
the one that added it at once (`wake`), or any other at its next sweep once a lease has run out
(the process that held it stopped). Indexing reads the file from the Files store as its owner,
extracts its text with the embedded document reader (PDF, Office, HTML, text...), cuts it into the
file's chunks and embeds them on a worker thread (`adapters/local/vector_index.py`), one file at a
time per process, so that requests keep the other core. A file the reader cannot read, or with no
text, fails with OpenAI's `unsupported_file` or `invalid_file`.

A search reads the store's chunks once per version into an `Index`, kept for the next searches of
the same store (the most recently searched, up to `CACHED_BYTES` of text and vectors a process); a
store changed through another process has a new version, which every search asks the store for.

A file's lease is renewed while it is indexed (a book's text takes the model minutes), so that no
other process takes it up meanwhile; one that stops renewing it is taken up once it runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict

import numpy as np

from interlingua.adapters import ir
from interlingua.adapters.dialects import openai_vector_stores as wire
from interlingua.adapters.documents import reader
from interlingua.adapters.local import vector_index
from interlingua.adapters.local.minilm import MiniLM
from interlingua.adapters.stoppable import Stopped, in_thread
from interlingua.adapters.storage.files import Files
from interlingua.adapters.storage.vector_stores import Piece, VectorStores

log = logging.getLogger("interlingua.vector_stores")

LEASE_S = 300  # a file's indexing lease: a large PDF's text and embeddings take a while
SWEEP_S = 15.0  # how often a process looks for files whose lease ran out
CACHED_BYTES = 256 * 2**20  # the stores' indexes a process keeps, by their text and vectors
MAX_TOKENS = 5_000_000  # a file's text at most, as OpenAI's vector stores take (four characters a token)


class VectorIndexer:
    def __init__(self, store: VectorStores, files: Files, minilm: MiniLM, lease: int = LEASE_S,
                 sweep: float = SWEEP_S) -> None:
        self.store = store
        self.files = files
        self.minilm = minilm
        self.lease = lease
        self.sweep_every = sweep
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._indexes: OrderedDict[str, vector_index.Index] = OrderedDict()

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    def wake(self) -> None:
        """Files are waiting: look now rather than at the next sweep."""
        self.start()
        self._wake.set()

    async def _work(self) -> None:
        while True:
            try:
                while claimed := await self.store.claim(int(time.time()) + self.lease, 1):
                    owner, stored = claimed[0]
                    await self._index(owner, stored)
            except ir.GatewayError:  # the store is away: the next sweep looks again
                log.warning("vector stores: the store is unreachable; indexing later")
            except Exception:  # a failure must not end the indexing
                log.exception("vector stores: indexing failed; looking again later")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.sweep_every)

    async def _index(self, owner: str | None, stored: wire.StoredVectorFile) -> None:
        found = (await self.files.content(owner, [stored.file_id])).get(stored.file_id)
        if found is None:
            await self.store.fail(stored.store_id, stored.file_id, "invalid_file", "the file no longer exists")
            return
        made, data = found
        try:
            text = await reader.document_text(data, made.media_type, made.filename)
        except ir.GatewayError as error:
            code = "unsupported_file" if error.status == 415 else "invalid_file"  # 415: a format the reader lacks
            await self.store.fail(stored.store_id, stored.file_id, code, error.message)
            return
        if not text.strip():
            await self.store.fail(stored.store_id, stored.file_id, "invalid_file", "the file holds no text")
            return
        if len(text) > MAX_TOKENS * 4:
            await self.store.fail(stored.store_id, stored.file_id, "invalid_file",
                                  f"the file's text is longer than {MAX_TOKENS:,} tokens")
            return
        renewing = asyncio.get_running_loop().create_task(self._renew(stored))
        try:
            pieces = await in_thread(self._pieces, text, made.media_type, stored.chunking)
        except ir.GatewayError as error:
            await self.store.fail(stored.store_id, stored.file_id, "invalid_file", error.message)
            return
        finally:
            renewing.cancel()
        if await self.store.finish(stored.store_id, stored.file_id, pieces):
            log.info("vector stores: %s indexed in %s, %d chunks", stored.file_id, stored.store_id, len(pieces))

    async def _renew(self, stored: wire.StoredVectorFile) -> None:
        """The file's lease, renewed every third of it while it is indexed here."""
        while True:
            await asyncio.sleep(self.lease / 3)
            with contextlib.suppress(ir.GatewayError):  # the store away: the next renewal tries again
                await self.store.renew(stored.store_id, stored.file_id, int(time.time()) + self.lease)

    def _pieces(self, text: str, media_type: str, chunking: wire.Chunking,
                stop: threading.Event | None = None) -> list[Piece]:
        chunks = vector_index.cut(text, media_type, chunking.size, chunking.overlap, stop)
        vectors = vector_index.embed(self.minilm, text, chunks, chunking.size, stop)
        return [(c.start, c.text, v) for c, v in zip(chunks, vectors, strict=True)]

    async def search(self, store_id: str, ask: wire.SearchAsk) -> list[wire.Hit]:
        index = self._indexes.get(store_id)
        version = await self.store.version(store_id)
        if index is None or index.version != version:
            version, rows = await self.store.chunks(store_id)
            index = await asyncio.to_thread(vector_index.Index, version,
                                            [vector_index.Chunk(*row) for row in rows])
            self._indexes[store_id] = index
        self._indexes.move_to_end(store_id)
        while sum(kept.size for kept in self._indexes.values()) > CACHED_BYTES and len(self._indexes) > 1:
            self._indexes.popitem(last=False)
        allowed = (np.ones(len(index.chunks), dtype=bool) if ask.filters is None else
                   np.fromiter((wire.matches(ask.filters, c.attributes) for c in index.chunks), dtype=bool,
                               count=len(index.chunks)))
        try:
            found = await in_thread(index.search, self.minilm, ask.queries, allowed, ask.limit, ask.rank,
                                    ask.threshold)
        except Stopped:
            return []
        return [wire.Hit(c.file_id, c.filename, c.attributes, c.text, score)
                for c, score in ((index.chunks[i], score) for i, score in found)]

    async def aclose(self) -> None:
        """Stop indexing; a file under way keeps its lease, which runs out for another process."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
