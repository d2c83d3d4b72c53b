"""Streams that end wrongly, end to end (issue 10, section 3): the official SDKs as clients over
real sockets, each of the four client dialects on a same-dialect upstream (pass-through) and on a
translated one. A stream that stops without its terminator, or (translated) sends an event that is
not JSON, reaches the client as its dialect's in-stream error and the ledger row as a 502; one that
ends so before any byte reached the client falls back to the next target. Whole bodies cut short
are a 502 in the client's dialect, never a 200."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google.genai import errors

from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import (
    anthropic_client,
    anthropic_provider,
    client,
    gateway,
    gemini_client,
    gemini_provider,
    provider,
)

HI: Any = [{"role": "user", "content": "hi"}]


class StreamFailed(Exception):
    """A Responses stream that ended with `response.failed` and `error` (the SDK yields those as
    events rather than raising)."""


# The upstreams: (fake, provider config, a text reply with `fail=` as the fakes take it) ----------

Upstream = tuple[Callable[[], Any], Callable[..., dict[str, Any]], Callable[..., Any]]
UPSTREAMS: dict[str, Upstream] = {
    "openai": (fo.FakeOpenAI, provider, fo.text),
    "anthropic": (fa.FakeAnthropic, anthropic_provider, fa.text),
    "gemini": (fg.FakeGemini, gemini_provider, fg.text),
    "responses": (fr.FakeResponses, lambda url, *models: provider(url, *models, api="responses"), fr.text),
}


# The clients: stream `model`, return the text, raise as the SDK does on an in-stream error -------


async def _openai(url: str, model: str) -> str:
    out = ""
    async for chunk in await client(url).chat.completions.create(model=model, messages=HI, stream=True):
        out += "".join(c.delta.content or "" for c in chunk.choices)
    return out


async def _anthropic(url: str, model: str) -> str:
    async with anthropic_client(url).messages.stream(model=model, max_tokens=100, messages=HI) as stream:
        async for _ in stream:
            pass
        return await stream.get_final_text()


async def _gemini(url: str, model: str) -> str:
    out = ""
    async for chunk in await gemini_client(url).aio.models.generate_content_stream(model=model, contents="hi"):
        out += chunk.text or ""
    return out


async def _responses(url: str, model: str) -> str:
    out, kinds, message = "", [], ""
    async for event in await client(url).responses.create(model=model, input="hi", stream=True):
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            out += event.delta
        elif event.type == "error":
            message = event.message
    if "error" in kinds:
        assert kinds[-2:] == ["response.failed", "error"], kinds
        raise StreamFailed(message)
    return out


CLIENTS: dict[str, Callable[[str, str], Awaitable[str]]] = {
    "openai": _openai, "anthropic": _anthropic, "gemini": _gemini, "responses": _responses}
SDK_ERRORS = (openai.APIError, anthropic.APIError, errors.APIError, StreamFailed)

# Each client dialect on its own dialect (pass-through) and on one translated upstream.
PAIRS = [("openai", "openai"), ("openai", "anthropic"), ("anthropic", "anthropic"), ("anthropic", "openai"),
         ("gemini", "gemini"), ("gemini", "openai"), ("responses", "responses"), ("responses", "gemini")]
TRANSLATED = [(c, u) for c, u in PAIRS if c != u]


async def _rows(app: Any, data_dir: Path, count: int = 1) -> list[tuple[int, str]]:
    """The ledger's (status, upstream) rows, once `count` have been written: metering records a
    row after the response, which the client may have read to the end before that."""
    for _ in range(200):
        app.ledger.flush()
        with sqlite3.connect(data_dir / "usage.sqlite3") as db:
            rows = db.execute("SELECT status, upstream FROM usage ORDER BY id").fetchall()
        if len(rows) >= count:
            return [(int(s), str(u)) for s, u in rows]
        await asyncio.sleep(0.01)
    raise AssertionError(f"the ledger has {len(rows)} rows, not {count}")


def _scenario(tmp_path: Path, client_dialect: str, upstream: str, reply: Any,
              check: Callable[[Callable[[], Awaitable[str]]], Awaitable[None]], status: int) -> None:
    fake, config, _ = UPSTREAMS[upstream]

    async def scenario() -> None:
        async with fake() as up, gateway(tmp_path, providers={"up": config(up.url, "m")}) as (app, url):
            up.script(reply)
            await check(lambda: CLIENTS[client_dialect](url, "up/m"))
            assert await _rows(app, tmp_path) == [(status, "up/m")]

    run(scenario())


@pytest.mark.parametrize(("client_dialect", "upstream"), PAIRS)
def test_a_stream_without_its_terminator_ends_in_the_clients_error(
        tmp_path: Path, client_dialect: str, upstream: str) -> None:
    async def check(stream: Callable[[], Awaitable[str]]) -> None:
        with pytest.raises(SDK_ERRORS, match="upstream stream ended before its terminator"):
            await stream()

    _scenario(tmp_path, client_dialect, upstream, UPSTREAMS[upstream][2]("Hel", "lo", fail="cut"), check, 502)


@pytest.mark.parametrize(("client_dialect", "upstream"), TRANSLATED)
def test_a_translated_event_that_is_not_json_ends_in_the_clients_error(
        tmp_path: Path, client_dialect: str, upstream: str) -> None:
    async def check(stream: Callable[[], Awaitable[str]]) -> None:
        with pytest.raises(SDK_ERRORS, match="upstream stream sent an event that is not JSON"):
            await stream()

    _scenario(tmp_path, client_dialect, upstream, UPSTREAMS[upstream][2]("Hel", "lo", fail="garbage"), check, 502)


@pytest.mark.parametrize("fail", ["empty", "junk"])
@pytest.mark.parametrize(("client_dialect", "upstream"), PAIRS)
def test_a_stream_that_ends_wrongly_before_any_byte_falls_back(
        tmp_path: Path, client_dialect: str, upstream: str, fail: str) -> None:
    fake, config, text = UPSTREAMS[upstream]

    async def scenario() -> None:
        async with fake() as up:
            providers = {"bad": config(up.url, "m"), "good": config(up.url, "m")}
            async with gateway(tmp_path, providers=providers,
                               models={"fast": {"targets": ["bad/m", "good/m"]}}) as (app, url):
                up.script(text("never", fail=fail), text("Hello", " again"))
                assert await CLIENTS[client_dialect](url, "fast") == "Hello again"
                assert await _rows(app, tmp_path) == [(200, "good/m")]

    run(scenario())


# Whole bodies cut short -------------------------------------------------------------------------


async def _whole(dialect: str, url: str, model: str) -> str:
    if dialect == "openai":
        answer = await client(url).chat.completions.create(model=model, messages=HI)
        return answer.choices[0].message.content or ""
    if dialect == "anthropic":
        message = await anthropic_client(url).messages.create(model=model, max_tokens=100, messages=HI)
        return "".join(b.text for b in message.content if b.type == "text")
    if dialect == "gemini":
        return (await gemini_client(url).aio.models.generate_content(model=model, contents="hi")).text or ""
    return (await client(url).responses.create(model=model, input="hi")).output_text


@pytest.mark.parametrize("fail", ["cut", "garbage"])
@pytest.mark.parametrize(("client_dialect", "upstream"), PAIRS)
def test_a_whole_body_cut_short_is_a_502_in_the_clients_dialect(
        tmp_path: Path, client_dialect: str, upstream: str, fail: str) -> None:
    """"cut" stops short of its Content-Length (the transport notices), "garbage" is a well-framed
    body that is not JSON; either way a 502, through pass-through and translation alike."""
    fake, config, text = UPSTREAMS[upstream]

    async def scenario() -> None:
        async with fake() as up, gateway(tmp_path, providers={"up": config(up.url, "m")}) as (app, url):
            up.script(text("Hello", fail=fail))
            with pytest.raises((openai.APIStatusError, anthropic.APIStatusError, errors.APIError)) as info:
                await _whole(client_dialect, url, "up/m")
            error = info.value
            assert (error.code if isinstance(error, errors.APIError) else error.status_code) == 502
            assert [status for status, _ in await _rows(app, tmp_path)] == [502]

    run(scenario())


def test_a_whole_body_that_is_not_json_falls_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up:
            providers = {"bad": provider(up.url, "m"), "good": provider(up.url, "m")}
            async with gateway(tmp_path, providers=providers,
                               models={"fast": {"targets": ["bad/m", "good/m"]}}) as (app, url):
                up.script(fo.text("never", fail="garbage"), fo.text("Fine."))
                assert await _whole("openai", url, "fast") == "Fine."
                assert await _rows(app, tmp_path) == [(200, "good/m")]

    run(scenario())


@pytest.mark.parametrize(("dialect", "path", "body", "marker", "status"), [
    ("openai", "/v1/chat/completions", {"messages": HI}, b'data: {"error"', 502),
    ("anthropic", "/v1/messages", {"messages": HI, "max_tokens": 10}, b"event: error", 529),
    ("gemini", "/v1beta/models/up/m:streamGenerateContent?alt=sse", {"contents": [{"parts": [{"text": "hi"}]}]},
     b'"error"', 502),
    ("responses", "/v1/responses", {"input": "hi"}, b"event: error", 502),
])
def test_a_pass_through_upstreams_own_error_reaches_the_client_once(
        tmp_path: Path, dialect: str, path: str, body: dict[str, Any], marker: bytes, status: int) -> None:
    """The upstream's in-stream error is its stream's end: the client gets it once, not followed by
    the gateway's own, and the ledger records the upstream's status."""
    fake, config, text = UPSTREAMS[dialect]

    async def scenario() -> None:
        async with fake() as up, gateway(tmp_path, providers={"up": config(up.url, "m")}) as (app, url):
            up.script(text("Hel", "lo", fail="error"))
            payload = body if dialect == "gemini" else {**body, "model": "up/m", "stream": True}
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.post(path, json=payload)
            assert response.status_code == 200 and response.content.count(marker) == 1
            assert b"before its terminator" not in response.content
            assert await _rows(app, tmp_path) == [(status, "up/m")]

    run(scenario())
