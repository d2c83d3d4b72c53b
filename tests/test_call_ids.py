"""Tool-call ids on a Mistral model (`adapters/providers/call_ids.py`): Claude Code's and Codex's
ids, which Mistral's API refuses, go to it as nine letters and digits, a call and its result still
paired and the same from turn to turn; Mistral's own ids, and every id to other models, as they were."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_client, client, gateway, provider
from tests.support import async_test

NINE = re.compile(r"[A-Za-z0-9]{9}")
CLAUDE_ID = "toolu_01A09q90qw90lq917835lq9"
HISTORY: Any = [
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": CLAUDE_ID, "name": "weather",
                                       "input": {"city": "Oslo"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": CLAUDE_ID, "content": "Rain."}]}]
TOOLS: Any = [{"name": "weather", "description": "The weather", "input_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}}}]


def _ids(body: dict[str, Any]) -> tuple[str, str]:
    """The assistant's call id and the tool message's, as the upstream got them."""
    call = next(m for m in body["messages"] if m.get("tool_calls"))["tool_calls"][0]["id"]
    return call, next(m for m in body["messages"] if m["role"] == "tool")["tool_call_id"]


@async_test
async def test_claude_codes_ids_go_to_mistral_as_nine_letters_and_digits(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["mistral-large-latest", "gpt-x"]) as up, gateway(tmp_path, providers={
            "up": provider(up.url, "mistral-large-latest", "gpt-x")}) as (_, url):
        claude = anthropic_client(url)
        for _ in range(2):
            await claude.messages.create(model="mistral-large-latest", max_tokens=50, tools=TOOLS, messages=HISTORY)
        first, again = _ids(up.requests[-2].json), _ids(up.requests[-1].json)
        assert NINE.fullmatch(first[0]) and first[0] == first[1] == again[0] == again[1]
        await claude.messages.create(model="gpt-x", max_tokens=50, tools=TOOLS, messages=HISTORY)
        assert _ids(up.requests[-1].json) == (CLAUDE_ID, CLAUDE_ID)


@async_test
async def test_mistrals_own_ids_and_a_responses_clients_go_as_mistral_takes_them(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["devstral-small"]) as up, gateway(tmp_path, providers={
            "up": provider(up.url, "devstral-small")}) as (_, url):
        sdk = client(url)
        for call_id in ("D681PevKs", "call_8bE2kLw1Y0qc"):
            await sdk.responses.create(model="devstral-small", input=[
                {"role": "user", "content": "Weather in Oslo?"},
                {"type": "function_call", "call_id": call_id, "name": "weather", "arguments": '{"city": "Oslo"}'},
                {"type": "function_call_output", "call_id": call_id, "output": "Rain."}])
            sent = _ids(up.requests[-1].json)
            assert sent[0] == sent[1] and NINE.fullmatch(sent[0])
            assert (sent[0] == call_id) == (call_id == "D681PevKs")  # Mistral's own kept as it was
