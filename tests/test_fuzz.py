"""Every endpoint, fuzzed: broken versions of valid requests never get a 5xx, an unsendable header or
an error outside the client dialect's shape (`tests/fuzz.py`, seeds in `tests/fuzz_seeds.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from hypothesis import given

from tests.fuzz import Request, Rig, fuzz_settings, requests, unbroken
from tests.fuzz_seeds import ENDPOINTS, STORED


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    rig = Rig(tmp_path_factory.mktemp("fuzz"))
    try:
        yield rig
    finally:
        rig.close()


def _stored_id(rig: Rig) -> str:
    """A response the gateway stored, for the seeds that read one or continue from it."""
    body = orjson.dumps({"model": "oa/gpt-x", "input": "hi"})
    exchange = rig.send(Request("POST", "/v1/responses", "openai", [body], [(b"content-type", b"application/json")]))
    assert exchange.status == 200, exchange.body
    return exchange.json()["id"]


def _with_stored(request: Request, stored: str) -> Request:
    request.path = request.path.replace(STORED, stored)
    request.body = [chunk.replace(STORED.encode(), stored.encode()) for chunk in request.body]
    return request


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_the_seeds_are_answered(rig: Rig, endpoint: str) -> None:
    """Unbroken, every seed gets a 2xx: the fuzzing starts from requests that reach the upstream."""
    for seed in ENDPOINTS[endpoint][1]:
        exchange = rig.check(_with_stored(unbroken(seed), _stored_id(rig)))
        assert 200 <= exchange.status < 300, (seed.path, exchange.status, exchange.body[:300])


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_no_request_breaks_an_endpoint(rig: Rig, endpoint: str) -> None:
    examples, seeds = ENDPOINTS[endpoint]
    stored = _stored_id(rig)

    @fuzz_settings(examples)
    @given(requests(seeds))
    def breaks_nothing(request: Request) -> None:
        rig.check(_with_stored(request, _stored_id(rig) if request.method == "DELETE" else stored))

    breaks_nothing()
