"""Every error a Chat Completions client can meet, through the official SDK and real sockets."""

from __future__ import annotations

import asyncio
import email.utils
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from interlingua.adapters.storage.ledger import totals
from tests.asgi import run
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI, ResettingUpstream, Usage, error, fail_mid_stream, refused_port, text
from tests.harness import anthropic_provider, client, gateway, provider
from tests.support import sse_events

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def test_malformed_json_missing_fields_and_unknown_models(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (_, url):
            async with httpx.AsyncClient(base_url=url) as raw:
                bad = await raw.post("/v1/chat/completions", content=b'{"model": "m", "messages": [',
                                     headers={"content-type": "application/json"})
            assert bad.status_code == 400
            assert bad.json()["error"]["type"] == "invalid_request_error"
            assert "not valid JSON" in bad.json()["error"]["message"]
            sdk = client(url)
            with pytest.raises(openai.BadRequestError) as mistyped:
                await sdk.chat.completions.create(model="m", messages=MESSAGES, temperature="hot")  # type: ignore[arg-type]
            assert mistyped.value.body["param"] == "temperature"  # type: ignore[index]
            with pytest.raises(openai.NotFoundError) as unknown:
                await sdk.chat.completions.create(model="no-such-model", messages=MESSAGES)
            assert unknown.value.body["code"] == "model_not_found"  # type: ignore[index]
            assert up.requests == []

    run(scenario())


def test_a_malformed_message_is_refused_by_whoever_reads_it(tmp_path: Path) -> None:
    """A same-dialect upstream is sent the body as it came and answers for itself; translating for
    another dialect, the gateway reads the messages and refuses, naming the field, before any call."""
    missing: list[Any] = [{"role": "user"}]
    async def scenario() -> None:
        async with FakeOpenAI() as up, FakeAnthropic() as claude, gateway(tmp_path, providers={
                "up": provider(up.url, "m"), "claude": anthropic_provider(claude.url, "c1")}) as (_, url):
            up.script(error(400, "Missing required parameter: 'messages[0].content'.", param="messages[0].content",
                            code="missing_required_parameter"))
            sdk = client(url)
            with pytest.raises(openai.BadRequestError) as passed:
                await sdk.chat.completions.create(model="m", messages=missing)
            assert passed.value.body["param"] == "messages[0].content"  # type: ignore[index]
            assert orjson.loads(up.requests[0].body)["messages"] == missing
            with pytest.raises(openai.BadRequestError) as refused:
                await sdk.chat.completions.create(model="c1", messages=missing)
            assert refused.value.body["param"] == "messages[0].content"  # type: ignore[index]
            assert "is required" in refused.value.message and claude.requests == []

    run(scenario())


def test_upstream_client_errors_pass_through_with_status_and_message(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (_, url):
            up.script(error(400, "max_tokens is too large", param="max_tokens", code="invalid_value"),
                      error(429, "Rate limit reached", headers={"retry-after": "7"}))
            with pytest.raises(openai.BadRequestError) as bad:
                await client(url).chat.completions.create(model="m", messages=MESSAGES)
            assert bad.value.body == {"message": "max_tokens is too large", "type": "invalid_request_error",
                                      "param": "max_tokens", "code": "invalid_value"}
            with pytest.raises(openai.RateLimitError) as limited:
                await client(url).chat.completions.create(model="m", messages=MESSAGES)
            assert limited.value.response.headers["retry-after"] == "7"
            assert "Rate limit reached" in limited.value.message

    run(scenario())


def test_an_upstream_retry_after_is_read_as_seconds_or_a_date_and_nothing_else(tmp_path: Path) -> None:
    """RFC 9110 lets Retry-After be an HTTP date; a value that is no finite wait (`inf` was a 500:
    the header the client gets is a whole number of seconds) is left out. A wait skips the target
    for that long, so each of those is the first answer of its own upstream."""
    async def scenario() -> None:
        async with FakeOpenAI() as odd, FakeOpenAI() as dated, FakeOpenAI() as long, gateway(
                tmp_path, providers={"odd": provider(odd.url, "m"), "dated": provider(dated.url, "d"),
                                     "long": provider(long.url, "l")}) as (_, url):
            odd_values = ["inf", "nan", "-5", "1e400", "soon"]
            odd.script(*[error(429, "Rate limit reached", headers={"retry-after": v}) for v in odd_values])
            dated.script(error(429, "Rate limit reached",
                               headers={"retry-after": email.utils.formatdate(time.time() + 30, usegmt=True)}))
            long.script(error(429, "Rate limit reached", headers={"retry-after": "99999999"}))
            told = []
            for model in ["m"] * len(odd_values) + ["d", "l"]:
                with pytest.raises(openai.RateLimitError) as limited:
                    await client(url).chat.completions.create(model=model, messages=MESSAGES)
                told.append(limited.value.response.headers.get("retry-after"))
            assert told[:5] == [None] * 5
            assert 28 <= int(told[5] or 0) <= 30
            assert told[6] == "86400"  # a day at most

    run(scenario())


def test_an_upstream_retry_after_in_milliseconds_is_read_first_and_told_both_ways(tmp_path: Path) -> None:
    """OpenAI's and Azure's APIs say the wait to the millisecond in `retry-after-ms`, which their
    SDKs (and Anthropic's) read before `Retry-After`; the client is told it both ways."""
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (_, url):
            up.script(error(429, "Rate limit reached", headers={"retry-after-ms": "1250"}),
                      error(429, "Rate limit reached", headers={"retry-after-ms": "250", "retry-after": "9"}),
                      error(429, "Rate limit reached", headers={"retry-after-ms": "soon", "retry-after": "4"}))
            told = []
            for _ in range(3):
                with pytest.raises(openai.RateLimitError) as limited:
                    await client(url).chat.completions.create(model="m", messages=MESSAGES)
                headers = limited.value.response.headers
                told.append((headers.get("retry-after"), headers.get("retry-after-ms")))
            assert told == [("2", "1250"), ("1", "250"), ("4", "4000")]  # whole seconds rounded up

    run(scenario())


def test_an_upstream_that_quotes_its_key_does_not_leak_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (_, url):
            up.script(error(401, "Incorrect API key provided: sk-upstream-secret.", code="invalid_api_key"))
            with pytest.raises(openai.AuthenticationError) as info:
                await client(url).chat.completions.create(model="m", messages=MESSAGES)
            assert info.value.message.endswith("Incorrect API key provided: ***.")
            assert "sk-upstream-secret" not in str(info.value.body)

    run(scenario())


def test_refused_reset_and_timed_out_upstreams(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as slow, ResettingUpstream() as resetting:
            providers = {"dead": provider(f"http://127.0.0.1:{refused_port()}/v1"),
                         "reset": provider(resetting.url), "slow": provider(slow.url, timeout=0.3)}
            async with gateway(tmp_path, providers=providers) as (_, url):
                slow.script(text("late", head_delay=2.0))
                outcomes = {}
                for name in providers:
                    with pytest.raises(openai.APIStatusError) as info:
                        await client(url).chat.completions.create(model=f"{name}/m", messages=MESSAGES)
                    outcomes[name] = (info.value.status_code, info.value.message)
        assert outcomes["dead"][0] == 503 and "refused" in outcomes["dead"][1]
        assert outcomes["reset"][0] == 502 and "closed the connection" in outcomes["reset"][1]
        assert outcomes["slow"][0] == 504 and "timed out" in outcomes["slow"][1]
        assert all("127.0.0.1" not in message and "sk-upstream" not in message for _, message in outcomes.values())

    run(scenario())


@pytest.mark.parametrize("drop", [False, True], ids=["error-frame", "dropped"])
def test_failure_after_the_first_byte_is_reported_in_stream(tmp_path: Path, drop: bool) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (_, url):
            up.script(fail_mid_stream("partial", " answer", drop=drop, message="upstream exploded"))
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.post("/v1/chat/completions",
                                          json={"model": "m", "messages": MESSAGES, "stream": True})
            assert response.status_code == 200
            frames = sse_events(response.content)
            assert frames[-1].name is None and frames[-1].data.startswith(b'{"error":{')
            assert "partial" in response.text and "[DONE]" not in response.text
            up.script(fail_mid_stream("partial", drop=drop, message="upstream exploded"))
            stream = await client(url).chat.completions.create(model="m", messages=MESSAGES, stream=True)
            with pytest.raises(openai.APIError) as info:
                async for _ in stream:
                    pass
            if not drop:
                assert "upstream exploded" in info.value.message

    run(scenario())


def test_bodies_over_the_cap_get_413(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")},
                                               server={"max_body_mb": 0.01}) as (_, url):
            big = [{"role": "user", "content": "x" * 20_000}]
            with pytest.raises(openai.APIStatusError) as info:
                await client(url).chat.completions.create(model="m", messages=big)  # type: ignore[arg-type]
            assert info.value.status_code == 413 and "larger than the limit" in info.value.message
            assert up.requests == []

    run(scenario())


def test_client_disconnect_closes_the_upstream_and_records_partial_usage(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeOpenAI() as up, gateway(tmp_path, providers={"up": provider(up.url, "m")}) as (app, url):
            up.script(text(*["tok"] * 200, chunk_delay=0.02, usage=Usage(9, 200)))
            async with httpx.AsyncClient(base_url=url) as raw:
                async with raw.stream("POST", "/v1/chat/completions",
                                      json={"model": "m", "messages": MESSAGES, "stream": True}) as response:
                    seen = 0
                    async for _ in response.aiter_raw():
                        seen += 1
                        if seen == 3:
                            break
            await up.wait_for_disconnects(1, timeout=1.0)
            assert up.disconnects == 1
            await asyncio.sleep(0.05)
            app.ledger.flush()  # type: ignore[union-attr]
        (row,) = totals(tmp_path / "usage.sqlite3")
        assert row["errors"] == 1 and 1 <= row["output_tokens"] < 200

    run(scenario())
