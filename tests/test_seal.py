"""Reasoning state sealed into the client's own slot, and the persistent store for Chat clients.

Each end-to-end test runs a two-turn tool loop through real sockets with an official SDK, and
restarts the gateway between the turns (a new Gateway on the same data directory), so nothing
but the conversation itself, the secret file and the SQLite store can carry the state across.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from interlingua.adapters import ir
from interlingua.adapters.providers.seal import PREFIX, SECRET_FILE, Seal, appears_in, is_sealed, load_secret
from interlingua.adapters.storage.reasoning import ReasoningStore
from interlingua.app.config import ConfigError, from_env, parse
from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
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

HI = "Weather in Oslo?"
A_TOOLS: Any = [{"name": "get_weather", "description": "weather",
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
O_TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                                  "parameters": {"type": "object",
                                                                 "properties": {"city": {"type": "string"}}}}}]
R_TOOLS: Any = [{"type": "function", "name": "get_weather", "description": "weather",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
G_TOOLS: Any = [types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="weather",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}})])]


# The seal itself ----------------------------------------------------------------------------------


def test_a_sealed_value_opens_only_under_its_secret_and_unchanged() -> None:
    seal = Seal("s" * 32)
    state = ir.Reasoning(text="the thinking", signature="EqQBsig", provider="anthropic")
    value = seal.close("anthropic", state, with_text=True)
    assert value.startswith(PREFIX) and is_sealed(value)
    assert base64.b64decode(value, validate=True)  # standard base64 throughout, prefix included
    assert "EqQBsig" not in value and "thinking" not in value
    assert seal.open(value) == ir.Reasoning(text="the thinking", signature="EqQBsig", provider="anthropic")
    # The Gemini SDK sends a thoughtSignature back in the URL-safe alphabet.
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(value)).decode()
    assert seal.open(urlsafe) == seal.open(value)
    assert seal.open(value.rstrip("=")) == seal.open(value)
    assert Seal("t" * 32).open(value) is None
    middle = len(PREFIX) + 20
    tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1:]
    assert seal.open(tampered) is None
    assert seal.open(value[:-8]) is None and seal.open(PREFIX) is None and seal.open(PREFIX + "!!!!") is None
    assert seal.open("EqQBsig") is None and not is_sealed("EqQBsig") and not is_sealed(None)


def test_the_bytes_of_a_body_tell_whether_it_may_hold_a_sealed_value() -> None:
    value = Seal("s" * 32).close("anthropic", ir.Reasoning(text="t", signature="sig"), with_text=True)
    assert value is not None
    around = b'{"signature":"' + value.encode() + b'"}'
    filler = b"LLL ilgSEAL ilgSEAL0 lgSEAL1 " * 500  # near misses on every side of the anchor, past 12 KB
    for body in (around, filler + around + filler, PREFIX.encode(), filler + PREFIX.encode()):
        assert appears_in(body)
    for body in (b"", PREFIX[:-1].encode(), filler, b'{"signature":"EqQBCkgIARABGAIiQL"}'):
        assert not appears_in(body)


def test_redacted_state_and_text_only_where_the_kind_signs_it() -> None:
    seal = Seal("s" * 32)
    redacted = seal.open(seal.close("anthropic", ir.Reasoning(redacted="opaque"), with_text=True))
    assert redacted == ir.Reasoning(redacted="opaque", provider="anthropic")
    gemini = seal.open(seal.close("gemini", ir.Reasoning(text="summary", signature="c2ln"), with_text=False))
    assert gemini == ir.Reasoning(signature="c2ln", provider="gemini")
    # Two seals of the same state differ (a fresh nonce each time).
    assert seal.close("gemini", ir.Reasoning(signature="c2ln"), False) != seal.close(
        "gemini", ir.Reasoning(signature="c2ln"), False)


def test_the_secret_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    first = load_secret(None, tmp_path / "data")
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) >= 32
    assert load_secret(None, tmp_path / "data") == first
    assert load_secret("configured-secret-value", tmp_path / "data") == "configured-secret-value"


def test_config_secret_from_the_environment_and_its_minimum() -> None:
    config = parse({"server": {"secret": "${SEAL_SECRET}"}}, {"SEAL_SECRET": "x" * 40}, "test")
    assert config.server.secret == "x" * 40 and "x" * 40 not in repr(config)
    assert parse({}, {}, "test").server.secret is None
    with pytest.raises(ConfigError, match="server.secret: must be at least 16 characters"):
        parse({"server": {"secret": "short"}}, {}, "test")
    assert from_env({"INTERLINGUA_SECRET": "y" * 20}).server.secret == "y" * 20


def test_the_store_persists_is_bounded_and_bound_to_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "reasoning.sqlite3"
    store = ReasoningStore(path, capacity=3)
    store.remember("gemini", ["call_1", "call_2"], [ir.Reasoning(text="t", signature="sig1")])
    assert store.recall("gemini", "call_1") == [ir.Reasoning(text="t", signature="sig1", provider="gemini")]
    for i in range(3, 8):
        store.remember("gemini", [f"call_{i}"], [ir.Reasoning(redacted=f"r{i}")])
    store.close()
    again = ReasoningStore(path, capacity=3)
    assert again.recall("gemini", "call_7") == [ir.Reasoning(redacted="r7", provider="gemini")]
    assert again.recall("anthropic", "call_7") is None  # never restored into another kind's request
    assert again.recall("gemini", "call_1") is None  # the oldest were evicted
    again.close()


# Through the gateway: Anthropic client -> Gemini 3 -------------------------------------------------


def test_anthropic_client_on_gemini_3_across_a_restart(tmp_path: Path) -> None:
    """The thought signature travels in the thinking block's signature, sealed; after a restart
    the new gateway opens it and Gemini gets its own signature back on its function call."""

    async def scenario() -> None:
        providers = {"g": gemini_provider("", "gemini-3-pro")}
        async with fg.FakeGemini() as up:
            providers["g"]["url"] = up.url
            up.script(fg.reply(fg.thought("need weather"), fg.call("get_weather", {"city": "Oslo"})),
                      fg.text("Cold."))
            async with gateway(tmp_path, providers=providers) as (_, url):
                first = await anthropic_client(url).messages.create(model="gemini-3-pro", max_tokens=2000,
                                                                     tools=A_TOOLS,
                                                                     messages=[{"role": "user", "content": HI}])
            blocks = [b.model_dump(exclude_none=True) for b in first.content]
            thinking = [b for b in blocks if b["type"] == "thinking" and b["signature"]]
            assert thinking and all(b["signature"].startswith(PREFIX) for b in thinking)
            minted = {base64.b64encode(s).decode() for s in up.signatures}
            assert not any(s in str(blocks) for s in minted)  # the client never sees Gemini's value
            call = next(b for b in blocks if b["type"] == "tool_use")
            history: Any = [{"role": "user", "content": HI}, {"role": "assistant", "content": blocks},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                                          "content": "-3 C"}]}]
            async with gateway(tmp_path, providers=providers) as (_, url):  # a new process, as far as state goes
                second = await anthropic_client(url).messages.create(model="gemini-3-pro", max_tokens=2000,
                                                                      tools=A_TOOLS, messages=history)
            assert second.content[0].text == "Cold."  # type: ignore[union-attr]
            model_turn = up.requests[-1].json["contents"][1]["parts"]
            signed = next(p for p in model_turn if "functionCall" in p)
            assert base64.b64decode(signed["thoughtSignature"]) in up.signatures
            assert signed["functionCall"]["id"] == call["id"]  # Gemini minted it: it goes back
            assert PREFIX not in str(up.requests[-1].json)

    run(scenario())


def test_forged_tampered_and_foreign_signatures_are_dropped(tmp_path: Path) -> None:
    """Toward Gemini 3, a signature the gateway did not seal (Anthropic's own) or one that does not
    open (tampered) is left out: the call gets Google's placeholder, the request succeeds."""

    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(
                tmp_path, providers={"g": gemini_provider(up.url, "gemini-3-pro")}) as (_, url):
            up.script(fg.reply(fg.call("get_weather", {"city": "Oslo"})))
            first = await anthropic_client(url).messages.create(model="gemini-3-pro", max_tokens=2000,
                                                                 tools=A_TOOLS,
                                                                 messages=[{"role": "user", "content": HI}])
            blocks = [b.model_dump(exclude_none=True) for b in first.content]
            sealed = next(b for b in blocks if b["type"] == "thinking")["signature"]
            middle = len(PREFIX) + 10
            tampered = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1:]
            call = next(b for b in blocks if b["type"] == "tool_use")
            for signature in (tampered, "EqQBCkgIARABGAIiQNYzanthropic", PREFIX + "AAAA"):
                up.script(fg.text("Cold."))
                turn = [{"type": "thinking", "thinking": "", "signature": signature}, call]
                history: Any = [{"role": "user", "content": HI}, {"role": "assistant", "content": turn},
                                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                                              "content": "-3 C"}]}]
                answer = await anthropic_client(url).messages.create(model="gemini-3-pro", max_tokens=2000,
                                                                      tools=A_TOOLS, messages=history)
                assert answer.content[0].text == "Cold."  # type: ignore[union-attr]
                parts = up.requests[-1].json["contents"][1]["parts"]
                assert parts[0]["thoughtSignature"] == fg.SKIP_SIGNATURE or base64.b64decode(
                    parts[0]["thoughtSignature"]) == fg.SKIP_SIGNATURE.encode()
                assert signature not in str(up.requests[-1].json)

    run(scenario())


# Gemini and Responses clients -> Anthropic ---------------------------------------------------------


def test_gemini_client_on_anthropic_across_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up:
            providers = {"claude": anthropic_provider(up.url, "c1")}
            up.script(fa.reply(fa.thinking("need ", "weather"), fa.call("get_weather", '{"city": "Oslo"}')),
                      fa.text("Cold."))
            config = types.GenerateContentConfig(tools=G_TOOLS, thinking_config=types.ThinkingConfig(
                thinking_budget=2048, include_thoughts=True))
            async with gateway(tmp_path, providers=providers) as (_, url):
                first = await gemini_client(url).aio.models.generate_content(model="c1", contents=HI, config=config)
            parts = first.candidates[0].content.parts  # type: ignore[index,union-attr]
            signatures = [p.thought_signature for p in parts if p.thought_signature]  # type: ignore[union-attr]
            assert len(signatures) == 1 and base64.b64encode(signatures[0]).decode().startswith(PREFIX)
            assert parts[-1].function_call is not None and parts[-1].thought_signature  # type: ignore[index]
            (call,) = first.function_calls  # type: ignore[misc]
            history: Any = [types.Content(role="user", parts=[types.Part(text=HI)]), first.candidates[0].content,
                            types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                                name="get_weather", id=call.id, response={"temp": -3}))])]
            async with gateway(tmp_path, providers=providers) as (_, url):
                second = await gemini_client(url).aio.models.generate_content(model="c1", contents=history,
                                                                              config=config)
            assert second.text == "Cold."
            turn = up.requests[-1].json["messages"][1]["content"]
            assert turn[0] == {"type": "thinking", "thinking": "need weather", "signature": turn[0]["signature"]}
            assert turn[0]["signature"] in up.signatures
            assert turn[1]["type"] == "tool_use" and turn[1]["id"] == call.id

    run(scenario())


def test_stateless_responses_client_on_anthropic_across_a_restart(tmp_path: Path) -> None:
    """Codex's way: store false, the output items echoed back; the thinking (redacted too) rides in
    `encrypted_content`, sealed."""

    async def scenario() -> None:
        async with fa.FakeAnthropic() as up:
            providers = {"claude": anthropic_provider(up.url, "c1")}
            up.script(fa.reply(fa.thinking("need weather"), fa.redacted("opaque-data"),
                               fa.call("get_weather", '{"city": "Oslo"}')), fa.text("Cold."))
            async with gateway(tmp_path, providers=providers) as (_, url):
                first = await client(url).responses.create(model="c1", input=HI, tools=R_TOOLS, store=False,
                                                           reasoning={"effort": "medium"},
                                                           include=["reasoning.encrypted_content"])
            reasoning = [i for i in first.output if i.type == "reasoning"]
            assert len(reasoning) == 2
            assert all(i.encrypted_content and i.encrypted_content.startswith(PREFIX)  # type: ignore[union-attr]
                       for i in reasoning)
            assert "opaque-data" not in first.model_dump_json()
            call = next(i for i in first.output if i.type == "function_call")
            echoed = [i.model_dump(exclude_none=True) for i in first.output]
            async with gateway(tmp_path, providers=providers) as (_, url):
                second = await client(url).responses.create(
                    model="c1", tools=R_TOOLS, store=False, reasoning={"effort": "medium"},
                    input=[{"role": "user", "content": HI}, *echoed,
                           {"type": "function_call_output", "call_id": call.call_id, "output": "-3 C"}])
            assert second.output_text == "Cold."
            turn = up.requests[-1].json["messages"][1]["content"]
            assert turn[0]["type"] == "thinking" and turn[0]["thinking"] == "need weather"
            assert turn[0]["signature"] in up.signatures
            assert turn[1] == {"type": "redacted_thinking", "data": "opaque-data"}
            assert turn[2]["type"] == "tool_use"

    run(scenario())


def test_streamed_thinking_reaches_an_anthropic_client_sealed_from_anthropic_state(tmp_path: Path) -> None:
    """A Gemini client streaming from Anthropic: the signature arrives after the thinking text and
    rides on the function call, the thinking it signs sealed with it."""

    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "c1")}) as (_, url):
            up.script(fa.reply(fa.thinking("need ", "weather"), fa.call("get_weather", '{"city": "Oslo"}')),
                      fa.text("Cold."))
            config = types.GenerateContentConfig(tools=G_TOOLS, thinking_config=types.ThinkingConfig(
                thinking_budget=2048, include_thoughts=True))
            sdk = gemini_client(url).aio
            chunks = [c async for c in await sdk.models.generate_content_stream(model="c1", contents=HI,
                                                                                config=config)]
            parts = [p for c in chunks for p in c.candidates[0].content.parts or ()]  # type: ignore[index,union-attr]
            call_part = next(p for p in parts if p.function_call)
            assert call_part.thought_signature and base64.b64encode(
                call_part.thought_signature).decode().startswith(PREFIX)
            model_turn = types.Content(role="model", parts=[p for p in parts if p.text or p.function_call])
            history: Any = [types.Content(role="user", parts=[types.Part(text=HI)]), model_turn,
                            types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                                name="get_weather", id=call_part.function_call.id, response={"temp": -3}))])]
            second = await sdk.models.generate_content(model="c1", contents=history, config=config)
            assert second.text == "Cold."
            turn = up.requests[-1].json["messages"][1]["content"]
            assert turn[0]["type"] == "thinking" and turn[0]["thinking"] == "need weather"
            assert turn[0]["signature"] in up.signatures

    run(scenario())


def test_anthropic_client_streams_from_a_responses_upstream_and_back(tmp_path: Path) -> None:
    """OpenAI's encrypted reasoning reaches an Anthropic client as a signature_delta, sealed, and
    goes back to the Responses upstream as the `encrypted_content` it minted."""

    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(
                tmp_path, providers={"o": provider(up.url, "gpt-x", api="responses")}) as (_, url):
            up.script(fr.reply(fr.reasoning("weather ", "needed"), fr.call("get_weather", '{"city": "Oslo"}')),
                      fr.text("Cold."))
            sdk = anthropic_client(url)
            async with sdk.messages.stream(model="gpt-x", max_tokens=2000, tools=A_TOOLS,
                                           messages=[{"role": "user", "content": HI}]) as stream:
                first = await stream.get_final_message()
            blocks = [b.model_dump(exclude_none=True) for b in first.content]
            assert blocks[0]["type"] == "thinking" and blocks[0]["thinking"] == "weather needed"
            assert blocks[0]["signature"].startswith(PREFIX)
            assert not any(value in str(blocks) for value in up.encrypted)
            call = next(b for b in blocks if b["type"] == "tool_use")
            history: Any = [{"role": "user", "content": HI}, {"role": "assistant", "content": blocks},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                                          "content": "-3 C"}]}]
            second = await sdk.messages.create(model="gpt-x", max_tokens=2000, tools=A_TOOLS, messages=history)
            assert second.content[0].text == "Cold."  # type: ignore[union-attr]
            reasoning = [i for i in up.requests[-1].json["input"] if i.get("type") == "reasoning"]
            assert len(reasoning) == 1 and reasoning[0]["encrypted_content"] in up.encrypted

    run(scenario())


def test_a_same_dialect_history_with_sealed_state_is_translated(tmp_path: Path) -> None:
    """An Anthropic client whose first turn came from Gemini continues on Anthropic: the sealed
    Gemini state is not Anthropic's, so the request is translated and the block left out,
    instead of passing through to be refused as an invalid signature."""

    async def scenario() -> None:
        async with fg.FakeGemini() as gem, fa.FakeAnthropic() as claude, gateway(
                tmp_path, providers={"g": gemini_provider(gem.url, "gemini-3-pro"),
                                     "claude": anthropic_provider(claude.url, "c1")}) as (_, url):
            gem.script(fg.reply(fg.call("get_weather", {"city": "Oslo"})))
            sdk = anthropic_client(url)
            first = await sdk.messages.create(model="gemini-3-pro", max_tokens=2000, tools=A_TOOLS,
                                              messages=[{"role": "user", "content": HI}])
            blocks = [b.model_dump(exclude_none=True) for b in first.content]
            assert blocks[0]["type"] == "thinking" and blocks[0]["signature"].startswith(PREFIX)
            call = next(b for b in blocks if b["type"] == "tool_use")
            claude.script(fa.text("Cold."))
            history: Any = [{"role": "user", "content": HI}, {"role": "assistant", "content": blocks},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                                          "content": "-3 C"}]}]
            second = await sdk.messages.create(model="c1", max_tokens=2000, tools=A_TOOLS, messages=history)
            assert second.content[0].text == "Cold."  # type: ignore[union-attr]
            sent = claude.requests[-1].json["messages"][1]["content"]
            assert [b["type"] for b in sent] == ["tool_use"] and PREFIX not in str(claude.requests[-1].json)
            await sdk.messages.count_tokens(model="c1", tools=A_TOOLS, messages=history)
            assert claude.requests[-1].path.endswith("/count_tokens") and PREFIX not in str(claude.requests[-1].json)

    run(scenario())


# Chat Completions: no slot, the persistent store ---------------------------------------------------


def test_chat_client_on_gemini_3_across_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up:
            providers = {"g": gemini_provider(up.url, "gemini-3-pro")}
            up.script(fg.reply(fg.thought("thinking"), fg.call("get_weather", {"city": "Oslo"})), fg.text("Cold."))
            async with gateway(tmp_path, providers=providers) as (_, url):
                first = await client(url).chat.completions.create(
                    model="gemini-3-pro", messages=[{"role": "user", "content": HI}], tools=O_TOOLS)
            (call,) = first.choices[0].message.tool_calls  # type: ignore[misc]
            assert PREFIX not in first.model_dump_json()
            history: Any = [{"role": "user", "content": HI},
                            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                            {"role": "tool", "tool_call_id": call.id, "content": '{"temp": -3}'}]
            async with gateway(tmp_path, providers=providers) as (_, url):
                second = await client(url).chat.completions.create(model="gemini-3-pro", messages=history,
                                                                   tools=O_TOOLS)
            assert second.choices[0].message.content == "Cold."
            signed = up.requests[-1].json["contents"][1]["parts"][0]
            assert base64.b64decode(signed["thoughtSignature"]) in up.signatures
            assert signed["functionCall"]["id"] == call.id
            assert (tmp_path / "reasoning.sqlite3").exists()

    run(scenario())
