"""Parameters an upstream cannot take: refused with a 400 naming the field, or emulated; `drop` obeyed.

Every test goes through real sockets, the official SDK as the client and a fake upstream, since
what matters is what the client finally sees (text cut, stop reason, error naming its field) and
what the upstream was sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from tests.asgi import run
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_client, client, gateway, gemini_client, provider

USER: Any = [{"role": "user", "content": "What is it?"}]


def responses(url: str, *models: str) -> dict[str, Any]:
    return provider(url, *models, api="responses")


# Refusals: a 400 naming the client's field ----------------------------------------------------------


@pytest.mark.parametrize(("field", "options"), [
    ("seed", {"seed": 7}),
    ("presence_penalty", {"presence_penalty": 0.5}), ("logit_bias", {"logit_bias": {"50256": -100}})])
def test_chat_client_fields_a_responses_upstream_cannot_take(tmp_path: Path, field: str,
                                                            options: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(tmp_path, providers={"r": responses(up.url, "gpt-5")}) as (_, url):
            with pytest.raises(openai.BadRequestError) as refused:
                await client(url).chat.completions.create(model="gpt-5", messages=USER, **options)
            assert refused.value.status_code == 400
            assert refused.value.body["param"] == field and field in refused.value.message
            assert up.requests == []

    run(scenario())


def test_anthropic_client_on_responses_upstream_is_refused_nothing_it_can_take(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(tmp_path, providers={"r": responses(up.url, "gpt-5")}) as (_, url):
            up.script(fr.text("fine"))
            answer = await anthropic_client(url).messages.create(model="gpt-5", max_tokens=50, messages=USER,
                                                                 metadata={"user_id": "u1"},
                                                                 extra_body={"top_k": 5})
            assert answer.content[0].type == "text" and answer.content[0].text == "fine"
            assert up.requests[-1].json["top_k"] == 5

    run(scenario())


# drop: fields an OpenAI-compatible server rejects ------------------------------------------------------


def test_drop_leaves_fields_out_translated_and_passed_through(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={
                "oa": provider(up.url, "local-llm", drop=["reasoning_effort", "verbosity", "top_k"])}) as (_, url):
            up.script(fo.text("ok"), fo.text("ok"))
            await client(url).chat.completions.create(model="local-llm", messages=USER, reasoning_effort="low",
                                                      verbosity="low", temperature=0.2)
            passed = up.requests[-1].json
            assert "reasoning_effort" not in passed and "verbosity" not in passed and passed["temperature"] == 0.2
            await anthropic_client(url).messages.create(model="local-llm", max_tokens=50, messages=USER,
                                                        extra_body={"top_k": 3, "thinking": {
                                                            "type": "enabled", "budget_tokens": 2048}})
            translated = up.requests[-1].json
            assert "top_k" not in translated and "reasoning_effort" not in translated
            assert translated["max_completion_tokens"] == 50

    run(scenario())


def test_verbosity_is_an_instruction_for_an_anthropic_upstream(tmp_path: Path) -> None:
    from tests.fakes import anthropic_upstream as fa
    from tests.harness import anthropic_provider

    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"a": anthropic_provider(up.url, "claude-x")}) as (_, url):
            await client(url).chat.completions.create(model="claude-x", messages=USER, verbosity="low")
            system = up.requests[-1].json["system"]
            assert any("concise" in block["text"] for block in system)

    run(scenario())


def test_drop_config_is_validated() -> None:
    from interlingua.app.config import ConfigError, parse

    with pytest.raises(ConfigError, match=r"providers\.oa\.drop\[0\]"):
        parse({"providers": {"oa": {"type": "openai", "url": "http://127.0.0.1:1", "drop": ["messages"]}}}, {}, "t")
    with pytest.raises(ConfigError, match=r"providers\.oa\.drop"):
        parse({"providers": {"oa": {"type": "openai", "url": "http://127.0.0.1:1", "drop": "top_k"}}}, {}, "t")



def test_penalties_translate_between_chat_and_gemini(tmp_path: Path) -> None:
    from tests.fakes import gemini_upstream as fg
    from tests.harness import gemini_provider

    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-x")}) as (_, url):
            await client(url).chat.completions.create(model="gemini-x", messages=USER, presence_penalty=0.5,
                                                      frequency_penalty=-0.25)
            config = up.requests[-1].json["generationConfig"]
            assert (config["presencePenalty"], config["frequencyPenalty"]) == (0.5, -0.25)

    run(scenario())


def test_unknown_fields_are_refused_but_account_hints_are_not_sent(tmp_path: Path) -> None:
    from tests.fakes import anthropic_upstream as fa
    from tests.harness import anthropic_provider

    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"a": anthropic_provider(up.url, "claude-x")}) as (_, url):
            sdk = client(url)
            with pytest.raises(openai.BadRequestError) as refused:
                await sdk.chat.completions.create(model="claude-x", messages=USER, extra_body={"mystery_knob": 3})
            assert refused.value.body["param"] == "mystery_knob"
            await sdk.chat.completions.create(model="claude-x", messages=USER, store=True, service_tier="flex",
                                              prompt_cache_key="k")
            sent = up.requests[-1].json
            assert not {"store", "service_tier", "prompt_cache_key"} & set(sent)

    run(scenario())


def test_gemini_safety_settings_refused_for_a_chat_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            config = types.GenerateContentConfig(safety_settings=[types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT, threshold=types.HarmBlockThreshold.BLOCK_NONE)])
            with pytest.raises(genai_errors.ClientError) as refused:
                await gemini_client(url).aio.models.generate_content(model="gpt-x", contents="hi", config=config)
            assert refused.value.code == 400 and "safetySettings" in str(refused.value)
            assert up.requests == []

    run(scenario())


def test_a_refusing_target_lets_the_next_target_of_an_alias_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as resp, fo.FakeOpenAI() as chat, gateway(
                tmp_path, providers={"r": responses(resp.url), "oa": provider(chat.url)},
                models={"pair": {"targets": ["r/gpt-5", "oa/gpt-5"]}}) as (_, url):
            chat.script(fo.text("one"))
            answer = await client(url).chat.completions.create(model="pair", messages=USER, seed=3)
            assert answer.choices[0].message.content == "one"
            assert resp.requests == [] and chat.requests[-1].json["seed"] == 3

    run(scenario())


# Emulated: parallel calls forbidden where the upstream cannot forbid them -------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_one_call_a_turn_from_gemini(tmp_path: Path, stream: bool) -> None:
    """`parallel_tool_calls: false` (as Codex CLI sends for some models) on a Gemini model, which
    answers two calls at once: the client gets the first, Chat and Responses alike."""
    from tests.fakes import gemini_upstream as fg
    from tests.harness import gemini_provider

    async def scenario() -> None:
        async with fg.FakeGemini(["gemini-x"]) as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-x")}) as (_, url):
            sdk = client(url)
            tools: list[Any] = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                                for n in ("read", "list")]
            two = fg.function_calls(fg.call("read", {"path": "a"}), fg.call("list", {"dir": "."}))
            up.script(two, two)
            asked: dict[str, Any] = {"model": "gemini-x", "messages": [{"role": "user", "content": "Look"}],
                                     "tools": tools, "parallel_tool_calls": False}
            if stream:
                chunks = [c async for c in await sdk.chat.completions.create(**asked, stream=True)]
                names = [call.function.name for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()
                         if call.function and call.function.name]
                finish = next(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
            else:
                answer = await sdk.chat.completions.create(**asked)
                names = [call.function.name for call in answer.choices[0].message.tool_calls or ()]  # type: ignore[union-attr]
                finish = answer.choices[0].finish_reason
            assert names == ["read"] and finish == "tool_calls"
            assert "parallel" not in str(up.requests[-1].json)  # Gemini has no such field

            responses_tools: list[Any] = [{"type": "function", "name": n, "parameters": {"type": "object"}}
                                          for n in ("read", "list")]
            items = (await sdk.responses.create(model="gemini-x", input="Look", tools=responses_tools,
                                                parallel_tool_calls=False, stream=False)).output
            assert [i.name for i in items if i.type == "function_call"] == ["read"]  # after Gemini's signed thinking

    run(scenario())
