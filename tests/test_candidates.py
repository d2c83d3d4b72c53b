"""Several choices from an upstream that answers one at a time: Chat's `n` and Gemini's
`candidateCount` on Claude and on a Responses model, asked as that many requests at once, read by
the official SDKs whole and streamed, with the usage of every request."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import openai
import pytest
from google.genai import types

from tests.fakes import anthropic_upstream as fa
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_provider, client, gateway, gemini_client, provider
from tests.support import async_test

ANSWERS = ["Red.", "Blue.", "Green."]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_chat_client_asks_claude_for_three_choices(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
                "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
            up.script(*(fa.text(answer[:2], answer[2:]) for answer in ANSWERS))
            asked: dict[str, Any] = {"model": "claude-x", "n": 3,
                                     "messages": [{"role": "user", "content": "A colour?"}]}
            if stream:
                texts: dict[int, str] = defaultdict(str)
                finishes, usage = {}, None
                async for chunk in await client(url).chat.completions.create(
                        **asked, stream=True, stream_options={"include_usage": True}):
                    for choice in chunk.choices:
                        texts[choice.index] += choice.delta.content or ""
                        if choice.finish_reason:
                            finishes[choice.index] = choice.finish_reason
                    usage = chunk.usage or usage
                assert sorted(texts) == [0, 1, 2] and finishes == {0: "stop", 1: "stop", 2: "stop"}
                got = list(texts.values())
            else:
                answer = await client(url).chat.completions.create(**asked)
                assert [c.index for c in answer.choices] == [0, 1, 2]
                assert {c.finish_reason for c in answer.choices} == {"stop"}
                got = [c.message.content or "" for c in answer.choices]
                usage = answer.usage
            assert sorted(got) == sorted(ANSWERS)  # each request's answer one choice, in the order they came
            assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (30, 15)  # three requests'
            sent = [r.json for r in up.requests[-3:]]
            assert sent[0] == sent[1] == sent[2] and "A colour?" in str(sent[0]["messages"])  # one request, thrice
            assert not {"n", "candidateCount"} & set(sent[0])

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_gemini_client_asks_a_responses_model_for_two_candidates(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(tmp_path, providers={
                "rs": provider(up.url, "rs-x", api="responses")}) as (_, url):
            up.script(fr.text("Red."), fr.text("Blue."))
            models = gemini_client(url).aio.models
            config = types.GenerateContentConfig(candidate_count=2)
            texts: dict[int, str] = defaultdict(str)
            if stream:
                answers = [chunk async for chunk in await models.generate_content_stream(
                    model="rs-x", contents="A colour?", config=config)]
            else:
                answers = [await models.generate_content(model="rs-x", contents="A colour?", config=config)]
            for answer in answers:
                for candidate in answer.candidates or ():
                    parts = candidate.content.parts or [] if candidate.content else []
                    texts[candidate.index or 0] += "".join(p.text or "" for p in parts)
            usage = answers[-1].usage_metadata
            assert usage is not None and (usage.prompt_token_count, usage.candidates_token_count) == (20, 10)
            assert sorted(texts) == [0, 1] and sorted(texts.values()) == ["Blue.", "Red."]
            assert len(up.requests) == 2

    scenario()


@async_test
async def test_too_many_choices_and_a_failed_one(tmp_path: Path) -> None:
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        sdk = client(url)
        with pytest.raises(openai.BadRequestError, match="at most 8") as refused:
            await sdk.chat.completions.create(model="claude-x", n=9, messages=[{"role": "user", "content": "Hi"}])
        assert refused.value.param == "n" and up.requests == []

        up.script(fa.text("One."), fa.error(529, "Overloaded"), fa.text("Three."))
        with pytest.raises(openai.APIStatusError) as failed:
            await sdk.chat.completions.create(model="claude-x", n=3, messages=[{"role": "user", "content": "Hi"}])
        assert failed.value.status_code == 503 and "Overloaded" in failed.value.message  # Chat's word for a 529
