"""OpenAI's legacy Completions (`POST /v1/completions`) through the official `openai` SDK's
`client.completions.create`: passed as it came to an OpenAI-compatible upstream (fill-in-the-middle
`suffix`, `echo`, several prompts, streams with the usage chunk the gateway asked for stripped
again), and asked of Anthropic, Gemini and Responses upstreams as a chat turn, whose answers the SDK reads as
`text_completion` objects, whole and streamed; what a chat turn cannot carry is a 400 naming it."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_provider, client, gateway, gemini_provider, provider
from tests.support import async_test
from tests.test_background import rows_when


@async_test
async def test_an_openai_compatible_upstream_gets_the_body_as_it_came(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["base-x"]) as fake, gateway(tmp_path, providers={"up": provider(fake.url, "base-x")},
                                                          models={"coder": {"targets": ["up/base-x"]}}) as (app, url):
        sdk = client(url)
        fake.script(fo.text("    return a + b\n", usage=fo.Usage(prompt_tokens=9, completion_tokens=6)))
        filled = await sdk.completions.create(model="coder", prompt="def add(a, b):\n", suffix="\n\nprint(add(1, 2))",
                                              max_tokens=32, temperature=0)
        sent = fake.requests[-1]
        assert sent.path == "/v1/completions"
        assert sent.json == {"model": "base-x", "prompt": "def add(a, b):\n", "suffix": "\n\nprint(add(1, 2))",
                             "max_tokens": 32, "temperature": 0}
        assert filled.object == "text_completion" and filled.choices[0].text == "    return a + b\n"
        assert filled.model == "base-x" and filled.usage is not None and filled.usage.total_tokens == 15

        fake.script(fo.text(" there"))
        several = await sdk.completions.create(model="coder", prompt=["Hi", "Hello"], n=2, echo=True)
        assert [(c.index, c.text) for c in several.choices] == [(0, "Hi there"), (1, "Hi there"),
                                                                 (2, "Hello there"), (3, "Hello there")]

        fake.script(fo.text("Once", " upon", " a time"))
        stream = await sdk.completions.create(model="coder", prompt="Tell a story:", stream=True)
        chunks = [chunk async for chunk in stream]
        assert fake.requests[-1].json["stream_options"] == {"include_usage": True}  # for the ledger
        assert "".join(c.choices[0].text for c in chunks if c.choices) == "Once upon a time"
        assert chunks[-1].choices[0].finish_reason == "stop" and all(c.usage is None for c in chunks)

        fake.script(fo.text("Done"))
        stream = await sdk.completions.create(model="coder", prompt="Go", stream=True,
                                              stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
        assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15
        rows = await rows_when(app, tmp_path, lambda found: len(found) == 4)
        assert rows == [("completions", 200, 9, 6), ("completions", 200, 10, 5), ("completions", 200, 10, 5),
                        ("completions", 200, 10, 5)]  # the streams' usage too, asked for by the gateway


@async_test
async def test_anthropic_and_gemini_upstreams_are_asked_a_chat_turn(tmp_path: Path) -> None:
    async with fa.FakeAnthropic(["claude-x"]) as claude, fg.FakeGemini(["gemini-2.5-flash"]) as gemini, \
            fr.FakeResponses() as responses, gateway(
            tmp_path, providers={"an": anthropic_provider(claude.url, "claude-x"),
                                 "gm": gemini_provider(gemini.url, "gemini-2.5-flash"),
                                 "rs": provider(responses.url, "gpt-5", api="responses")}) as (_, url):
        sdk = client(url)
        claude.script(fa.text("Paris."))
        whole_prompt = "The capital of France is"
        whole = await sdk.completions.create(model="claude-x", prompt=whole_prompt, stop=["\n"])
        asked = claude.requests[-1].json
        assert asked["messages"] == [{"role": "user", "content": [{"type": "text", "text": whole_prompt}]}]
        assert asked["max_tokens"] == 16 and asked["stop_sequences"] == ["\n"]  # the legacy API's default length
        assert whole.object == "text_completion" and whole.choices[0].text == "Paris."
        assert whole.choices[0].finish_reason == "stop" and whole.usage is not None and whole.usage.total_tokens > 0

        claude.script(fa.text("Par", "is."))
        stream = await sdk.completions.create(model="claude-x", prompt="The capital of France is", max_tokens=5,
                                              stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
        assert claude.requests[-1].json["max_tokens"] == 5
        assert all(c.object == "text_completion" for c in chunks)
        assert "".join(c.choices[0].text for c in chunks if c.choices) == "Paris."
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage is not None

        gemini.script(fg.text("Rome."))
        answer = await sdk.completions.create(model="gemini-2.5-flash", prompt="The capital of Italy is")
        assert answer.choices[0].text == "Rome."
        assert gemini.requests[-1].json["contents"] == [{"role": "user",
                                                         "parts": [{"text": "The capital of Italy is"}]}]
        responses.script(fr.text("Madrid."))
        answer = await sdk.completions.create(model="gpt-5", prompt="The capital of Spain is", max_tokens=64)
        assert answer.choices[0].text == "Madrid." and responses.requests[-1].path == "/v1/responses"
        assert responses.requests[-1].json["max_output_tokens"] == 64

        for refused, param in (({"suffix": "end"}, "suffix"), ({"echo": True}, "echo"), ({"best_of": 3}, "best_of"),
                               ({"logprobs": 2}, "logprobs"), ({"prompt": ["a", "b"]}, "prompt"),
                               ({"prompt": [1, 2, 3]}, "prompt"), ({"max_tokens": 0}, "max_tokens")):
            asked_before = len(claude.requests)
            with pytest.raises(openai.BadRequestError) as bad:
                await sdk.completions.create(**{"model": "claude-x", "prompt": "Hi", **refused})  # type: ignore[call-overload]
            assert bad.value.param == param, refused
            assert len(claude.requests) == asked_before
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.completions.create(model="claude-x", prompt="Hi", max_tokens=-1)
        assert bad.value.param == "max_tokens"
