"""OpenAI moderations (`/v1/moderations`) through the gateway, read by the official `openai` SDK:
passed to an OpenAI upstream with only the model changed, every input form, the default model,
the ledger's row, and errors in OpenAI's shape for what no upstream of another kind can answer."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.fakes import openai_upstream as fo
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.harness import anthropic_provider, client, gateway, provider
from tests.support import async_test
from tests.test_background import rows_when

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
       "RU5ErkJggg==")


@async_test
async def test_moderations_pass_to_an_openai_upstream(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x", "omni-moderation-latest"]) as fake, gateway(
            tmp_path, providers={"oa": provider(fake.url, "gpt-x", "omni-moderation-latest")},
            models={"mod": {"targets": ["oa/text-moderation-latest"]}}) as (app, url):
        sdk = client(url)
        one = await sdk.moderations.create(input="I will hurt you")  # no model: the API's default
        assert one.id.startswith("modr-") and one.model == "omni-moderation-2024-09-26"
        result = one.results[0]
        assert result.flagged and result.categories.violence and not result.categories.hate
        assert result.category_scores.violence == 0.91 and result.category_applied_input_types.violence == [
            "text", "image"]
        assert fake.requests[-1].json == {"input": "I will hurt you", "model": "omni-moderation-latest"}

        many = await sdk.moderations.create(model="mod", input=["A kind word.", "You idiot"])
        assert [r.flagged for r in many.results] == [False, True] and many.results[1].categories.harassment
        assert fake.requests[-1].json["model"] == "text-moderation-latest"  # the alias's target, nothing else changed

        parts = await sdk.moderations.create(model="oa/omni-moderation-latest", input=[
            {"type": "text", "text": "How to steal a car"}, {"type": "image_url", "image_url": {"url": PNG}}])
        assert len(parts.results) == 1 and parts.results[0].categories.illicit
        assert fake.requests[-1].json["input"][1]["image_url"]["url"] == PNG

        rows = await rows_when(app, tmp_path, lambda rows: len(rows) == 3)
        assert [row[:2] for row in rows] == [("moderations", 200)] * 3


@async_test
async def test_bad_moderations_are_refused_in_openais_shape(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["omni-moderation-latest"]) as fake, FakeAnthropic(["claude-x"]) as claude, gateway(
            tmp_path, providers={"oa": provider(fake.url, "omni-moderation-latest"),
                                 "an": anthropic_provider(claude.url, "claude-x")}) as (_, url):
        sdk = client(url)
        cases = [({"input": None}, "input"), ({"input": 7}, "input"), ({"input": [{"type": "audio"}]}, "input[0].type"),
                 ({"input": [{"type": "text"}]}, "input[0].text"),
                 ({"input": [{"type": "text", "text": "a"}, "b"]}, "input[1]"), ({"input": ["a", {}]}, "input[1]"),
                 ({"input": [{"type": "image_url", "image_url": {}}]}, "input[0].image_url.url")]
        for body, param in cases:
            with pytest.raises(openai.BadRequestError) as refused:
                await sdk.moderations.create(input="x", extra_body=body)
            assert refused.value.body["param"] == param, body  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as chat_model:
            await sdk.moderations.create(model="claude-x", input="hello")
        assert chat_model.value.code == "model_not_capable"
        with pytest.raises(openai.NotFoundError):
            await sdk.moderations.create(model="no-such-model", input="hello")
        assert not fake.requests  # none of these reached the upstream
        fake.script(fo.error(429, "Rate limit reached", type="requests", headers={"retry-after": "2"}))
        with pytest.raises(openai.RateLimitError) as limited:
            await sdk.moderations.create(input="hello")
        assert limited.value.response.headers["retry-after"] == "2" and "Rate limit reached" in limited.value.message
