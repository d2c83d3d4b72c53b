"""One long text stream from an OpenAI-compatible upstream, passed through to an OpenAI client and
translated for each other client dialect: every frame well formed, the text whole, the finish and
the usage carried over.

Why: these are the checks the benchmark used to run on every stream it timed (scripts/bench). Kept
here, a broken translation fails the suite instead of being counted as a benchmark error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.fakes import openai_upstream as fo
from tests.harness import gateway, provider
from tests.support import async_test, responses_events, responses_items, sse_data, sse_events

TOKENS = [f" tok{i}" for i in range(1, 50)]  # the benchmark upstream's 49 text chunks
TEXT = "".join(TOKENS)
USAGE = fo.Usage(prompt_tokens=12, completion_tokens=len(TOKENS))
HELLO = "Say hello."


async def translated(tmp_path: Path, path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    """The body a client gets for the upstream's stream of TOKENS, asked for on `path`."""
    async with fo.FakeOpenAI() as up, gateway(tmp_path, providers={"oa": provider(up.url, "gpt-x")}) as (_, url):
        up.script(fo.text(*TOKENS, usage=USAGE))
        async with httpx.AsyncClient(base_url=url, timeout=10) as raw:
            response = await raw.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        assert up.requests[-1].json["stream"] is True
        return response.content


@async_test
async def test_openai_client(tmp_path: Path) -> None:
    body = {"model": "gpt-x", "messages": [{"role": "user", "content": HELLO}], "max_tokens": 64, "stream": True,
            "stream_options": {"include_usage": True}}
    raw = await translated(tmp_path, "/v1/chat/completions", body, {})

    *chunks, done = sse_data(raw)
    assert done == "[DONE]"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == TEXT
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(TOKENS)


@async_test
async def test_anthropic_client(tmp_path: Path) -> None:
    body = {"model": "gpt-x", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": HELLO}]}
    raw = await translated(tmp_path, "/v1/messages", body, {"anthropic-version": "2023-06-01"})

    events = [(frame.name, frame.json()) for frame in sse_events(raw)]
    assert all(name == payload["type"] for name, payload in events)
    assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
    assert [p["content_block"]["type"] for n, p in events if n == "content_block_start"] == ["text"]
    deltas = [p["delta"] for n, p in events if n == "content_block_delta"]
    assert all(d["type"] == "text_delta" for d in deltas) and "".join(d["text"] for d in deltas) == TEXT
    (final,) = [p for n, p in events if n == "message_delta"]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"]["output_tokens"] == len(TOKENS)


@async_test
async def test_gemini_client(tmp_path: Path) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": HELLO}]}], "generationConfig": {"maxOutputTokens": 64}}
    raw = await translated(tmp_path, "/v1beta/models/gpt-x:streamGenerateContent?alt=sse", body,
                           {"x-goog-api-key": "k"})

    chunks = sse_data(raw, b"\r\n\r\n")
    assert all(len(c["candidates"]) == 1 and c["candidates"][0]["content"]["role"] == "model" for c in chunks)
    texts = [p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"]
             if "text" in p and not p.get("thought")]
    assert "".join(texts) == TEXT
    # The finish reason, and the usage, come with the last chunk only.
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None] * (len(chunks) - 1) + ["STOP"]
    assert len({c["responseId"] for c in chunks}) == 1
    assert chunks[-1]["usageMetadata"] == {"promptTokenCount": 12, "candidatesTokenCount": len(TOKENS),
                                           "totalTokenCount": 12 + len(TOKENS)}


RESPONSES_ORDER = (["response.created", "response.in_progress", "response.output_item.added",
                    "response.content_part.added"]
                   + ["response.output_text.delta"] * len(TOKENS)
                   + ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                      "response.completed"])


@async_test
async def test_responses_client(tmp_path: Path) -> None:
    body = {"model": "gpt-x", "input": HELLO, "stream": True, "max_output_tokens": 64}
    raw = await translated(tmp_path, "/v1/responses", body, {"authorization": "Bearer x"})

    events = responses_events(raw)
    assert [e["type"] for e in events] == RESPONSES_ORDER
    (item,) = responses_items(events)
    assert (item["type"], item["status"]) == ("message", "completed")
    assert {e["item_id"] for e in events if "item_id" in e} == {item["id"]}
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == TEXT
    by_type = {e["type"]: e for e in events}
    assert by_type["response.output_text.done"]["text"] == TEXT
    assert by_type["response.content_part.done"]["part"]["text"] == TEXT
    responses = [e["response"] for e in events if "response" in e]
    assert len({r["id"] for r in responses}) == 1 and responses[0]["id"].startswith("resp_")
    assert [r["status"] for r in responses] == ["in_progress", "in_progress", "completed"]
    final = responses[-1]
    assert final["output"] == [item] and final["output"][0]["content"][0]["text"] == TEXT
    usage = final["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (
        12, len(TOKENS), 12 + len(TOKENS))
