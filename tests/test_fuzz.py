"""Every endpoint, fuzzed: broken versions of valid requests never get a 5xx, an unsendable header or
an error outside the client dialect's shape (`tests/fuzz.py`, seeds in `tests/fuzz_seeds.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from hypothesis import given

from tests.fuzz import Request, Rig, fuzz_settings, requests, unbroken
from tests.fuzz_seeds import BATCH_FILE, BATCH_LINE, CONVERSATION, ENDPOINTS, FILE, PDF, STORED, VECTOR_STORE, form


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    rig = Rig(tmp_path_factory.mktemp("fuzz"))
    try:
        yield rig
    finally:
        rig.close()


_JSON = [(b"content-type", b"application/json")]


def _stored_id(rig: Rig) -> str:
    """A response the gateway stored, for the seeds that read one or continue from it."""
    body = orjson.dumps({"model": "oa/gpt-x", "input": "hi"})
    exchange = rig.send(Request("POST", "/v1/responses", "openai", [body], _JSON))
    assert exchange.status == 200, exchange.body
    return exchange.json()["id"]


def _conversation_id(rig: Rig) -> str:
    exchange = rig.send(Request("POST", "/v1/conversations", "openai", [b"{}"], _JSON))
    assert exchange.status == 200, exchange.body
    return str(exchange.json()["id"])


def _file_id(rig: Rig, purpose: str = "user_data", file: tuple[str, str, bytes] = ("a.pdf", "application/pdf",
                                                                                   PDF)) -> str:
    exchange = rig.send(unbroken(form("/v1/files", "openai", ("purpose", purpose), ("file", file))))
    assert exchange.status == 200, exchange.body
    return str(exchange.json()["id"])


def _batch_file_id(rig: Rig) -> str:
    return _file_id(rig, "batch", ("jobs.jsonl", "application/jsonl", orjson.dumps(BATCH_LINE)))


def _vector_store_id(rig: Rig, file: str) -> str:
    exchange = rig.send(Request("POST", "/v1/vector_stores", "openai", [orjson.dumps({"file_ids": [file]})], _JSON))
    assert exchange.status == 200, exchange.body
    return str(exchange.json()["id"])


def _with_stored(request: Request, stored: str, conversation: str, file: str, batch_file: str,
                 vector_store: str) -> Request:
    """The request with the placeholders of a stored response's, a conversation's, a file's, a
    batch input file's and a vector store's ids replaced."""
    for placeholder, found in ((STORED, stored), (CONVERSATION, conversation), (BATCH_FILE, batch_file),
                               (VECTOR_STORE, vector_store), (FILE, file)):
        request.path = request.path.replace(placeholder, found)
        request.body = [chunk.replace(placeholder.encode(), found.encode()) for chunk in request.body]
    return request


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_the_seeds_are_answered(rig: Rig, endpoint: str) -> None:
    """Unbroken, every seed gets a 2xx: the fuzzing starts from requests that reach the upstream."""
    for seed in ENDPOINTS[endpoint][1]:
        file = _file_id(rig)
        exchange = rig.check(_with_stored(unbroken(seed), _stored_id(rig), _conversation_id(rig), file,
                                          _batch_file_id(rig), _vector_store_id(rig, file)))
        assert 200 <= exchange.status < 300, (seed.path, exchange.status, exchange.body[:300])


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_no_request_breaks_an_endpoint(rig: Rig, endpoint: str) -> None:
    examples, seeds = ENDPOINTS[endpoint]
    stored, conversation, file, batch_file = _stored_id(rig), _conversation_id(rig), _file_id(rig), _batch_file_id(rig)
    vector_store = _vector_store_id(rig, file)

    @fuzz_settings(examples)
    @given(requests(seeds))
    def breaks_nothing(request: Request) -> None:
        deleting = request.method == "DELETE"  # each its own, so that the others still find theirs
        own = _file_id(rig) if deleting else file
        rig.check(_with_stored(request, _stored_id(rig) if deleting else stored, conversation, own, batch_file,
                               _vector_store_id(rig, own) if deleting else vector_store))

    breaks_nothing()
