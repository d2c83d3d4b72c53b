"""The embedded all-MiniLM-L6-v2 backend: real model, real tokenizer, loaded once for the module."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
from tokenizers import Tokenizer

from interlingua.adapters.local import minilm
from interlingua.adapters.local.minilm import DIMENSIONS, MAX_TOKENS, MODEL_ID, TOKENIZER_PATH, MiniLM

MIXED = [
    "Short.",
    "A considerably longer sentence that goes on for a while, so that it needs quite a bit of padding room.",
    "",
    "Medium length text about cats.",
    "Ünïcödé façade, 東京, and an emoji 🙂!",
    "x",
    "The quick brown fox jumps over the lazy dog, again and again and again.",
]


@pytest.fixture(scope="module")
def model() -> MiniLM:
    m = MiniLM()
    m.load()
    return m


@pytest.fixture(scope="module")
def raw_tokenizer() -> Tokenizer:
    """The packaged tokenizer with no truncation, as a client tokenizing on its side would have it."""
    tok = Tokenizer.from_file(str(TOKENIZER_PATH))
    tok.no_truncation()
    tok.no_padding()
    return tok


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_constants() -> None:
    assert MODEL_ID == "all-minilm-l6-v2"
    assert DIMENSIONS == 384
    assert MAX_TOKENS == 256


def test_nothing_loads_before_first_use() -> None:
    assert MiniLM()._state is None


def test_vectors_have_384_dims_and_unit_norm(model: MiniLM) -> None:
    vectors = model.embed(MIXED)
    assert len(vectors) == len(MIXED)
    for v in vectors:
        assert len(v) == DIMENSIONS
        assert all(isinstance(x, float) for x in v)
        assert np.all(np.isfinite(v))
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_semantic_similarity(model: MiniLM) -> None:
    food, bread, horse, white_horse, awesome, great, cat = model.embed([
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "A man is riding a horse.",
        "A man is riding a white horse on an enclosed ground.",
        "The new movie is awesome",
        "The new movie is so great",
        "The cat sits outside",
    ])
    # Measured here: 0.754, 0.254, 0.738, 0.892, -0.024. The float32 model gives 0.7553, 0.2474,
    # 0.7369, 0.8939, -0.0247: sentence-transformers' published figures for these pairs.
    assert cos(food, bread) > 0.7
    assert cos(food, horse) < 0.3
    assert cos(food, bread) - cos(food, horse) > 0.4
    assert cos(horse, white_horse) > 0.7
    assert cos(awesome, great) > 0.85
    assert cos(awesome, cat) < 0.1
    # Close to the reference model despite the int8 weights.
    assert cos(food, bread) == pytest.approx(0.7553, abs=0.01)
    assert cos(horse, white_horse) == pytest.approx(0.7369, abs=0.01)
    assert cos(awesome, great) == pytest.approx(0.8939, abs=0.01)


def test_identical_texts_give_cosine_one(model: MiniLM) -> None:
    a, b = model.embed(["Interlingua routes every dialect.", "Interlingua routes every dialect."])
    assert cos(a, b) == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(a, b, atol=1e-6)


def test_batch_equals_one_at_a_time(model: MiniLM, monkeypatch: pytest.MonkeyPatch) -> None:
    singles = np.array([model.embed([t])[0] for t in MIXED])
    assert np.allclose(np.array(model.embed(MIXED)), singles, atol=1e-5, rtol=0)
    monkeypatch.setattr(model, "batch_size", 3)  # several batches of sorted lengths
    assert np.allclose(np.array(model.embed(MIXED)), singles, atol=1e-5, rtol=0)


def test_order_is_preserved_with_mixed_lengths(model: MiniLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "batch_size", 2)
    texts = [f"sentence number {i} " + "padding " * ((i * 7) % 11) for i in range(13)]
    batch = np.array(model.embed(texts))
    singles = np.array([model.embed([t])[0] for t in texts])
    assert np.allclose(batch, singles, atol=1e-5, rtol=0)
    # Each output is nearest its own input, not a neighbour's.
    assert list((batch @ singles.T).argmax(axis=1)) == list(range(len(texts)))


def test_empty_string_and_empty_list(model: MiniLM) -> None:
    (v,) = model.embed([""])
    assert len(v) == DIMENSIONS
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert model.embed([]) == []
    assert model.embed_ids([]) == []
    assert model.count_tokens([""]) == 2  # [CLS] [SEP]
    assert model.count_tokens([]) == 0
    assert np.allclose(model.embed_ids([[]])[0], v, atol=1e-5)


def test_long_text_is_truncated_to_256_word_pieces(model: MiniLM) -> None:
    words = " ".join(f"word{i % 50}" for i in range(2000))
    long, long_other_tail = model.embed([words, words + " and then something entirely different"])
    assert len(long) == DIMENSIONS
    assert np.linalg.norm(long) == pytest.approx(1.0, abs=1e-5)
    # Everything past the 256th word piece is ignored, as in sentence-transformers.
    assert np.allclose(long, long_other_tail, atol=1e-5)
    assert model.count_tokens([words]) == MAX_TOKENS


def _long_texts() -> list[str]:
    """Long texts of every kind the tokenizer treats apart (words it splits into pieces, accents it
    strips, CJK it splits per character, punctuation, long runs of spaces, words past its 100
    characters), each from a seeded random mix, so the heads cut them at all sorts of places."""
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyzéüçø"
    kinds = [lambda: "".join(rng.choice(letters) for _ in range(rng.randint(1, 14))),
             lambda: rng.choice(["gateway", "routes", "internationalization", "the", "model", "upstream"]),
             lambda: "".join(chr(rng.randint(0x4E00, 0x4FFF)) for _ in range(rng.randint(1, 30))),
             lambda: rng.choice([",", ".", "--", "?!", "(x)", "_"]),
             lambda: " " * rng.randint(1, 3000),
             lambda: "".join(rng.choice(letters) for _ in range(rng.randint(95, 400)))]
    before = "ab " * (MAX_TOKENS - 3)  # one piece each: the word after them is the model's last
    cut = before + " " * (minilm.HEAD - len(before) - len("internat")) + "internationalization of it"
    texts = [cut]  # its head ends in "internat", whose first piece is not the whole word's
    for _ in range(40):
        weights = [rng.random() for _ in kinds]
        parts: list[str] = []
        while sum(map(len, parts)) < 30_000:
            parts.append(rng.choices(kinds, weights)[0]())
        texts.append(" ".join(parts))
    return texts


def test_a_long_text_reads_as_the_whole_text_cut_at_256_pieces(model: MiniLM, raw_tokenizer: Tokenizer) -> None:
    """Only a head of a long text is tokenized; the pieces the model reads, and counts, are the
    whole text's cut after its first 254, wherever the head cuts a word."""
    texts = _long_texts()
    expected = []
    for text in texts:
        whole = raw_tokenizer.encode(text).ids
        expected.append([whole[0], *whole[1:-1][:MAX_TOKENS - 2], whole[-1]])
    assert minilm._pieces(model._loaded(), texts) == expected
    assert model.count_tokens(texts) == sum(map(len, expected))


def test_a_text_is_read_from_its_first_65536_characters_at_most(model: MiniLM) -> None:
    """Fewer than 254 pieces in as many characters is runs of spaces or words of thousands of
    letters, which the tokenizer takes about a second a megabyte to go through (32 MB of one word:
    55 s and 2.7 GB); what comes after is not read."""
    assert model.count_tokens([" " * 60_000 + "hello"]) == 3
    assert model.count_tokens([" " * 8_000_000 + "hello", "a" * 8_000_000 + " hello"]) == 2 + 3


def test_embed_ids_equals_embed(model: MiniLM, raw_tokenizer: Tokenizer,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "batch_size", 1)  # keeps the short texts from being padded to 256 (speed only)
    texts = ["A man is eating food.", "Ünïcödé façade 東京 🙂", "", " ".join(["token"] * 600)]
    expected = np.array(model.embed(texts))
    framed = [raw_tokenizer.encode(t).ids for t in texts]  # [CLS] ... [SEP]
    bare = [raw_tokenizer.encode(t, add_special_tokens=False).ids for t in texts]
    assert len(bare[-1]) > MAX_TOKENS  # the client sent more than the model reads
    assert np.allclose(model.embed_ids(framed), expected, atol=1e-5, rtol=0)
    assert np.allclose(model.embed_ids(bare), expected, atol=1e-5, rtol=0)
    assert np.allclose(model.embed_ids([np.array(bare[0], dtype=np.int32)]), expected[:1], atol=1e-5)


def test_embed_ids_rejects_bad_ids(model: MiniLM) -> None:
    with pytest.raises(ValueError):
        model.embed_ids([[101, 30522, 102]])
    with pytest.raises(ValueError):
        model.embed_ids([[-1]])
    with pytest.raises(TypeError):
        model.embed_ids([[1.5, 2.0]])
    with pytest.raises(TypeError):
        model.embed_ids([[[1, 2]]])


def test_a_bare_string_is_refused(model: MiniLM) -> None:
    with pytest.raises(TypeError):
        model.embed("hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        model.count_tokens("hello")  # type: ignore[arg-type]


def test_count_tokens_counts_word_pieces_with_special_tokens(model: MiniLM,
                                                            raw_tokenizer: Tokenizer) -> None:
    assert model.count_tokens(["hello world"]) == 4  # [CLS] hello world [SEP]
    texts = ["A man is eating food.", "Ünïcödé façade 東京 🙂"]
    assert model.count_tokens(texts) == sum(len(raw_tokenizer.encode(t).ids) for t in texts)


def test_concurrent_first_use_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = MiniLM()
    builds = []
    real_build = MiniLM._build

    def counting_build(self: MiniLM) -> object:
        builds.append(1)
        return real_build(self)

    monkeypatch.setattr(MiniLM, "_build", counting_build)
    results: list[list[list[float]]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            results.append(fresh.embed(["concurrent first request"]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(builds) == 1
    assert len(results) == 4
    assert all(np.allclose(r, results[0], atol=1e-6) for r in results)


def test_session_runs_single_threaded(model: MiniLM) -> None:
    options = model._state.session.get_session_options()  # type: ignore[union-attr]
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert minilm.DEFAULT_BATCH_SIZE == model.batch_size == 32
