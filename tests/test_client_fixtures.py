"""What Claude Code really sends (tests/fixtures/clients), replayed through the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.asgi import run
from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_provider, gateway, provider
from tests.support import sse_events

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "clients"
CLAUDE = ["claude.first-request.json", "claude.tool-result-request.json"]
_DROPPED_HEADERS = {"host", "content-length", "authorization", "x-api-key", "accept-encoding"}


def load(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / name).read_bytes())


async def replay(url: str, fixture: dict[str, Any]) -> httpx.Response:
    headers = {k: v for k, v in fixture["headers"].items() if k not in _DROPPED_HEADERS}
    path = fixture["path"] + ("?" + fixture["query"] if fixture["query"] else "")
    async with httpx.AsyncClient(base_url=url, timeout=10) as raw:
        return await raw.post(path, content=orjson.dumps(fixture["body"]), headers=headers)


def events(response: httpx.Response) -> list[str]:
    """The event names of a streamed answer, each frame having one."""
    names = [frame.name for frame in sse_events(response.content)]
    assert None not in names, names[:3]
    return names  # type: ignore[return-value]  # no None, as just asserted


@pytest.mark.parametrize("name", CLAUDE)
def test_claude_code_on_an_anthropic_upstream_passes_through(tmp_path: Path, name: str) -> None:
    fixture = load(name)

    async def scenario() -> None:
        async with fa.FakeAnthropic(require_thinking_in_tool_turns=False) as up, gateway(
                tmp_path, providers={"claude": anthropic_provider(up.url)},
                models={fixture["body"]["model"]: {"targets": ["claude/claude-upstream"]}}) as (_, url):
            response = await replay(url, fixture)
            assert response.status_code == 200, response.text
            assert events(response)[0] == "message_start" and events(response)[-1] == "message_stop"
            sent = up.requests[-1]
            assert sent.json == {**fixture["body"], "model": "claude-upstream"}
            assert sent.headers["anthropic-beta"] == fixture["headers"]["anthropic-beta"]

    run(scenario())


@pytest.mark.parametrize("name", CLAUDE)
def test_claude_code_on_an_openai_upstream_is_translated(tmp_path: Path, name: str) -> None:
    fixture = load(name)
    body = fixture["body"]

    async def scenario() -> None:
        async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url)},
                                                  models={body["model"]: {"targets": ["oa/gpt-x"]}}) as (_, url):
            up.script(fo.Reply(content=["Done."], tool_calls=[fo.call("Read", '{"file_path":', ' "/a"}')]))
            response = await replay(url, fixture)
            assert response.status_code == 200, response.text
            names = events(response)
            assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
            assert "content_block_start" in names
            sent = up.requests[-1].json
            assert sent["model"] == "gpt-x" and sent["stream"] is True
            assert sent["max_completion_tokens"] == 32000 and sent["reasoning_effort"] == "high"
            assert sent["user"] == body["metadata"]["user_id"]
            assert [m["role"] for m in sent["messages"]][0] == "system"
            assert len(sent["tools"]) == len(body["tools"])
            assert all(t["type"] == "function" and "parameters" in t["function"] for t in sent["tools"])
            assert "cache_control" not in orjson.dumps(sent).decode()
            if name == "claude.tool-result-request.json":
                call_id = body["messages"][1]["content"][1]["id"]
                assert sent["messages"][-1] == {"role": "tool", "tool_call_id": call_id,
                                                "content": body["messages"][2]["content"][0]["content"]}

    run(scenario())
