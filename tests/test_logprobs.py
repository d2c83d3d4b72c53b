"""Log probabilities across the three dialects that have them, read by each official SDK: a Chat
client on a Gemini model, a Responses client on a Chat model, a Gemini client on a Responses model,
whole and streamed; the upstream asked in its own words. Anthropic's API has none: asked of
Claude, they are a 400 naming the client's field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from google.genai import types

from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_provider, client, gateway, gemini_client, gemini_provider, provider
from tests.support import async_test

PIECES = ("Sun", "ny", " day")  # each fake answers a piece as one token, `alt1` below it


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_chat_client_reads_a_gemini_models_logprobs(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fg.FakeGemini(["gemini-x"]) as up, gateway(
                tmp_path, providers={"gm": gemini_provider(up.url, "gemini-x")}) as (_, url):
            up.script(fg.text(*PIECES))
            asked: dict[str, Any] = {"model": "gemini-x", "messages": [{"role": "user", "content": "Weather?"}],
                                     "logprobs": True, "top_logprobs": 2}
            if stream:
                chunks = [c async for c in await client(url).chat.completions.create(**asked, stream=True)]
                tokens = [t for c in chunks if c.choices and c.choices[0].logprobs
                          for t in c.choices[0].logprobs.content or ()]
                assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].logprobs] == list(
                    PIECES)  # each chunk's own tokens
            else:
                answer = await client(url).chat.completions.create(**asked)
                assert answer.choices[0].logprobs is not None
                tokens = answer.choices[0].logprobs.content or []
                assert answer.choices[0].logprobs.refusal is None
            assert [t.token for t in tokens] == list(PIECES)
            assert [t.logprob for t in tokens] == [-0.25] * 3
            assert tokens[1].bytes == list(b"ny")  # Gemini gives none: the token's UTF-8
            assert [(top.token, top.logprob) for top in tokens[0].top_logprobs] == [("Sun", -0.25), ("alt1", -0.5)]
            config = up.requests[-1].json["generationConfig"]
            assert (config["responseLogprobs"], config["logprobs"]) == (True, 2)

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_responses_client_reads_a_chat_models_logprobs(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")},
                                                           models={"chat": {"targets": ["oa/gpt-x"]}}) as (_, url):
            up.script(fo.text(*PIECES))
            asked: dict[str, Any] = {"model": "chat", "input": "Weather?", "top_logprobs": 2,
                                     "include": ["message.output_text.logprobs"]}
            sdk = client(url)
            if stream:
                deltas = []
                async with sdk.responses.stream(**asked) as events:
                    async for event in events:
                        if event.type == "response.output_text.delta":
                            deltas.append([(t.token, [top.token for top in t.top_logprobs or ()])
                                           for t in event.logprobs])
                    answer = await events.get_final_response()
                assert deltas == [[(p, [p, "alt1"])] for p in PIECES]
            else:
                answer = await sdk.responses.create(**asked)
            part = answer.output[0].content[0]  # type: ignore[union-attr]
            assert part.type == "output_text" and part.text == "Sunny day"
            assert [(t.token, t.logprob, t.bytes) for t in part.logprobs or ()] == [
                (p, -0.1, list(p.encode())) for p in PIECES]
            assert [top.token for top in (part.logprobs or [])[2].top_logprobs] == [" day", "alt1"]
            sent = up.requests[-1].json
            assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)

            # without `include`, none are asked for, and the part has none (as OpenAI answers)
            up.script(fo.text(*PIECES))
            plain = await sdk.responses.create(model="chat", input="Weather?", top_logprobs=2)
            assert plain.output[0].content[0].logprobs == []  # type: ignore[union-attr]
            assert "logprobs" not in up.requests[-1].json and "top_logprobs" not in up.requests[-1].json

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_gemini_client_reads_a_responses_models_logprobs(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(tmp_path, providers={
                "rs": provider(up.url, "rs-x", api="responses")}) as (_, url):
            up.script(fr.text(*PIECES))
            sdk = gemini_client(url).aio.models
            config = types.GenerateContentConfig(response_logprobs=True, logprobs=2)
            if stream:
                chunks = [c async for c in await sdk.generate_content_stream(
                    model="rs-x", contents="Weather?", config=config)]
                results = [c.candidates[0].logprobs_result for c in chunks
                           if c.candidates and c.candidates[0].logprobs_result]
                chosen = [t for r in results for t in r.chosen_candidates or ()]
                tops = [t for r in results for t in r.top_candidates or ()]
            else:
                answer = await sdk.generate_content(model="rs-x", contents="Weather?", config=config)
                candidate = (answer.candidates or [])[0]
                assert candidate.logprobs_result is not None and candidate.avg_logprobs == -0.5
                chosen = candidate.logprobs_result.chosen_candidates or []
                tops = candidate.logprobs_result.top_candidates or []
            assert [(t.token, t.log_probability) for t in chosen] == [(p, -0.5) for p in PIECES]
            assert [[c.token for c in top.candidates or ()] for top in tops] == [[p, "alt1"] for p in PIECES]
            sent = up.requests[-1].json
            assert "message.output_text.logprobs" in sent["include"] and sent["top_logprobs"] == 2

    scenario()


@async_test
async def test_claude_has_no_logprobs(tmp_path: Path) -> None:
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={"an": anthropic_provider(up.url, "claude-x")}
                                                 ) as (_, url):
        sdk = client(url)
        with pytest.raises(openai.BadRequestError, match="logprobs") as refused:
            await sdk.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "Hi"}],
                                              logprobs=True)
        assert refused.value.param == "logprobs" and "Anthropic upstream" in refused.value.message
        with pytest.raises(openai.BadRequestError, match="include") as refused:
            await sdk.responses.create(model="claude-x", input="Hi", include=["message.output_text.logprobs"])
        assert refused.value.param == "include"
        assert up.requests == []


def test_the_words_of_each_dialect_round_trip() -> None:
    from interlingua.adapters import ir
    from interlingua.adapters.dialects import logprobs

    gemini = {"topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1},
                                                {"token": "Hey", "logProbability": -2.0}]},
                                {"candidates": [{"token": "!", "logProbability": -0.3}]}],
              "chosenCandidates": [{"token": "Hi", "logProbability": -0.1, "tokenId": 7},
                                   {"token": "!", "logProbability": -0.3}],
              "logProbabilitySum": -0.4}
    tokens = logprobs.from_gemini(gemini)
    assert tokens == [ir.TokenLogprob("Hi", -0.1, [ir.TokenLogprob("Hi", -0.1), ir.TokenLogprob("Hey", -2.0)]),
                      ir.TokenLogprob("!", -0.3, [ir.TokenLogprob("!", -0.3)])]
    assert logprobs.to_gemini(tokens) == {**gemini, "chosenCandidates": [
        {"token": "Hi", "logProbability": -0.1}, {"token": "!", "logProbability": -0.3}]}  # no token ids
    assert logprobs.from_openai(logprobs.to_openai(tokens)) == [
        ir.TokenLogprob("Hi", -0.1, [ir.TokenLogprob("Hi", -0.1, [], [72, 105]),
                                     ir.TokenLogprob("Hey", -2.0, [], [72, 101, 121])], [72, 105]),
        ir.TokenLogprob("!", -0.3, [ir.TokenLogprob("!", -0.3, [], [33])], [33])]
    assert logprobs.from_gemini({"chosenCandidates": "?"}) is None and logprobs.from_openai(None) is None

    # text told in parts (a Responses answer's output_text parts), and text cut at a stop sequence
    words = [ir.TokenLogprob(t, -1.0) for t in ("One", " two", ".", " Three")]
    assert [[t.token for t in share] for share in logprobs.split(words, ["One two.", " Three"])] == [
        ["One", " two", "."], [" Three"]]
    assert [t.token for t in logprobs.cut(words, 4) or ()] == ["One", " two"]  # " two" starts within them
    assert logprobs.cut(None, 4) is None
