#!/usr/bin/env python3
"""What the context engine costs a request, for the README: `context.manage` on Claude Code-shaped
conversations (thinking tool loops with long tool results, Claude Code's own system prompt and
tools from tests/fixtures/clients) of growing length, translated for a Chat upstream.

Two cases: `keep all` is what Claude Code sends on every request (`clear_thinking_20251015` with
`keep: "all"`: nothing to do); `clear` adds `clear_tool_uses_20250919` past a low input-token
trigger, so every request is counted whole and cleared.

    .venv/bin/python scripts/bench_context.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interlingua.adapters import ir  # noqa: E402
from interlingua.adapters.dialects.anthropic_request import decode_messages_request  # noqa: E402
from interlingua.adapters.providers.context import manage  # noqa: E402
from interlingua.adapters.providers.openai import OpenAIProvider  # noqa: E402
from interlingua.adapters.providers.tokens import estimate_tokens  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "clients" / "claude.tool-result-request.json"
RESULT = "a line of a source file that the agent read while it worked on the task\n" * 40
CASES = {
    "keep all": [{"type": "clear_thinking_20251015", "keep": "all"}],
    "clear": [{"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 1}},
              {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 1000}}],
}


def conversation(rounds: int, edits: list[object]) -> ir.ChatRequest:
    body = json.loads(FIXTURE.read_text())["body"]
    messages: list[object] = [body["messages"][0]]
    for i in range(rounds):
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": f"I should read file {i} next.", "signature": f"sig{i}"},
            {"type": "tool_use", "id": f"toolu_{i}", "name": "Read", "input": {"file_path": f"/src/f{i}.py"}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": f"{i}: {RESULT}"},
            *([{"type": "text", "text": "next task"}] if i % 5 == 4 else [])]})
    return decode_messages_request({**body, "messages": messages, "context_management": {"edits": edits}}, {})


async def timed(request: ir.ChatRequest, provider: OpenAIProvider, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await manage(request, provider, "gpt-x")
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def main() -> None:
    provider = OpenAIProvider("oa", "http://127.0.0.1:9")
    print("| rounds | input tokens (estimate) | keep all | clear |")
    print("|---|---|---|---|")
    for rounds in (10, 100, 400):
        row = [await timed(conversation(rounds, edits), provider, 20) for edits in CASES.values()]
        size = estimate_tokens(conversation(rounds, []))
        print(f"| {rounds} | {size:,} | {row[0] * 1000:.1f} µs | {row[1]:.1f} ms |")


if __name__ == "__main__":
    asyncio.run(main())
