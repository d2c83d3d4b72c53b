"""The context engine alone: what it leaves untouched, and where it stops."""

from __future__ import annotations

import copy

import pytest

from interlingua.adapters import ir
from interlingua.adapters.providers.anthropic import AnthropicProvider
from interlingua.adapters.providers.context import PLACEHOLDER, default_window, manage, truncate
from interlingua.adapters.providers.openai import OpenAIProvider
from interlingua.app.config import ConfigError, parse
from tests.asgi import run


def tool_loop(rounds: int, turns: bool = True) -> list[ir.Message]:
    """A system prompt, a request, and `rounds` tool rounds with thinking, each its own turn or all one."""
    messages = [ir.Message("system", [ir.Text("be brief")]), ir.Message("user", [ir.Text("go")])]
    for i in range(rounds):
        messages.append(ir.Message("assistant", [ir.Reasoning(text=f"thought {i}"),
                                                 ir.ToolCall(f"c{i}", "Read", f'{{"n": {i}}}')]))
        messages.append(ir.Message("tool", [ir.ToolResult(f"c{i}", [ir.Text(f"result {i} " * 50)])]))
        if turns:
            messages.append(ir.Message("user", [ir.Text(f"next {i}")]))
    return messages


def anthropic_request(edits: list[ir.ContextEdit]) -> ir.ChatRequest:
    return ir.ChatRequest(model="m", messages=tool_loop(5), dialect="anthropic", native={"model": "m"},
                          context=ir.ContextManagement(edits=edits))


def test_the_shared_request_is_never_changed() -> None:
    async def scenario() -> None:
        request = anthropic_request([ir.ClearThinking(keep=1), ir.ClearToolUses(trigger=("tool_uses", 1), keep=1,
                                                                                clear_inputs=True)])
        before = copy.deepcopy(request)
        edited, applied = await manage(request, OpenAIProvider("oa", "http://127.0.0.1:9"), "m")
        assert request == before
        assert [(a.type, a.cleared) for a in applied or ()] == [("clear_thinking_20251015", 4),
                                                                 ("clear_tool_uses_20250919", 4)]
        results = [p for m in edited.messages for p in m.parts if isinstance(p, ir.ToolResult)]
        assert [r.content == [ir.Text(PLACEHOLDER)] for r in results] == [True] * 4 + [False]
        thinking = [m for m in edited.messages if any(isinstance(p, ir.Reasoning) for p in m.parts)]
        assert len(thinking) == 1 and thinking[0] is request.messages[-3]

    run(scenario())


def test_an_anthropic_upstream_does_its_own_edits() -> None:
    async def scenario() -> None:
        request = anthropic_request([ir.ClearToolUses(trigger=("tool_uses", 1), keep=0)])
        edited, applied = await manage(request, AnthropicProvider("claude", "http://127.0.0.1:9"), "m")
        assert edited is request and applied is None

    run(scenario())


def test_a_tool_loop_is_one_thinking_turn() -> None:
    async def scenario() -> None:
        request = ir.ChatRequest(model="m", messages=tool_loop(5, turns=False), dialect="anthropic",
                                 context=ir.ContextManagement(edits=[ir.ClearThinking(keep=1)]))
        edited, applied = await manage(request, OpenAIProvider("oa", "http://127.0.0.1:9"), "m")
        assert edited is request and applied == []

    run(scenario())


def test_truncation_keeps_system_and_the_last_turn_even_when_too_long() -> None:
    request = ir.ChatRequest(model="m", messages=tool_loop(3, turns=False), dialect="responses", max_tokens=100)
    assert truncate(request, 10**6) is request
    cut = truncate(request, 50)
    assert cut.messages == request.messages  # one user turn: nothing may go, the upstream answers for itself
    request.messages += [ir.Message("assistant", [ir.Text("done")]), ir.Message("user", [ir.Text("next")])]
    cut = truncate(request, 50)
    assert [m.role for m in cut.messages] == ["system", "user"] and cut.messages[-1].parts == [ir.Text("next")]


def test_context_windows_by_family() -> None:
    assert default_window("gpt-5-mini") == 400_000 and default_window("gpt-4.1-nano") == 1_047_576
    assert default_window("gpt-4o-mini") == 128_000 and default_window("gpt-4") == 8_192
    assert default_window("claude-sonnet-4-5") == 200_000 and default_window("models/gemini-2.5-pro") == 1_048_576
    assert default_window("llama3.2") == 128_000
    configured = OpenAIProvider("oa", "http://127.0.0.1:9", context_windows={"llama3.2": 8192})
    assert configured.context_window("llama3.2") == 8192 and configured.context_window("gpt-5") == 400_000


def test_context_window_config_is_checked() -> None:
    table = {"providers": {"oa": {"type": "openai", "context_window": {"llama3.2": 8192}}}}
    assert parse(table, {}, "test").providers["oa"].context_window == {"llama3.2": 8192}
    for bad in ({"llama3.2": "big"}, {"llama3.2": 0}, {"llama3.2": True}, 8192):
        with pytest.raises(ConfigError, match=r"providers\.oa\.context_window"):
            parse({"providers": {"oa": {"type": "openai", "context_window": bad}}}, {}, "test")
