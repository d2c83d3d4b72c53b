"""Upstream answers of shapes their APIs never send: a value of the wrong type, a field gone, a
stream cut, reordered or repeated. Whatever an upstream answers, a valid request gets a 200 or a
502/503/504 in the client's dialect: never a 500, never a 4xx that blames the client, never an
error in the gateway's log; and a translated 200 is one the client's own SDK types accept.

The answers start as real ones, each upstream dialect's text and tool-call answers, whole and
streamed, taken from the test fakes; a replaying upstream serves them broken (seeded, so CI is
deterministic; INTERLINGUA_FUZZ_EXAMPLES draws that many fresh ones instead, for long runs, and
a failure names its seed, which INTERLINGUA_FUZZ_SEED replays).
A same-dialect answer is passed through as it came, so only the gateway's own reading of it (its
usage) is checked there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import anthropic
import anthropic.types as anthropic_types
import httpx
import openai
import orjson
import pytest
from aiohttp import web
from google.genai import errors as genai_errors
from google.genai import types as gemini_types
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from interlingua.adapters.dialects import sse
from interlingua.adapters.providers import transport
from interlingua.adapters.storage.ledger import totals
from interlingua.app.config import parse
from interlingua.app.factory import Gateway, create_app
from tests.asgi import Exchange, call
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.fuzz import LONG_RUN, error_shape_ok
from tests.harness import anthropic_client, client, gateway, gemini_client
from tests.support import serving

EXAMPLES = LONG_RUN or 300
REPLAYED = int(os.environ.get("INTERLINGUA_FUZZ_SEED") or 0)


def seeded(fixed: int) -> tuple[random.Random, int]:
    """A generator and its seed: `fixed` in the suite, a fresh one for a long run, the one
    INTERLINGUA_FUZZ_SEED names to replay a failure."""
    seed = REPLAYED or (random.SystemRandom().randrange(1, 2**32) if LONG_RUN else fixed)
    return random.Random(seed), seed
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}


class Answer(NamedTuple):
    kind: str  # the upstream dialect: chat, responses, anthropic, gemini
    stream: bool
    content_type: str
    body: bytes


# Real answers, from the fakes ---------------------------------------------------------------------


async def _taken(url: str, body: dict[str, Any]) -> tuple[str, bytes]:
    headers = {"authorization": "Bearer k", "x-api-key": "k", "x-goog-api-key": "k",
               "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient() as http:
        reply = await http.post(url, json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.headers["content-type"], reply.content


async def _answers() -> list[Answer]:
    """Each dialect's text answer (with its kinds of reasoning), a text that cites a page (Claude's,
    a Responses model's, Gemini's grounded one), Claude's search and fetch of pages, and an answer of
    two tool calls."""
    taken: list[Answer] = []

    async def take(kind: str, fake: Any, replies: list[Any], url: Callable[[bool], str],
                   body: Callable[[bool], dict[str, Any]]) -> None:
        for stream in (False, True):
            for reply in replies:
                fake.script(reply)
                taken.append(Answer(kind, stream, *await _taken(url(stream), body(stream))))

    async with fo.FakeOpenAI(["gpt-x"]) as chat:
        await take("chat", chat, [fo.text("Hel", "lo", reasoning=["Let me ", "think."]),
                                  fo.tool_calls(fo.call("weather", '{"ci', 'ty": "Oslo"}'),
                                                fo.call("weather", '{"city": "Rome"}'))],
                   lambda stream: chat.url + "/chat/completions",
                   lambda stream: {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], "stream": stream,
                                   **({"stream_options": {"include_usage": True}} if stream else {})})
    async with fr.FakeResponses() as responses:
        await take("responses", responses, [fr.reply(fr.reasoning("think"), fr.say("Hel", "lo")),
                                            fr.reply(fr.say("It is ", "wet.", annotations=(
                                                fr.url_citation("https://yr.no", "Yr", 6, 10),))),
                                            fr.function_calls(fr.call("weather", '{"ci', 'ty": "Oslo"}'),
                                                              fr.call("weather", '{"city": "Rome"}'))],
                   lambda stream: responses.url + "/responses",
                   lambda stream: {"model": "gpt-x", "input": "hi", "stream": stream})
    async with fa.FakeAnthropic(require_thinking_in_tool_turns=False) as claude:
        await take("anthropic", claude, [fa.reply(fa.thinking("hmm"), fa.redacted(), fa.say("Hel", "lo")),
                                         fa.reply(fa.say("It is "), fa.say("wet.", citations=(
                                             fa.cited("https://yr.no", "Yr", "Rain."),))),
                                         fa.reply(*fa.web_search("oslo", ("https://yr.no", "Yr")),
                                                  *fa.web_fetch("https://yr.no/oslo", "Rain.", "Oslo"),
                                                  fa.say("Wet.")),
                                         fa.tool_use(fa.call("weather", '{"ci', 'ty": "Oslo"}'),
                                                     fa.call("weather", '{"city": "Rome"}'))],
                   lambda stream: claude.url + "/v1/messages",
                   lambda stream: {"model": "claude-x", "max_tokens": 100, "stream": stream,
                                   "messages": [{"role": "user", "content": "hi"}]})
    async with fg.FakeGemini(require_thought_signatures=False) as gemini:
        await take("gemini", gemini, [fg.reply(fg.thought("hmm"), fg.say("Hel", "lo")),
                                      fg.reply(fg.say("It is ", "wet."), grounding={
                                          "webSearchQueries": ["weather"],
                                          "groundingChunks": [{"web": {"uri": "https://yr.no", "title": "Yr"}}],
                                          "groundingSupports": [{"segment": {"startIndex": 6, "endIndex": 10},
                                                                 "groundingChunkIndices": [0]}]}),
                                      fg.function_calls(fg.call("weather", {"city": "Oslo"}),
                                                        fg.call("weather", {"city": "Rome"}))],
                   lambda stream: gemini.url + "/v1beta/models/gemini-x:" + (
                       "streamGenerateContent?alt=sse" if stream else "generateContent"),
                   lambda stream: {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                   "generationConfig": {"thinkingConfig": {"includeThoughts": True}}})
    return taken


# Breaking them ------------------------------------------------------------------------------------

ODD_VALUES: list[Any] = [None, 0, -1, 1.5, 1e300, "", "x", True, [], {}, [1, "a"], {"a": 1}]


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield from _paths(inner, (*at, key))


def broken_json(value: Any, rnd: random.Random) -> Any:
    """`value` with one to three of its fields deleted or given an odd value."""
    value = copy.deepcopy(value)
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        paths = [p for p in _paths(value) if p]
        if not paths:
            return rnd.choice(ODD_VALUES)
        *parent_path, key = rnd.choice(paths)
        parent = value
        for step in parent_path:
            parent = parent[step]
        if rnd.random() < 0.4:
            del parent[key]
        else:
            parent[key] = copy.deepcopy(rnd.choice(ODD_VALUES))
    return value


def _frames(body: bytes) -> list[bytes]:
    return [frame for frame in body.split(b"\n\n") if frame.strip()]


def _broken_frame(frame: bytes, rnd: random.Random) -> bytes:
    lines = frame.split(b"\n")
    for i, line in enumerate(lines):
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        if rnd.random() < 0.15:
            lines[i] = line[:rnd.randrange(6, len(line) + 1)]
            continue
        try:
            lines[i] = b"data: " + orjson.dumps(broken_json(orjson.loads(line[6:]), rnd))
        except orjson.JSONDecodeError:  # cut by an earlier change
            pass
    return b"\n".join(lines)


def broken(answer: Answer, rnd: random.Random) -> bytes:
    """The answer's bytes, broken: a whole answer's JSON, or a stream's events (broken, dropped,
    repeated, swapped, or the stream cut after one)."""
    if not answer.stream:
        if rnd.random() < 0.05:
            return answer.body[:rnd.randrange(len(answer.body))]
        return orjson.dumps(broken_json(orjson.loads(answer.body), rnd))
    frames = _frames(answer.body)
    for _ in range(rnd.choice((1, 1, 2))):
        i, how = rnd.randrange(len(frames)), rnd.random()
        if how < 0.15:
            del frames[i]
        elif how < 0.2:
            frames.insert(i, frames[i])
        elif how < 0.25:
            frames = frames[:i + 1]
        elif how < 0.3 and i + 1 < len(frames):
            frames[i], frames[i + 1] = frames[i + 1], frames[i]
        else:
            frames[i] = _broken_frame(frames[i], rnd)
        if not frames:
            break
    return b"".join(frame + b"\n\n" for frame in frames)


# Asking ---------------------------------------------------------------------------------------------

MODELS = {"chat": "oa/gpt-x", "responses": "rs/gpt-x", "anthropic": "an/claude-x", "gemini": "gm/gemini-x"}
ERROR_SHAPE = {"chat": "openai", "responses": "openai", "anthropic": "anthropic", "gemini": "gemini"}


def question(client: str, model: str, stream: bool) -> tuple[str, dict[str, Any]]:
    """The client's request (path and body), with a tool the answers' calls name."""
    if client == "chat":
        return "/v1/chat/completions", {"model": model, "stream": stream,
                                        "messages": [{"role": "user", "content": "hi"}],
                                        "tools": [{"type": "function", "function": {"name": "weather",
                                                                                    "parameters": WEATHER}}]}
    if client == "responses":
        return "/v1/responses", {"model": model, "input": "hi", "stream": stream,  # stored, by default
                                 "tools": [{"type": "function", "name": "weather", "parameters": WEATHER}]}
    if client == "anthropic":
        return "/v1/messages", {"model": model, "max_tokens": 100, "stream": stream, "messages": [
            {"role": "user", "content": "hi"}], "tools": [{"name": "weather", "input_schema": WEATHER}]}
    method = "streamGenerateContent" if stream else "generateContent"
    return f"/v1beta/models/{model}:{method}", {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                                "tools": [{"functionDeclarations": [{"name": "weather",
                                                                                     "parameters": WEATHER}]}]}


# What the client's SDK reads ----------------------------------------------------------------------

_WHOLE: dict[str, type[BaseModel]] = {"chat": ChatCompletion, "responses": Response,
                                      "anthropic": anthropic_types.Message,
                                      "gemini": gemini_types.GenerateContentResponse}
_ANTHROPIC_EVENTS: dict[str, type[BaseModel]] = {
    "message_start": anthropic_types.RawMessageStartEvent, "message_delta": anthropic_types.RawMessageDeltaEvent,
    "message_stop": anthropic_types.RawMessageStopEvent,
    "content_block_start": anthropic_types.RawContentBlockStartEvent,
    "content_block_delta": anthropic_types.RawContentBlockDeltaEvent,
    "content_block_stop": anthropic_types.RawContentBlockStopEvent}
_RESPONSES_EVENT = TypeAdapter(ResponseStreamEvent)


def _stream_items(client: str, body: bytes) -> list[Any]:
    if client == "gemini" and body.lstrip().startswith(b"["):  # the streamed array, without alt=sse
        items: list[Any] = orjson.loads(body)
        return items
    return [orjson.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: ")
            and line != b"data: [DONE]"]


def read_by_sdk(client: str, stream: bool, body: bytes) -> None:
    """Raise unless each object of the answer is what the client's SDK types say (its error events,
    which the SDKs raise as errors, aside)."""
    if not stream:
        _WHOLE[client].model_validate(orjson.loads(body))
        return
    for item in _stream_items(client, body):
        if ("error" in item and client != "responses") or item.get("type") == "ping":
            continue
        if client == "chat":
            ChatCompletionChunk.model_validate(item)
        elif client == "responses":
            _RESPONSES_EVENT.validate_python(item)
        elif client == "anthropic":
            _ANTHROPIC_EVENTS[item["type"]].model_validate(item)
        else:
            gemini_types.GenerateContentResponse.model_validate(item)


# The rig ------------------------------------------------------------------------------------------


class Replay:
    """An upstream that answers every request with the same bytes, whatever was asked."""

    def __init__(self) -> None:
        self.content_type, self.body, self.status = "application/json", b"{}", 200
        self.headers: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=self.status, body=self.body,
                            headers={"content-type": self.content_type, **self.headers})

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        async with serving(app) as port:
            yield f"http://127.0.0.1:{port}"


def providers(url: str) -> dict[str, Any]:
    return {"oa": {"type": "openai", "url": url + "/v1", "key": "k", "models": ["gpt-x"]},
            "rs": {"type": "openai", "url": url + "/v1", "key": "k", "api": "responses"},
            "an": {"type": "anthropic", "url": url, "key": "k"},
            "gm": {"type": "gemini", "url": url, "key": "k"}}


class Errors(logging.Handler):
    """The gateway's error records (its loggers are all under `interlingua`)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


HEADERS = [(b"content-type", b"application/json"), (b"anthropic-version", b"2023-06-01")]


async def _ask(app: Gateway, client: str, kind: str, stream: bool, rnd: random.Random,
               previous: str | None = None) -> Exchange:
    path, body = question(client, MODELS[kind], stream)
    if previous is not None:
        body.update(previous_response_id=previous, input="and now?")
    sse = client == "gemini" and stream and rnd.random() < 0.5
    return await asyncio.wait_for(call(app, path=path, body=orjson.dumps(body), query=b"alt=sse" if sse else b"",
                                       headers=HEADERS), 10)


def _completed(exchange: Exchange, stream: bool) -> str | None:
    """The id of the Response a Responses client got whole, the one it would continue from (a
    broken one passed on as it came may have none)."""
    try:
        if stream:
            done = next(line for line in exchange.body.split(b"\n") if b'"response.completed"' in line)
            found = orjson.loads(done.removeprefix(b"data: "))["response"]["id"]
        else:
            found = exchange.json()["id"]
    except (StopIteration, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) and found else None


async def _continued(app: Gateway, replay: Replay, answer: Answer, previous: str, rnd: random.Random) -> str | None:
    """Continue the stored conversation, the upstream answering well now: a Response of the gateway's
    making continues; one passed on from the upstream as it came was the client's to read, and is
    not kept unless it has a Response's id and output list."""
    replay.body = answer.body
    for path in (f"/v1/responses/{previous}", f"/v1/responses/{previous}/input_items"):
        stored = await call(app, "GET", path, headers=HEADERS)
        if stored.status == 404 and answer.kind == "responses":
            return None
        if stored.status != 200:
            return f"GET {path}: {stored.status} {stored.body[:300]!r}"
    exchange = await _ask(app, "responses", answer.kind, answer.stream, rnd, previous)
    if exchange.status != 200 and (answer.kind != "responses" or exchange.status >= 500):
        return f"continued: {exchange.status} {exchange.body[:300]!r}"
    return None


def _problem(exchange: Exchange, client: str, answer: Answer, errors: Errors) -> str | None:
    if errors.records:
        return "logged: " + errors.format(errors.records[0])
    if exchange.status != 200:
        if exchange.status not in (502, 503, 504):
            return f"status {exchange.status}: {exchange.body[:300]!r}"
        return None if error_shape_ok(exchange, ERROR_SHAPE[client]) else f"error shape: {exchange.body[:300]!r}"
    if client != answer.kind:  # translated: the gateway wrote it
        try:
            read_by_sdk(client, answer.stream, exchange.body)
        except (ValueError, KeyError) as exc:
            return f"the client's SDK cannot read it: {str(exc)[:600]}"
    return None


@pytest.fixture(scope="module")
def answers() -> list[Answer]:
    return asyncio.run(_answers())


def test_the_real_answers_reach_every_client(tmp_path: Path, answers: list[Answer]) -> None:
    """Unbroken, every answer reaches every client as a 200 its SDK reads: the breaking starts from
    answers that work."""
    assert len(answers) == 24
    asyncio.run(_run(tmp_path, answers, breaking=False))


def test_broken_answers_are_502s_or_answers_the_client_reads(tmp_path: Path, answers: list[Answer]) -> None:
    asyncio.run(_run(tmp_path, answers, breaking=True))


async def _run(tmp_path: Path, answers: list[Answer], breaking: bool) -> None:
    replay = Replay()
    errors = Errors()
    logging.getLogger("interlingua").addHandler(errors)
    rnd, seed = seeded(20261207)
    try:
        async with replay.serving() as url:
            app = create_app(parse({"server": {"data_dir": str(tmp_path)}, "providers": providers(url)}, {},
                                   "answers"))
            try:
                cases = ([(rnd.choice(answers), rnd.choice(list(MODELS))) for _ in range(EXAMPLES)] if breaking
                         else [(a, c) for a in answers for c in MODELS])
                for answer, client in cases:
                    replay.content_type = answer.content_type
                    replay.body = broken(answer, rnd) if breaking else answer.body
                    errors.records.clear()
                    exchange = await _ask(app, client, answer.kind, answer.stream, rnd)
                    problem = _problem(exchange, client, answer, errors)
                    if not breaking and problem is None and exchange.status != 200:
                        problem = f"status {exchange.status}"
                    if problem is None and client == "responses" and exchange.status == 200 and (
                            previous := _completed(exchange, answer.stream)):
                        sent = replay.body
                        problem = await _continued(app, replay, answer, previous, rnd) or _problem(
                            exchange, client, answer, errors)
                        replay.body = sent
                    assert problem is None, (f"seed {seed}", answer.kind, answer.stream, client, replay.body[:800],
                                             problem)
            finally:
                await app.aclose()  # metrics take what the upstreams reported as usage here
    finally:
        logging.getLogger("interlingua").removeHandler(errors)


# What the gateway itself reads of an answer ---------------------------------------------------------

ODD_USAGE = {"prompt_tokens": "12", "completion_tokens": -3, "total_tokens": 1e300, "prompt_tokens_details": [4],
             "completion_tokens_details": {"reasoning_tokens": 2.5}}


def test_usage_an_upstream_gets_wrong_counts_as_unreported(tmp_path: Path) -> None:
    """Usage is metered, budgeted and exported: an upstream's strings, negatives and fractions there
    count as nothing, and the answer still reaches the client, passed on as it came or translated."""
    async def scenario() -> None:
        replay = Replay()
        replay.body = orjson.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-x",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
            "usage": ODD_USAGE})
        async with replay.serving() as up, gateway(tmp_path, providers=providers(up)) as (app, url):
            passed = await client(url).chat.completions.create(model="oa/gpt-x", messages=[{"role": "user",
                                                                                           "content": "hi"}])
            assert passed.choices[0].message.content == "Hi"
            assert passed.usage is not None and passed.usage.completion_tokens == -3  # as it came
            translated = await anthropic_client(url).messages.create(
                model="oa/gpt-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
            assert translated.content[0].type == "text" and translated.content[0].text == "Hi"
            assert (translated.usage.input_tokens, translated.usage.output_tokens) == (0, 0)
            async with httpx.AsyncClient() as http:
                scraped = await http.get(url + "/metrics")
            assert scraped.status_code == 200, scraped.text
            assert 'interlingua_requests_total{' in scraped.text
            app.ledger.flush()  # type: ignore[union-attr]
        rows = totals(tmp_path / "usage.sqlite3")
        assert [(r["requests"], r["input_tokens"], r["output_tokens"], r["cached_tokens"], r["reasoning_tokens"])
                for r in rows] == [(2, 0, 0, 0, 0)]

    asyncio.run(scenario())


@pytest.mark.parametrize(("answer", "counted"), [
    ({"totalTokens": 7, "input_tokens": 7}, 7),
    ({}, 0),  # proto3 JSON leaves a zero out
    ({"totalTokens": "7", "input_tokens": "7"}, None),
    ({"totalTokens": -1, "input_tokens": -1}, None),
    ([7], None),
])
def test_token_counts_of_another_shape_are_502s(tmp_path: Path, answer: Any, counted: int | None) -> None:
    """Gemini's `totalTokens` and Anthropic's `input_tokens`, as counting endpoints answer them."""
    async def scenario() -> None:
        replay = Replay()
        replay.body = orjson.dumps(answer)
        async with replay.serving() as up, gateway(tmp_path, providers=providers(up)) as (_, url):
            gemini = gemini_client(url).aio.models
            claude = anthropic_client(url).messages
            hi: list[Any] = [{"role": "user", "content": "hi"}]
            if counted is not None:
                assert (await gemini.count_tokens(model="gm/gemini-x", contents="hi")).total_tokens == counted
                assert (await claude.count_tokens(model="an/claude-x", messages=hi)).input_tokens == counted
                return
            with pytest.raises(genai_errors.ServerError) as caught:
                await gemini.count_tokens(model="gm/gemini-x", contents="hi")
            assert caught.value.code == 502
            assert "answered without a token count in `totalTokens`" in str(caught.value.message)
            with pytest.raises(anthropic.InternalServerError) as refused:
                await claude.count_tokens(model="an/claude-x", messages=hi)
            assert refused.value.status_code == 502

    asyncio.run(scenario())


@pytest.mark.parametrize("answer", [
    {"data": [{"index": 0, "embedding": [0.5, "0.5"]}]},
    {"data": [{"index": 0, "embedding": [0.5]}, {"index": 0, "embedding": [0.5]}]},  # an index twice
    {"data": [{"index": 0, "embedding": "AAAAAAA="}]},  # base64 of no whole float32
    {"data": [{"index": 0, "embedding": [0.5]}]},  # one vector for two inputs
    {"data": {"index": 0, "embedding": [0.5]}},
])
def test_embeddings_of_another_shape_are_502s(tmp_path: Path, answer: Any) -> None:
    """A client matches vectors to its inputs by position: a vector short, or one that is not
    numbers, is the upstream's failure, not an answer."""
    async def scenario() -> None:
        replay = Replay()
        replay.body = orjson.dumps(answer)
        async with replay.serving() as up, gateway(tmp_path, providers=providers(up)) as (_, url):
            with pytest.raises(openai.InternalServerError) as caught:
                await client(url).embeddings.create(model="oa/text-embedding-3-small", input=["a", "b"])
            assert caught.value.status_code == 502
            assert "upstream oa answered" in caught.value.message

    asyncio.run(scenario())


def test_embeddings_without_indexes_keep_their_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        replay = Replay()
        replay.body = orjson.dumps({"data": [{"embedding": [0.25, 0.5]}, {"embedding": "AACAPwAAAEA="}]})
        async with replay.serving() as up, gateway(tmp_path, providers=providers(up)) as (_, url):
            answer = await client(url).embeddings.create(model="oa/text-embedding-3-small", input=["a", "b"],
                                                         encoding_format="float")
            assert [d.embedding for d in answer.data] == [[0.25, 0.5], [1.0, 2.0]]

    asyncio.run(scenario())


@pytest.mark.parametrize(("kind", "answer"), [
    ("brave", {"web": {"results": [{"url": "https://a.example/", "title": "t", "description": "d",
                                    "extra_snippets": 5}]}}),
    ("tavily", {"results": [{"url": "https://a.example/", "title": 5, "content": ["x"]}]}),
    ("exa", {"results": [{"url": "https://a.example/", "title": {"a": 1}, "text": 7}]}),
    ("searxng", {"results": [{"url": "https://a.example/", "title": ["t"], "content": 3}]}),
])
def test_search_results_of_another_shape(tmp_path: Path, kind: str, answer: Any) -> None:
    """A search API's result with a title or snippet of another type is a 502 or a hit of strings."""
    async def scenario() -> None:
        replay = Replay()
        replay.body = orjson.dumps(answer)
        async with replay.serving() as up, gateway(tmp_path, providers={"web": {"type": kind, "url": up, "key": "k"}}
                                                    ) as (_, url), httpx.AsyncClient() as http:
            reply = await http.post(url + "/v1/search", json={"query": "python", "model": "web"})
        assert reply.status_code in (200, 502), reply.text
        if reply.status_code == 502:
            assert reply.json()["error"]["message"].startswith("upstream web answered")
        else:
            assert all(isinstance(hit[field], str) for hit in reply.json() for field in ("source", "title", "content"))

    asyncio.run(scenario())


BOUND = 64 * 1024


def _completion(text: str) -> bytes:
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-x",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}]})


def _streamed(text: str) -> bytes:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-x"}
    return b"".join(b"data: " + orjson.dumps({**chunk, "choices": [choice]}) + b"\n\n" for choice in (
        {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None},
        {"index": 0, "delta": {}, "finish_reason": "stop"})) + b"data: [DONE]\n\n"


@pytest.mark.parametrize("translated", [False, True], ids=["passed through", "translated"])
def test_answers_past_the_bound_are_502s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, translated: bool) -> None:
    """A whole answer is bounded as it is decompressed (gzip makes kilobytes gigabytes), a stream by
    its events: the gateway holds neither past the bound, however the upstream sends them."""
    monkeypatch.setattr(transport, "MAX_ANSWER_BYTES", BOUND)
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", BOUND)

    async def scenario() -> None:
        replay = Replay()
        hi: list[Any] = [{"role": "user", "content": "hi"}]
        async with replay.serving() as up, gateway(tmp_path, providers=providers(up)) as (_, url):
            sdk, claude = client(url), anthropic_client(url)  # the upstream speaks Chat
            for size, fits in ((BOUND // 2, True), (BOUND * 2, False)):
                replay.headers = {"content-encoding": "gzip"}
                replay.body = gzip.compress(_completion("x" * size))
                replay.content_type = "application/json"
                if translated:
                    ask: Any = claude.messages.create(model="oa/gpt-x", max_tokens=10, messages=hi)
                else:
                    ask = sdk.chat.completions.create(model="oa/gpt-x", messages=hi)
                if fits:
                    await ask
                else:
                    with pytest.raises((openai.InternalServerError, anthropic.InternalServerError),
                                       match="answered more than 0.0625 MB"):
                        await ask
                replay.headers, replay.body = {}, _streamed("y" * size)
                replay.content_type = "text/event-stream"
                try:
                    if translated:
                        async with claude.messages.stream(model="oa/gpt-x", max_tokens=10, messages=hi) as stream:
                            got = await stream.get_final_text()
                    else:
                        got = "".join([c.choices[0].delta.content or "" async for c in
                                       await sdk.chat.completions.create(model="oa/gpt-x", messages=hi, stream=True)
                                       if c.choices])
                    assert fits and got == "y" * size
                except (openai.APIError, anthropic.APIError) as error:
                    assert not fits and "an event of more than 0.0625 MB" in str(error), error

    asyncio.run(scenario())


def _chat_stream(deltas: list[dict[str, Any]], finish: str = "tool_calls") -> bytes:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-x"}
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _call(index: int | None, call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    call: dict[str, Any] = {"function": {"arguments": arguments, **({"name": name} if name else {})}}
    if call_id is not None:
        call.update(id=call_id, type="function")
    return {"tool_calls": [{**({"index": index} if index is not None else {}), **call}]}


def test_calls_an_openai_compatible_server_streams_unnumbered_stay_apart(tmp_path: Path) -> None:
    """Tool calls streamed whole, each with its id but no `index` (some OpenAI-compatible servers):
    an Anthropic client gets two tool_use blocks, not one holding both calls' arguments."""
    async def scenario() -> None:
        replay = Replay()
        replay.content_type = "text/event-stream"
        replay.body = _chat_stream([_call(None, "call_a", "weather", '{"city": "Oslo"}'),
                                    _call(None, "call_b", "weather", '{"city": "Rome"}')])
        async with replay.serving() as up, gateway(tmp_path, providers=providers(up)) as (_, url):
            async with anthropic_client(url).messages.stream(
                    model="oa/gpt-x", max_tokens=100, messages=[{"role": "user", "content": "weather?"}],
                    tools=[{"name": "weather", "input_schema": WEATHER}]) as stream:
                message = await stream.get_final_message()
        calls = [(b.id, b.input) for b in message.content if b.type == "tool_use"]
        assert calls == [("call_a", {"city": "Oslo"}), ("call_b", {"city": "Rome"})]
        assert message.stop_reason == "tool_use"

    asyncio.run(scenario())


def test_interleaved_calls_reach_a_client_that_can_take_them(tmp_path: Path) -> None:
    """Chat lets a server interleave two calls' deltas by index. A Chat client gets them as they
    came; an Anthropic or Gemini client, whose stream takes one call after another, gets an error,
    not a call without a name."""
    async def scenario() -> None:
        replay = Replay()
        replay.content_type = "text/event-stream"
        replay.body = _chat_stream([_call(0, "call_a", "weather", '{"ci'), _call(1, "call_b", "weather", '{"city"'),
                                    _call(0, None, None, 'ty": "Oslo"}'), _call(1, None, None, ': "Rome"}')])
        hi: list[Any] = [{"role": "user", "content": "weather?"}]
        async with replay.serving() as up, gateway(tmp_path, providers=providers(up)) as (_, url):
            chunks = await client(url).chat.completions.create(model="oa/gpt-x", messages=hi, stream=True)
            arguments = {0: "", 1: ""}
            async for chunk in chunks:
                for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                    arguments[call.index] += call.function.arguments if call.function else ""
            assert arguments == {0: '{"city": "Oslo"}', 1: '{"city": "Rome"}'}
            config = gemini_types.GenerateContentConfig(tools=[gemini_types.Tool(function_declarations=[
                gemini_types.FunctionDeclaration(name="weather", parameters_json_schema=WEATHER)])])
            with pytest.raises(genai_errors.APIError, match="interleaved the deltas of its tool calls"):
                async for _ in await gemini_client(url).aio.models.generate_content_stream(
                        model="oa/gpt-x", contents="weather?", config=config):
                    pass
            with pytest.raises(anthropic.APIStatusError, match="interleaved the deltas of its tool calls"):
                async with anthropic_client(url).messages.stream(
                        model="oa/gpt-x", max_tokens=100, messages=hi,
                        tools=[{"name": "weather", "input_schema": WEATHER}]) as stream:
                    await stream.get_final_message()

    asyncio.run(scenario())


# Each upstream dialect's error body, as its API's reference gives it.
UPSTREAM_ERRORS: dict[str, Any] = {
    "chat": {"error": {"message": "Rate limit reached", "type": "requests", "param": None,
                       "code": "rate_limit_exceeded"}},
    "responses": {"error": {"message": "Invalid value", "type": "invalid_request_error", "param": "input",
                            "code": "invalid_value"}},
    "anthropic": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                  "request_id": "req_1"},
    "gemini": {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}},
}


def test_broken_error_answers_are_errors_in_the_clients_shape(tmp_path: Path) -> None:
    """An upstream's error answer, its body broken or not JSON, its status any, its Retry-After odd:
    the client gets an error status of its dialect's (never a 500, never a status that is no
    error) in its dialect's shape, with headers a server can send."""
    async def scenario() -> None:
        replay = Replay()
        rnd, seed = seeded(7)
        async with replay.serving() as url:
            app = create_app(parse({"server": {"data_dir": str(tmp_path)}, "providers": providers(url)}, {}, "errors"))
            try:
                for _ in range(LONG_RUN or 200):
                    kind, client = rnd.choice(list(UPSTREAM_ERRORS)), rnd.choice(list(MODELS))
                    replay.status = rnd.choice([400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 529, 599])
                    replay.body = (orjson.dumps(broken_json(UPSTREAM_ERRORS[kind], rnd)) if rnd.random() < 0.8
                                   else rnd.choice([b"", b"<html>", b"null", b"[]", b'"x"']))
                    replay.headers = {"retry-after": rnd.choice(["1", "-5", "abc", "1e308", "99999999999",
                                                                 "Wed, 21 Oct 2015 07:28:00 GMT"])}
                    if rnd.random() < 0.5:  # OpenAI's and Azure's, read first
                        replay.headers["retry-after-ms"] = rnd.choice(["1500", "0", "-1", "abc", "1e400", "nan", ""])
                    exchange = await _ask(app, client, kind, rnd.random() < 0.5, rnd)
                    assert 400 <= exchange.status < 600 and exchange.status != 500, (
                        f"seed {seed}", exchange.status, replay.body)
                    assert error_shape_ok(exchange, ERROR_SHAPE[client]), (f"seed {seed}", exchange.body)
                    assert all(v.isascii() and b"\n" not in v for v in exchange.headers.values()), (
                        f"seed {seed}", exchange.headers)
            finally:
                await app.aclose()

    asyncio.run(scenario())
