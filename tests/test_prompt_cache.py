"""Prompt caching on Claude for clients of other dialects: the gateway asks Anthropic for its
automatic caching (a top-level `cache_control`), as OpenAI and Gemini cache by themselves, and each
client reads the cache hit in its own usage fields; the ledger counts it. The fake Anthropic
upstream caches as the API does (`PromptCache`). An Anthropic client's body passes as it came, and
`drop = ["cache_control"]` turns the caching off."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import openai
import pytest
from google.genai import types

from tests.fakes import anthropic_upstream as fa
from tests.harness import anthropic_client, anthropic_provider, client, gateway, gemini_client
from tests.support import async_test

RULES = " ".join(f"Rule {n}: answer in plain words and keep every number exact." for n in range(120))  # ~2k tokens


def _cached_rows(app: Any, data_dir: Path) -> list[tuple[int, int]]:
    app.ledger.flush()
    with sqlite3.connect(data_dir / "usage.sqlite3") as db:
        return db.execute("SELECT input_tokens, cached_tokens FROM usage ORDER BY id").fetchall()


@async_test
async def test_every_dialect_reads_claudes_cache_hits(tmp_path: Path) -> None:
    async with fa.FakeAnthropic(["claude-x"], caching=True) as fake, gateway(
            tmp_path, providers={"an": anthropic_provider(fake.url, "claude-x")}) as (app, url):
        sdk = client(url)
        first = await sdk.responses.create(model="claude-x", instructions=RULES, input="What is 2 + 2?")
        assert fake.requests[-1].json["cache_control"] == {"type": "ephemeral"}
        assert first.usage is not None and first.usage.input_tokens_details.cached_tokens == 0
        assert first.usage.input_tokens_details.cache_write_tokens == first.usage.input_tokens  # written whole
        second = await sdk.responses.create(model="claude-x", instructions=RULES, input="And 3 + 3?",
                                            previous_response_id=first.id)  # instructions are not carried over
        assert second.usage is not None
        cached = second.usage.input_tokens_details.cached_tokens
        assert cached >= fa.CACHE_MIN_TOKENS and second.usage.input_tokens > cached  # the new turn is not cached

        messages: Any = [{"role": "system", "content": RULES}, {"role": "user", "content": "What is 2 + 2?"}]
        chat = [await sdk.chat.completions.create(model="claude-x", messages=messages) for _ in range(2)]
        assert chat[0].usage is not None and chat[1].usage is not None
        details = chat[1].usage.prompt_tokens_details
        assert details is not None and details.cached_tokens == chat[1].usage.prompt_tokens  # the whole prompt again

        gemini = gemini_client(url)
        config = types.GenerateContentConfig(system_instruction=RULES)
        answers = [await gemini.aio.models.generate_content(model="claude-x", contents="What is 2 + 2?",
                                                            config=config) for _ in range(2)]
        usage = answers[1].usage_metadata
        assert usage is not None and usage.cached_content_token_count == usage.prompt_token_count

        first_chat, first_gemini = chat[0].usage.prompt_tokens_details, answers[0].usage_metadata
        assert first_chat is not None and first_gemini is not None
        read = [0, cached, first_chat.cached_tokens, details.cached_tokens, first_gemini.cached_content_token_count,
                usage.cached_content_token_count]
        assert all(read[1:])  # one account's cache: the chat client's first request hits what the first wrote
        assert [cached for _, cached in _cached_rows(app, tmp_path)] == read


@async_test
async def test_an_anthropic_client_chooses_and_an_operator_may_opt_out(tmp_path: Path) -> None:
    async with fa.FakeAnthropic(["claude-x"], caching=True) as fake:
        async with gateway(tmp_path, providers={"an": anthropic_provider(fake.url, "claude-x")}) as (_, url):
            claude = anthropic_client(url)
            await claude.messages.create(model="claude-x", max_tokens=100, system=RULES,
                                         messages=[{"role": "user", "content": "Hi"}])
            assert "cache_control" not in fake.requests[-1].json  # its own body, as it came
        provider = anthropic_provider(fake.url, "claude-x", drop=["cache_control"])
        async with gateway(tmp_path / "off", providers={"an": provider}) as (_, url):
            messages: Any = [{"role": "system", "content": RULES}, {"role": "user", "content": "Hi"}]
            for _ in range(2):
                answer = await client(url).chat.completions.create(model="claude-x", messages=messages)
                assert "cache_control" not in fake.requests[-1].json
                assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
                assert answer.usage.prompt_tokens_details.cached_tokens == 0


def _marks(body: dict[str, Any]) -> list[Any]:
    blocks = [*(body.get("system") or []), *(b for m in body["messages"] for b in m["content"])]
    return [block.get("cache_control") for block in blocks]


@async_test
async def test_a_clients_own_breakpoints_and_lifetimes_reach_claude(tmp_path: Path) -> None:
    async with fa.FakeAnthropic(["claude-x"], caching=True) as fake, gateway(
            tmp_path, providers={"an": anthropic_provider(fake.url, "claude-x")}) as (_, url):
        sdk = client(url)
        mark = {"mode": "explicit"}
        parts = [{"type": "text", "text": f"{RULES} Part {n}.", "prompt_cache_breakpoint": mark} for n in range(4)]
        messages: Any = [{"role": "system", "content": [{"type": "text", "text": "Be exact.",
                                                          "prompt_cache_breakpoint": mark}]},
                         {"role": "user", "content": [*parts, {"type": "text", "text": "Sum it up."}]}]
        explicit = {"prompt_cache_options": {"mode": "explicit"}}
        first = await sdk.chat.completions.create(model="claude-x", messages=messages, extra_body=explicit)
        sent = fake.requests[-1].json
        five = {"type": "ephemeral"}
        assert "cache_control" not in sent and _marks(sent) == [None, five, five, five, five, None]  # the last 4
        again = await sdk.chat.completions.create(model="claude-x", messages=messages, extra_body=explicit)
        assert first.usage is not None and again.usage is not None and again.usage.prompt_tokens_details is not None
        assert again.usage.prompt_tokens_details.cached_tokens > fa.CACHE_MIN_TOKENS  # read to the last mark

        await sdk.chat.completions.create(model="claude-x", messages=messages)  # implicit: 3 marks and the automatic
        sent = fake.requests[-1].json
        assert sent["cache_control"] == five and _marks(sent) == [None, None, five, five, five, None]

        hour = {"type": "ephemeral", "ttl": "1h"}
        await sdk.chat.completions.create(model="claude-x", messages=messages,
                                          extra_body={"prompt_cache_options": {"ttl": "30m"}})
        sent = fake.requests[-1].json
        assert sent["cache_control"] == hour and _marks(sent) == [None, None, hour, hour, hour, None]

        await sdk.responses.create(model="claude-x", extra_body=explicit, input=[{"role": "user", "content": [
            {"type": "input_text", "text": RULES, "prompt_cache_breakpoint": {"mode": "explicit", "ttl": "12h"}},
            {"type": "input_text", "text": "Which rule is first?"}]}])
        sent = fake.requests[-1].json
        assert "cache_control" not in sent and _marks(sent) == [hour, None]
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.responses.create(model="claude-x", input=[{"role": "user", "content": [
                {"type": "input_text", "text": "x", "prompt_cache_breakpoint": {"mode": "sometimes"}}]}])
        assert refused.value.body["param"] == "input[0].content[0].prompt_cache_breakpoint.mode"  # type: ignore[index]
