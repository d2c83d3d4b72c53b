"""Stop sequences an upstream cannot take, emulated: cut text, the client's stop reason, an early close.

The socket tests use the official SDKs as clients and fake upstreams, since what matters is what
the client finally sees (text cut at the stop word even when it is split across upstream deltas,
its own stop reason) and what the upstream was sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
from google.genai import types

from interlingua.adapters import ir
from interlingua.adapters.providers import stops
from tests.asgi import run
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.harness import anthropic_client, client, gateway, gemini_client, provider

# The stop word "STOP" split across three upstream deltas, with more text after it.
SPLIT = ("The answer is 4", "2 ST", "O", "P and then much more", " text", " past", " the", " stop")
USER: Any = [{"role": "user", "content": "What is it?"}]


def responses(url: str, *models: str) -> dict[str, Any]:
    return provider(url, *models, api="responses")


# The emulation itself ------------------------------------------------------------------------------


def test_stop_cut_holds_back_only_a_possible_prefix() -> None:
    async def scenario() -> None:
        async def upstream() -> Any:
            for piece in ("abcdef", "gS", "TO", "Pxyz"):
                yield [ir.TextDelta(piece)]
            yield [ir.Finish("stop")]

        closed: list[bool] = []

        async def close() -> None:
            closed.append(True)

        batches = [b async for b in stops.cut_stream(upstream(), ["STOP", "NEVER"], 1, close)]
        texts = [[e.text for e in b if isinstance(e, ir.TextDelta)] for b in batches]
        assert texts[:4] == [["ab"], ["cd"], ["ef"], ["g"]]  # "NEVER" is 5 long: 4 characters held back
        finish = [e for b in batches for e in b if isinstance(e, ir.Finish)]
        assert finish == [ir.Finish("stop_sequence", 0, "STOP")] and closed == [True]
        assert isinstance(batches[-1][-1], ir.UsageReport) and batches[-1][-1].usage.estimated

    run(scenario())


def test_split_sends_what_the_upstream_takes() -> None:
    request = ir.ChatRequest("m", [], "anthropic", stop=["a", "b", "c", "d", "e", "f"])
    assert stops.split(request, "openai")[0].stop == ["a", "b", "c", "d"]
    assert stops.split(request, "openai")[1] == ["e", "f"]
    assert stops.split(request, "responses")[0].stop is None
    assert stops.split(request, "gemini")[1] == ["f"]
    assert stops.split(request, "anthropic") == (request, [])



def test_the_gateway_emulates_at_most_64_sequences_of_1000_characters() -> None:
    fine = ir.ChatRequest("m", [], "anthropic", stop=[f"s{i}" for i in range(68)])
    assert len(stops.split(fine, "openai")[1]) == 64
    for dialect, field, stop in (("anthropic", "stop_sequences", [f"s{i}" for i in range(69)]),
                                 ("openai", "stop", ["a", "b", "c", "d", "x" * 1001]),
                                 ("gemini", "generationConfig.stopSequences", ["x" * 1001])):
        with pytest.raises(ir.GatewayError) as refused:
            stops.split(ir.ChatRequest("m", [], dialect, stop=stop), "responses")
        assert (refused.value.status, refused.value.param) == (400, field)
        assert refused.value.message == (f"{field}: this model's upstream takes 0 stop sequences and the gateway "
                                         "cuts at most 64 more, of at most 1,000 characters each")

# Responses upstream: every client's stop sequences emulated ----------------------------------------


def test_anthropic_client_stop_sequences_on_a_responses_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(tmp_path, providers={"r": responses(up.url, "gpt-5")}) as (_, url):
            sdk = anthropic_client(url)
            up.script(fr.text(*SPLIT, chunk_delay=0.05))
            async with sdk.messages.stream(model="gpt-5", max_tokens=100, messages=USER,
                                           stop_sequences=["STOP", "HALT"]) as stream:
                text = "".join([t async for t in stream.text_stream])
                message = await stream.get_final_message()
            assert text == "The answer is 42 "
            assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")
            assert "stop" not in up.requests[-1].json and "stop_sequences" not in up.requests[-1].json
            await up.wait_for_disconnects()  # the upstream stream was closed early

            up.script(fr.text(*SPLIT))
            whole = await sdk.messages.create(model="gpt-5", max_tokens=100, messages=USER, stop_sequences=["STOP"])
            assert [b.text for b in whole.content if b.type == "text"] == ["The answer is 42 "]
            assert (whole.stop_reason, whole.stop_sequence) == ("stop_sequence", "STOP")

    run(scenario())


def test_chat_client_stop_on_a_responses_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(tmp_path, providers={"r": responses(up.url, "gpt-5")}) as (_, url):
            sdk = client(url)
            up.script(fr.text(*SPLIT))
            chunks = [c async for c in await sdk.chat.completions.create(
                model="gpt-5", messages=USER, stop="STOP", stream=True, stream_options={"include_usage": True})]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
            assert (text, reasons) == ("The answer is 42 ", ["stop"])
            assert chunks[-1].usage is not None

            up.script(fr.text(*SPLIT))
            whole = await sdk.chat.completions.create(model="gpt-5", messages=USER, stop=["nope", "STOP"])
            assert whole.choices[0].message.content == "The answer is 42 "
            assert whole.choices[0].finish_reason == "stop"

    run(scenario())


def test_gemini_client_stop_sequences_on_a_responses_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fr.FakeResponses() as up, gateway(tmp_path, providers={"r": responses(up.url, "gpt-5")}) as (_, url):
            sdk = gemini_client(url)
            config = types.GenerateContentConfig(stop_sequences=["STOP"])
            up.script(fr.text(*SPLIT))
            stream = await sdk.aio.models.generate_content_stream(model="gpt-5", contents="What is it?", config=config)
            chunks = [c async for c in stream]
            assert "".join(c.text or "" for c in chunks) == "The answer is 42 "
            assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP

            up.script(fr.text(*SPLIT))
            whole = await sdk.aio.models.generate_content(model="gpt-5", contents="What is it?", config=config)
            assert whole.text == "The answer is 42 "
            assert whole.candidates[0].finish_reason == types.FinishReason.STOP

    run(scenario())


# A capped upstream: the first N sent, the rest emulated ---------------------------------------------


def test_anthropic_client_more_stops_than_a_chat_upstream_takes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            sdk = anthropic_client(url)
            sequences = ["s1", "s2", "s3", "s4", "STOP", "s6"]
            up.script(fo.text(*SPLIT))
            async with sdk.messages.stream(model="gpt-x", max_tokens=100, messages=USER,
                                           stop_sequences=sequences) as stream:
                message = await stream.get_final_message()
            assert up.requests[-1].json["stop"] == ["s1", "s2", "s3", "s4"]
            assert [b.text for b in message.content if b.type == "text"] == ["The answer is 42 "]
            assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")

            up.script(fo.text("no stop word here"))
            whole = await sdk.messages.create(model="gpt-x", max_tokens=100, messages=USER, stop_sequences=sequences)
            assert [b.text for b in whole.content if b.type == "text"] == ["no stop word here"]
            assert whole.stop_reason == "end_turn"

    run(scenario())


def test_more_stops_than_the_gateway_emulates_are_a_400_in_the_clients_dialect(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
            with pytest.raises(anthropic.BadRequestError) as refused:
                await anthropic_client(url).messages.create(model="gpt-x", max_tokens=100, messages=USER,
                                                            stop_sequences=[f"s{i}" for i in range(100_000)])
            assert refused.value.status_code == 400
            assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
            assert refused.value.body["error"]["message"].startswith(  # type: ignore[index]
                "stop_sequences: this model's upstream takes 4 stop sequences and the gateway cuts at most 64 more")
            assert up.requests == []

    run(scenario())
