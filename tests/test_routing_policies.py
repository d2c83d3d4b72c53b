"""Routing policies of aliases (ordered, weighted, least-busy) and the circuit breaker, alone and
through the gateway with real fake upstreams and the `openai` SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlingua.adapters.balancer import Balancer, Policy
from interlingua.adapters.ir import GatewayError
from interlingua.adapters.providers import Target
from interlingua.adapters.providers.openai import OpenAIProvider
from interlingua.app.config import ConfigError, parse
from tests.fakes.openai_upstream import FakeOpenAI, error
from tests.harness import client, gateway, provider
from tests.support import async_test

A, B, C = (Target(OpenAIProvider(n, "http://127.0.0.1:9/v1"), "m") for n in "abc")
FAIL = GatewayError("upstream", "boom", status=502, retryable=True)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_weighted_order_follows_the_draw() -> None:
    draws = iter([0.1, 0.9, 0.5])
    balancer = Balancer(draw=lambda: next(draws))
    policy = Policy("weighted", (1.0, 3.0, 1.0))
    # 0.1 x 5 = 0.5 falls in a's share; then 0.9 x 4 = 3.6 in c's (b 3, c 1); b is left.
    assert balancer.order([A, B, C], policy) == [A, C, B]


def test_least_busy_prefers_fewest_in_flight() -> None:
    balancer = Balancer()
    balancer.begin(A)
    balancer.begin(A)
    balancer.begin(B)
    assert balancer.order([A, B, C], Policy("least-busy")) == [C, B, A]
    balancer.end(A, None)
    balancer.end(A, None)
    assert balancer.order([A, B, C], Policy("least-busy")) == [A, C, B]


def test_circuit_opens_after_repeated_failures_then_probes_once() -> None:
    clock = Clock()
    balancer = Balancer(failures=3, cooldown=30, clock=clock)
    for _ in range(2):
        balancer.begin(A)
        balancer.end(A, FAIL)
    assert balancer.order([A, B], None) == [A, B]  # two failures: still first
    balancer.begin(A)
    balancer.end(A, FAIL)
    assert balancer.order([A, B], None) == [B, A]  # open: skipped, kept last
    clock.now += 31
    assert balancer.order([A, B], None) == [A, B]  # half-open: one probe may go
    balancer.begin(A)
    assert balancer.order([A, B], None) == [B, A]  # while it is out, no second one
    balancer.end(A, FAIL)
    assert balancer.order([A, B], None) == [B, A]  # the probe failed: open again
    clock.now += 31
    balancer.begin(A)
    balancer.end(A, None)
    assert balancer.order([A, B], None) == [A, B]  # the probe succeeded: closed
    balancer.begin(A)
    balancer.end(A, GatewayError("invalid_request", "bad field", retryable=False))
    assert balancer.order([A, B], None) == [A, B]  # the client's mistakes do not count


def test_retry_after_skips_for_that_long() -> None:
    clock = Clock()
    balancer = Balancer(clock=clock)
    balancer.begin(A)
    balancer.end(A, GatewayError("rate_limit", "slow down", retry_after=5, retryable=True))
    assert balancer.order([A, B], None) == [B, A]
    clock.now += 5
    assert balancer.order([A, B], None) == [A, B]


def test_config_validates_strategies_and_weights() -> None:
    providers = {"a": {"type": "openai", "url": "http://127.0.0.1:9/v1"}}
    alias = parse({"providers": providers, "models": {"m": {"targets": ["a/x", "a/y"], "strategy": "weighted",
                                                           "weights": [1, 2.5]}}}, {}, "t").models["m"]
    assert (alias.strategy, alias.weights) == ("weighted", (1.0, 2.5))
    for table, message in [({"strategy": "random"}, "models.m.strategy: must be one of ordered, weighted"),
                           ({"strategy": "weighted"}, "models.m.weights: give one positive weight per target"),
                           ({"strategy": "weighted", "weights": [1]}, "models.m.weights"),
                           ({"weights": [1, 0]}, "models.m.weights: must be an array of positive numbers")]:
        with pytest.raises(ConfigError, match=message):
            parse({"providers": providers, "models": {"m": {"targets": ["a/x", "a/y"], **table}}}, {}, "t")


async def _ask(url: str, times: int) -> None:
    async with client(url) as sdk:
        for _ in range(times):
            answer = await sdk.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "Hello from fake"


def _chats(fake: FakeOpenAI) -> int:
    return sum(r.path == "/v1/chat/completions" for r in fake.requests)


@async_test
async def test_weighted_alias_spreads_by_weight(tmp_path: Path) -> None:
    weighted = {"targets": ["light/m", "heavy/m"], "strategy": "weighted", "weights": [1, 4]}
    async with FakeOpenAI(["m"]) as light, FakeOpenAI(["m"]) as heavy, gateway(
            tmp_path, providers={"light": provider(light.url), "heavy": provider(heavy.url)},
            models={"fast": weighted}) as (_, url):
        await _ask(url, 60)
    assert _chats(light) + _chats(heavy) == 60
    assert 2 <= _chats(light) < _chats(heavy)


@async_test
async def test_failing_target_is_skipped_and_a_429_for_its_retry_after(tmp_path: Path) -> None:
    async with FakeOpenAI(["m"]) as broken, FakeOpenAI(["m"]) as spare, FakeOpenAI(["m"]) as busy, gateway(
            tmp_path, providers={"broken": provider(broken.url), "spare": provider(spare.url),
                                 "busy": provider(busy.url)},
            models={"fast": {"targets": ["broken/m", "spare/m"]},
                    "slow": {"targets": ["busy/m", "spare/m"]}}) as (_, url):
        broken.script(*[error(503, "down")] * 10)
        await _ask(url, 6)
        assert (_chats(broken), _chats(spare)) == (3, 6)  # three failures open the circuit
        busy.script(error(429, "Rate limit reached", headers={"retry-after": "30"}))
        async with client(url) as sdk:
            for _ in range(3):
                await sdk.chat.completions.create(model="slow", messages=[{"role": "user", "content": "hi"}])
        assert _chats(busy) == 1 and _chats(spare) == 9
