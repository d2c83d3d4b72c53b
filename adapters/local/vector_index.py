"""A vector store's chunks embedded, and searched, with the embedded all-MiniLM-L6-v2 and BM25.

Why this shape:

- A file is cut as OpenAI cuts it (`chunking_strategy`: 800 tokens a chunk, 400 shared with the next,
  by default), so a search answers passages of the size clients expect. The encoder reads at most
  256 word pieces, a third of such a chunk, so the text is embedded as windows of `WINDOW` tokens,
  each chunk keeps the vectors of the windows inside it, and matches a query by its best window:
  every part of the chunk is seen, and no word is embedded twice however much chunks overlap.
- A search ranks a store's chunks by that similarity and, unless the ranker is `none`, by BM25 over
  the store's chunks (its index made once per version of the store, on the first such search), and
  fuses the best `CANDIDATES` of each ranking by reciprocal rank with the rerank's weights
  (`fusion.py`): BM25 finds the identifiers (an error code, a function name) a small encoder blurs.
- Scores are in [0, 1], as OpenAI's: the cosine with `ranker: none`, else the fused score over the
  best a chunk could get (first in both rankings), so `score_threshold` means one thing per ranker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from interlingua.adapters import ir
from interlingua.adapters.documents.segment import segment
from interlingua.adapters.local import fusion
from interlingua.adapters.local.minilm import DIMENSIONS, MiniLM

WINDOW = 192  # tokens (o200k) of a chunk the encoder reads at once: under its 256 word pieces
CANDIDATES = 100  # chunks the dense ranking hands to the fusion


@dataclass(slots=True, frozen=True)
class Chunk:
    """A file's chunk as a search reads it: where it came from and its windows' vectors."""

    file_id: str
    filename: str
    attributes: dict[str, str | float | bool | list[str]]
    text: str
    vectors: bytes  # float32, windows x DIMENSIONS


def cut(text: str, media_type: str, size: int, overlap: int, stop: threading.Event | None = None) -> list[ir.Segment]:
    """A file's text in chunks of at most `size` tokens, each `overlap` tokens into the last."""
    return [s for s in segment(text, media_type, size, overlap, stop) if s.text.strip()]


def embed(minilm: MiniLM, text: str, chunks: list[ir.Segment], size: int,
          stop: threading.Event | None = None) -> list[bytes]:
    """Each chunk's windows embedded, as float32 bytes, one row a window. The text is embedded once,
    window by window, and each chunk (of at most `size` tokens) takes the windows mostly inside it:
    overlapping chunks share their windows' vectors rather than embed the same words twice. Windows
    are at most half a chunk long, so that a whole one fits in every chunk."""
    length = max(min(WINDOW, size // 2), 1)
    windows = [w for w in segment(text, "text/plain", length, 0, stop) if w.text.strip()]
    vectors = np.asarray(minilm.embed([w.text for w in windows], stop), dtype=np.float32)
    starts = np.array([w.start for w in windows])
    ends = np.array([w.end for w in windows])
    made = []
    for chunk in chunks:
        inside = np.minimum(ends, chunk.end) - np.maximum(starts, chunk.start)
        rows = np.flatnonzero(inside * 2 >= ends - starts)
        if not len(rows):  # a chunk within one window: the window it shares most with
            rows = np.array([int(np.argmax(inside))])
        made.append(vectors[rows].tobytes())
    return made


class Index:
    """A store's chunks ready to search: every window's vector in one matrix, and BM25 over the
    chunks, made on the first search that fuses."""

    __slots__ = ("version", "chunks", "matrix", "owner", "size", "_lexical", "_lock")

    def __init__(self, version: int, chunks: list[Chunk]) -> None:
        self.version = version
        self.chunks = chunks
        rows = [np.frombuffer(chunk.vectors, dtype=np.float32).reshape(-1, DIMENSIONS) for chunk in chunks]
        self.matrix = np.concatenate(rows) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)
        self.owner = np.repeat(np.arange(len(chunks)), [len(r) for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        self.size = self.matrix.nbytes + sum(len(chunk.text) for chunk in chunks)  # about what it holds, in bytes
        self._lexical: fusion.Lexical | None = None
        self._lock = threading.Lock()

    def search(self, minilm: MiniLM, queries: list[str], allowed: np.ndarray, limit: int, rank: bool,
               threshold: float, stop: threading.Event | None = None) -> list[tuple[int, float]]:
        """(chunk index, score) of the best `limit` chunks where `allowed` (a mask over the chunks)
        holds, best first, none under `threshold`."""
        if not self.chunks or not allowed.any():
            return []
        asked = np.asarray(minilm.embed(queries, stop), dtype=np.float32)
        best = np.full(len(self.chunks), -1.0, dtype=np.float32)
        np.maximum.at(best, self.owner, (self.matrix @ asked.T).max(axis=1))
        best[~allowed] = -np.inf
        if rank:
            found = self._fused(" ".join(queries), best, allowed)
        else:
            found = [(int(i), float(min(max(best[i], 0.0), 1.0))) for i in np.argsort(-best, kind="stable")
                     if allowed[i]]
        return [(i, score) for i, score in found[:limit] if score >= threshold]

    def _fused(self, query: str, dense: np.ndarray, allowed: np.ndarray) -> list[tuple[int, float]]:
        """The best chunks by either ranking, ranked again by both fused."""
        with self._lock:
            if self._lexical is None:
                self._lexical = fusion.Lexical([chunk.text for chunk in self.chunks])
        lexical = np.where(allowed, self._lexical.scores(query), 0.0)
        candidates = np.union1d(np.argsort(-dense, kind="stable")[:CANDIDATES],
                                np.argsort(-lexical, kind="stable")[:CANDIDATES])
        candidates = candidates[allowed[candidates]]
        lexical, dense = lexical[candidates], dense[candidates]
        weight = 1.0 if fusion.IDENTIFIER.search(query) else fusion.QUIET_WEIGHT
        # Reciprocal ranks, as `fusion.fuse`; a chunk sharing no word with the query has no lexical rank.
        scores = (weight * (lexical > 0) / (fusion.K + 1.0 + fusion.rank_of(lexical))
                  + 1.0 / (fusion.K + 1.0 + fusion.rank_of(dense)))
        most = (weight + 1.0) / (fusion.K + 1.0)
        return [(int(candidates[i]), float(scores[i]) / most) for i in np.argsort(-scores, kind="stable")]
