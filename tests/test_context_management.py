"""Context management on every upstream: Claude Code's context edits and Responses truncation,
done by the gateway where the upstream's API would not, and passed on where it would.

The conversation is Claude Code's own shape (its recorded request in tests/fixtures: system, tools,
thinking, `context_management`, the context-management beta), grown to many tool rounds.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from interlingua.adapters.providers.context import PLACEHOLDER
from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_client, anthropic_provider, client, gateway, gemini_provider, provider

FIXTURE = json.loads((Path(__file__).parent / "fixtures/clients/claude.tool-result-request.json").read_text())
BETAS: list[Any] = ["context-management-2025-06-27", "interleaved-thinking-2025-05-14"]
# One tool per round, as Claude Code works: reads, shell commands, an edit and a write.
ROUNDS = ["Read", "Bash", "Edit", "Read", "Write", "Bash", "Read", "Bash"]
EDITS: list[Any] = [
    {"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 2}},
    {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 1000},
     "keep": {"type": "tool_uses", "value": 3}, "exclude_tools": ["Edit"], "clear_tool_inputs": ["Write"]},
]
CLEARED = [0, 1, 3, 4]  # older than the last three, and not the excluded Edit (round 2)


def output(i: int) -> str:
    return f"output of round {i}: " + "line of a long file that the agent read " * 30


def tool_input(i: int) -> dict[str, Any]:
    return {"file_path": f"/home/user/project/f{i}.py", "content": f"body {i}"}


def conversation() -> list[Any]:
    """Claude Code's first user turn, then thinking tool loops of `ROUNDS`, two rounds to a user
    turn (the user's next request comes with the second round's result), ending on a result."""
    messages: list[Any] = [copy.deepcopy(FIXTURE["body"]["messages"][0])]
    for i, name in enumerate(ROUNDS):
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": f"thought {i}", "signature": f"sig-{i}"},
            {"type": "text", "text": f"Step {i}."},
            {"type": "tool_use", "id": f"toolu_{i:02d}", "name": name, "input": tool_input(i)}]})
        result: list[Any] = [{"type": "tool_result", "tool_use_id": f"toolu_{i:02d}", "content": output(i)}]
        if i % 2 and i < len(ROUNDS) - 1:
            result.append({"type": "text", "text": f"Now task {i // 2 + 2}."})
        messages.append({"role": "user", "content": result})
    return messages


def request(edits: list[Any] = EDITS, **fields: Any) -> dict[str, Any]:
    """The keyword arguments of `client.beta.messages.create`, as Claude Code fills them."""
    body = FIXTURE["body"]
    return {"model": "m", "max_tokens": body["max_tokens"], "system": body["system"], "tools": body["tools"],
            "thinking": body["thinking"], "messages": conversation(), "betas": BETAS,
            "context_management": {"edits": edits}, **fields}


def chat_results(sent: Any) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in sent["messages"] if m["role"] == "tool"}


def assert_chat_upstream_got_the_edits(sent: Any) -> None:
    results = chat_results(sent)
    for i in range(len(ROUNDS)):
        assert results[f"toolu_{i:02d}"] == (PLACEHOLDER if i in CLEARED else output(i)), i
    calls = {c["id"]: c["function"] for m in sent["messages"] for c in m.get("tool_calls") or ()}
    assert [calls[f"toolu_{i:02d}"]["name"] for i in range(len(ROUNDS))] == ROUNDS
    for i in range(len(ROUNDS)):
        expected = {} if i == 4 else tool_input(i)  # Write is in clear_tool_inputs; Read (3) is not
        assert json.loads(calls[f"toolu_{i:02d}"]["arguments"]) == expected, i
    thinking = [m.get("reasoning_content") for m in sent["messages"] if m["role"] == "assistant"]
    assert thinking == [None] * 4 + [f"thought {i}" for i in range(4, 8)]  # the last two turns' thinking


def assert_reported(context: Any) -> None:
    thinking, tools = context.applied_edits
    assert (thinking.type, thinking.cleared_thinking_turns) == ("clear_thinking_20251015", 2)
    assert 0 < thinking.cleared_input_tokens < 50  # "thought 0" to "thought 3"
    assert (tools.type, tools.cleared_tool_uses) == ("clear_tool_uses_20250919", 4)
    assert tools.cleared_input_tokens > 4 * 200  # four results of some 240 tokens each, and one input


def test_claude_code_conversation_on_a_chat_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "m")}) as (_, url):
            up.script(fo.text("Done."))
            message = await anthropic_client(url).beta.messages.create(**request())
            assert message.content[-1].type == "text" and message.content[-1].text == "Done."
            assert message.context_management is not None
            assert_reported(message.context_management)
            assert_chat_upstream_got_the_edits(up.requests[-1].json)

    run(scenario())


def test_streamed_answer_reports_the_edits_in_message_delta(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "m")}) as (_, url):
            up.script(fo.text("Do", "ne."))
            deltas: list[Any] = []
            async with anthropic_client(url).beta.messages.stream(**request()) as stream:
                async for event in stream:
                    if event.type == "message_delta":
                        deltas.append(event)
                final = await stream.get_final_message()
            assert len(deltas) == 1 and deltas[0].context_management is not None
            assert_reported(deltas[0].context_management)
            assert final.context_management == deltas[0].context_management
            assert_chat_upstream_got_the_edits(up.requests[-1].json)

    run(scenario())


def test_claude_code_conversation_on_a_gemini_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fg.FakeGemini() as up, gateway(tmp_path, providers={"g": gemini_provider(up.url, "m")}) as (_, url):
            up.script(fg.text("Done."), fg.text("Again."))
            message = await anthropic_client(url).beta.messages.create(**request())
            assert message.context_management is not None
            assert_reported(message.context_management)
            responses = [p["functionResponse"] for c in up.requests[-1].json["contents"] for p in c["parts"]
                         if "functionResponse" in p]
            texts = [json.dumps(r["response"]) for r in responses]
            assert [r["name"] for r in responses] == ROUNDS
            for i, text in enumerate(texts):
                assert (PLACEHOLDER in text) == (i in CLEARED) and (output(i)[:20] in text) != (i in CLEARED), i
            calls = [p["functionCall"]["args"] for c in up.requests[-1].json["contents"] for p in c["parts"]
                     if "functionCall" in p]
            assert calls == [{} if i == 4 else tool_input(i) for i in range(len(ROUNDS))]

            # Below the trigger nothing is cleared, and Anthropic reports an empty list.
            quiet = [{**EDITS[1], "trigger": {"type": "tool_uses", "value": len(ROUNDS)}}]
            message = await anthropic_client(url).beta.messages.create(**request(quiet))
            assert message.context_management is not None and message.context_management.applied_edits == []
            assert PLACEHOLDER not in json.dumps(up.requests[-1].json)

    run(scenario())


def test_keep_all_thinking_and_clear_at_least(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "m")}) as (_, url):
            up.script(fo.text("One."), fo.text("Two."))
            edits = [{"type": "clear_thinking_20251015", "keep": "all"},
                     {"type": "clear_tool_uses_20250919", "trigger": {"type": "tool_uses", "value": 2},
                      "clear_at_least": {"type": "input_tokens", "value": 10**6}}]
            message = await anthropic_client(url).beta.messages.create(**request(edits))
            assert message.context_management is not None and message.context_management.applied_edits == []
            sent = up.requests[-1].json
            assert [m.get("reasoning_content") for m in sent["messages"] if m["role"] == "assistant"] == [
                f"thought {i}" for i in range(len(ROUNDS))]
            assert PLACEHOLDER not in json.dumps(sent)

            edits = [{"type": "clear_tool_uses_20250919", "trigger": {"type": "tool_uses", "value": 2},
                      "keep": {"type": "tool_uses", "value": 0}, "clear_tool_inputs": True}]
            message = await anthropic_client(url).beta.messages.create(**request(edits))
            assert message.context_management is not None
            assert [e.cleared_tool_uses for e in message.context_management.applied_edits] == [len(ROUNDS)]
            sent = up.requests[-1].json
            assert set(chat_results(sent).values()) == {PLACEHOLDER}
            assert {c["function"]["arguments"] for m in sent["messages"] for c in m.get("tool_calls") or ()} == {"{}"}

    run(scenario())


def test_anthropic_upstream_gets_the_edits_untouched(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fa.FakeAnthropic() as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url, "m")}) as (_, url):
            up.script(fa.text("Done."))
            up.signatures.update(f"sig-{i}" for i in range(len(ROUNDS)))  # as if it had minted them earlier
            sent = request()
            message = await anthropic_client(url).beta.messages.create(**sent)
            assert message.context_management is None  # the fake, like any upstream, reports its own or none
            got = up.requests[-1]
            assert "context-management-2025-06-27" in got.headers["anthropic-beta"]
            assert got.json["context_management"] == {"edits": EDITS}
            assert got.json["messages"] == sent["messages"]

    run(scenario())


def test_compaction_edit_summarises_on_a_chat_upstream(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "m")}) as (_, url):
            up.script(fo.text("The agent read eight files."), fo.text("Done."))
            edits = [{"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 1000},
                      "instructions": "Keep file names."}]
            sent = request(edits)
            sent["messages"].append({"role": "user", "content": "Now summarise your work."})
            message = await anthropic_client(url).beta.messages.create(**sent)
            assert message.content[-1].text == "Done."  # type: ignore[union-attr]
            summary, main = (r.json for r in up.requests[-2:])
            assert summary["messages"][0]["content"].endswith("Keep file names.")
            assert output(0)[:20] in summary["messages"][1]["content"]
            assert [m["role"] for m in main["messages"]] == ["system", "user", "user"]
            assert main["messages"][1]["content"].endswith("The agent read eight files.")

    run(scenario())


@pytest.mark.parametrize(("edits", "field"), [
    ([{"type": "clear_tool_uses_20250919", "trigger": {"type": "messages", "value": 3}}],
     "context_management.edits[0].trigger.type"),
    ([{"type": "clear_tool_uses_20250919", "keep": {"type": "tool_uses", "value": "three"}}],
     "context_management.edits[0].keep.value"),
    ([{"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns"}}],
     "context_management.edits[0].keep.value"),
    ([{"type": "clear_tool_uses_20250919", "exclude_tool": ["Edit"]}], "context_management.edits[0].exclude_tool"),
    ([{"type": "clear_tool_uses_20250919"}, {"type": "clear_tool_uses_20250919"}],
     "context_management.edits[1].type"),
    ([{"type": "forget_everything"}], "context_management.edits[0].type"),
])
def test_bad_edits_are_a_400_in_the_messages_dialect(tmp_path: Path, edits: list[Any], field: str) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "m")}) as (_, url):
            with pytest.raises(anthropic.BadRequestError) as caught:
                await anthropic_client(url).beta.messages.create(**request(edits))
            assert caught.value.status_code == 400
            assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
            assert field in caught.value.message
            assert up.requests == []

    run(scenario())


# Responses truncation ------------------------------------------------------------------------------


def turns() -> list[Any]:
    """Four turns, the second with a function call and its output, each some 400 tokens long."""
    long = "a paragraph of earlier conversation " * 60
    return [
        {"role": "user", "content": "first " + long},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second " + long},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "found " + long},
        {"role": "assistant", "content": "found it"},
        {"role": "user", "content": "third " + long},
        {"role": "assistant", "content": "right"},
        {"role": "user", "content": "last question"},
    ]


def test_responses_truncation_auto_drops_the_oldest_turns(tmp_path: Path) -> None:
    async def scenario() -> None:
        small = provider("", "m")
        async with fo.FakeOpenAI() as up, gateway(
                tmp_path, providers={"oa": {**small, "url": up.url, "context_window": {"m": 1200}}}) as (_, url):
            up.script(fo.text("Short."), fo.text("Long."))
            reply = await client(url).responses.create(model="m", input=turns(), instructions="be brief",
                                                       truncation="auto", max_output_tokens=300)
            assert reply.output_text == "Short."
            sent = up.requests[-1].json["messages"]
            # 1,200 - 300 leaves room for the third turn and the last; the first two go, the call with its output.
            assert [m["role"] for m in sent] == ["developer", "user", "assistant", "user"]
            assert sent[1]["content"].startswith("third ") and sent[3]["content"] == "last question"

            await client(url).responses.create(model="m", input=turns(), truncation="disabled")
            assert len(up.requests[-1].json["messages"]) == 9  # too long is the upstream's to refuse

    run(scenario())


def test_bad_truncation_is_a_400_in_the_responses_dialect(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "m")}) as (_, url):
            with pytest.raises(openai.BadRequestError) as caught:
                await client(url).responses.create(model="m", input="hi", extra_body={"truncation": "sometimes"})
            assert caught.value.status_code == 400 and caught.value.param == "truncation"
            with pytest.raises(openai.BadRequestError) as caught:
                await client(url).responses.create(model="m", input="hi", extra_body={
                    "context_management": [{"type": "compaction", "compact_threshold": "big"}]})
            assert caught.value.param == "context_management[0].compact_threshold"
            assert up.requests == []

    run(scenario())
