"""Rerank with no network: all-MiniLM-L6-v2 similarity fused with BM25 by reciprocal rank.

Why this shape:

- No cross-encoder reranker runs offline here (`reference/offline-models.md`), so relevance comes
  from two weaker signals that fail differently: BM25 over the passages themselves (exact terms,
  names, numbers) and the cosine similarity of sentence embeddings (paraphrase, synonyms).
- Reciprocal rank fusion (Cormack et al., 2009) adds `weight / (k + rank)` from each ranking. It
  needs no score calibration between the two, which have nothing in common, and `k` damps how much
  the very top of one ranking can outvote the other.
- BM25's weight depends on the query. On the labelled set (`scripts/data/rerank_set.jsonl`,
  `scripts/rerank_eval.py` prints every variant) the embeddings alone beat an equal-weight fusion
  on questions in plain words, where BM25 is led astray by passages that share the query's words;
  BM25 wins on lookups of identifiers (`RFC 7231`, `exit code 137`, `ruff E501`), which a small
  encoder blurs with their neighbours. So BM25 counts fully when the query holds such a token
  (`IDENTIFIER`: a digit, an all-capitals word, or `_ : . /`) and at `QUIET_WEIGHT` otherwise.
  `K` and the weights were chosen on that same set, with no held-out part: the README gives the
  numbers, and the margin over the embeddings alone is small.
- The passages are the corpus: BM25's document frequencies come from the texts of one request.
  bm25s scores with sparse matrices, a few milliseconds for a hundred passages.
- The encoder costs about 30 ms a passage of 100 words on one core, so passage vectors are kept in
  a bounded LRU cache keyed by the text: a RAG pipeline reranks the same chunks again and again.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

import bm25s
import numpy as np

from interlingua.adapters.local.minilm import MiniLM

#: The rerank model's name under the `local` provider.
MODEL_ID = "minilm-bm25"
#: Reciprocal rank fusion's constant, tuned on the labelled set (see the module docstring).
K = 20
#: BM25's weight for a query in plain words; the embeddings' is 1, and BM25's 1 for identifiers.
QUIET_WEIGHT = 0.1
IDENTIFIER = re.compile(r"\d|\b[A-Z]{2,}\b|[_:./]")
#: Passage vectors kept, about 1.5 KB each.
CACHED = 20_000


class Fusion:
    """Ranks passages for a query; one instance serves every thread."""

    def __init__(self, minilm: MiniLM, k: float = K, cached: int = CACHED) -> None:
        self.minilm = minilm
        self.k = k
        self.cached = cached
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def rank(self, query: str, texts: Sequence[str], stop: threading.Event | None = None) -> list[tuple[int, float]]:
        """(index, fused score) of every text, best first; ties keep the request's order. Once `stop`
        is set (nobody waits), the encoder's next batch raises `Stopped`."""
        lexical_weight = 1.0 if IDENTIFIER.search(query) else QUIET_WEIGHT
        return fuse([rank_of(self.lexical(query, texts)), rank_of(self.dense(query, texts, stop))], self.k,
                    (lexical_weight, 1.0))

    @staticmethod
    def lexical(query: str, texts: Sequence[str]) -> np.ndarray:
        """BM25 score of each text for `query`, with the texts as the corpus."""
        return Lexical(texts).scores(query)

    def dense(self, query: str, texts: Sequence[str], stop: threading.Event | None = None) -> np.ndarray:
        """Cosine similarity of each text's embedding to the query's (the vectors are unit length)."""
        with self._lock:
            found = {t: v for t in texts if (v := self._vectors.get(t)) is not None}
            for text in found:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        vectors = np.asarray(self.minilm.embed([query, *missing], stop), dtype=np.float32)
        made = dict(zip(missing, vectors[1:], strict=True))
        with self._lock:
            for text, vector in made.items():
                self._vectors[text] = vector
            while len(self._vectors) > self.cached:
                self._vectors.popitem(last=False)
        matrix = np.stack([found[t] if t in found else made[t] for t in texts])
        return matrix @ vectors[0]

    def tokens(self, query: str, texts: Sequence[str]) -> int:
        """Word pieces the encoder reads for this request, cached passages included, for the ledger."""
        return self.minilm.count_tokens([query, *texts])


class Lexical:
    """BM25 over a corpus of texts, indexed once and asked any number of queries."""

    __slots__ = ("size", "vocab", "_index")

    def __init__(self, texts: Sequence[str]) -> None:
        tokens = bm25s.tokenize(list(texts), stopwords="en", show_progress=False)
        self.size = len(texts)
        self.vocab = tokens.vocab
        self._index = None
        if tokens.vocab:  # else nothing but stopwords and punctuation
            self._index = bm25s.BM25()
            self._index.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """Each text's BM25 score for `query` (zero for a text sharing no word with it)."""
        words = [w for w in bm25s.tokenize(query, stopwords="en", return_ids=False, show_progress=False)[0]
                 if w in self.vocab]
        if self._index is None or not words:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._index.get_scores(words), dtype=np.float32)


def rank_of(scores: np.ndarray) -> np.ndarray:
    """The 0-based rank of each score (0 is the highest); equal scores keep their order."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(len(scores))
    return ranks


def fuse(rankings: Sequence[np.ndarray], k: float, weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of rankings of the same items: (index, score), best first."""
    weights = weights or [1.0] * len(rankings)
    scores = np.sum([w / (k + 1.0 + ranks) for w, ranks in zip(weights, rankings, strict=True)], axis=0)
    order = np.argsort(-scores, kind="stable")
    return [(int(i), float(scores[i])) for i in order]
