"""Web search run by the gateway for a model whose upstream has none (a Chat Completions upstream),
through the search provider `[utilities] web_search` names (a fake SearXNG): the Responses
`web_search` tool, Anthropic's `web_search_20250305`, Gemini's `googleSearch` and a Chat client's
`web_search_options`, read by the
official SDKs whole and streamed, each search shown as the client's own API shows one; earlier
searches replayed; an upstream with its own search given the tool instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.fakes.search_upstream import FakeSearch
from tests.harness import (
    anthropic_client,
    anthropic_provider,
    chat_text,
    claude_message,
    client,
    gateway,
    gemini_client,
    provider,
    streamed_response,
)
from tests.support import async_test


def _tables(chat: str, search: str, **more: Any) -> dict[str, Any]:
    return {"providers": {"up": provider(chat, "gpt-x"), "web": {"type": "searxng", "url": search}, **more},
            "utilities": {"web_search": "web/default"}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_responses_client_searches_through_a_chat_model(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fo.FakeOpenAI(["gpt-x"]) as up, FakeSearch("searxng") as web, gateway(
                tmp_path, **_tables(up.url, web.url)) as (_, url):
            up.script(fo.tool_calls(fo.call("web_search", '{"query": "python async"}', id="call_1")),
                      fo.text("Use ", "asyncio."))
            asked: dict[str, Any] = {"model": "gpt-x", "input": "How do I write async Python?",
                                     "include": ["web_search_call.action.sources"],
                                     "tools": [{"type": "web_search", "filters": {"allowed_domains": ["python.org"]}}]}
            sdk = client(url)
            if stream:
                answer, kinds = await streamed_response(sdk, **asked)
                searched = kinds.index("response.web_search_call.searching")
                assert kinds[searched - 1:searched + 2] == ["response.web_search_call.in_progress",
                                                            "response.web_search_call.searching",
                                                            "response.web_search_call.completed"]
            else:
                answer = await sdk.responses.create(**asked)
            assert [item.type for item in answer.output] == ["web_search_call", "message"]
            call = answer.output[0]
            assert call.type == "web_search_call" and call.status == "completed"
            assert call.action.type == "search" and call.action.query == "python async"  # type: ignore[union-attr]
            sources = [s.url for s in call.action.sources or ()]  # type: ignore[union-attr]
            assert sources and all("python.org" in s for s in sources)  # the tool's domains
            assert "https://docs.python.org/3/library/asyncio.html" in sources
            assert answer.output_text == "Use asyncio."

            first, second = up.requests[-2].json, up.requests[-1].json
            assert [t["function"]["name"] for t in first["tools"]] == ["web_search"]
            told = second["messages"][-1]
            assert told["role"] == "tool" and told["tool_call_id"] == "call_1"
            assert told["content"].startswith("[1] ") and "https://docs.python.org/3/library/asyncio.html" in told[
                "content"] and "Asynchronous I/O in Python." in told["content"]
            assert "site:python.org" in web.requests[-1][2]["q"]  # SearXNG is asked with `site:`

            # the next turn, the item sent back: the search reaches the model as the call it was
            up.script(fo.text("Yes."))
            await sdk.responses.create(model="gpt-x", tools=asked["tools"], input=[
                {"role": "user", "content": "How do I write async Python?"},
                *[item.model_dump(exclude_none=True) for item in answer.output],
                {"role": "user", "content": "Sure?"}])
            replayed = up.requests[-1].json["messages"]
            assert replayed[1]["tool_calls"][0]["function"] == {"name": "web_search",
                                                               "arguments": '{"query":"python async"}'}
            assert "https://docs.python.org/3/library/asyncio.html" in replayed[2]["content"]

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_anthropic_client_searches_through_a_chat_model(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with fo.FakeOpenAI(["gpt-x"]) as up, FakeSearch("searxng") as web, gateway(
                tmp_path, **_tables(up.url, web.url)) as (_, url):
            up.script(fo.tool_calls(fo.call("web_search", '{"query": "python 3.14"}', id="call_1"),
                                    fo.call("web_search", '{"query": "python news"}', id="call_2")),
                      fo.text("It is out."))
            asked: dict[str, Any] = {"model": "gpt-x", "max_tokens": 200,
                                     "messages": [{"role": "user", "content": "Is Python 3.14 out?"}],
                                     "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1,
                                                "blocked_domains": ["wikipedia.org"]}]}
            sdk = anthropic_client(url)
            message = await claude_message(sdk.messages, stream, **asked)
            use, result, text = message.content
            assert use.type == "server_tool_use" and use.name == "web_search" and use.input == {"query": "python 3.14"}
            assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
            pages = result.content
            assert isinstance(pages, list) and pages and all("wikipedia" not in p.url for p in pages)
            assert {p.title for p in pages} >= {"Python 3.14 released"}
            assert text.type == "text" and text.text == "It is out."
            told = up.requests[-1].json["messages"][-2:]
            assert told[0]["tool_call_id"] == "call_1" and "Python 3.14 released" in told[0]["content"]
            assert told[1] == {"role": "tool", "tool_call_id": "call_2",
                               "content": "Error: Not called: the answer's max_tool_calls (1) is reached."}
            assert "tools" not in up.requests[-1].json  # max_uses spent: asked for an answer
            assert len(web.requests) == 1

            # sent back, the blocks are the search they were
            up.script(fo.text("Yes."))
            await sdk.messages.create(**{**asked, "messages": [
                *asked["messages"], {"role": "assistant", "content": [b.model_dump() for b in message.content]},
                {"role": "user", "content": "Sure?"}]})
            replayed = up.requests[-1].json["messages"]
            assert replayed[1]["tool_calls"][0]["function"]["arguments"] == '{"query":"python 3.14"}'
            assert "Python 3.14 released" in replayed[2]["content"] and replayed[3]["content"] == "It is out."

    scenario()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@async_test
async def test_a_chat_clients_web_search_options_are_searched_for_a_chat_model(tmp_path: Path, stream: bool) -> None:
    """A Chat client's `web_search_options` on a model that does not search itself: the gateway
    searches, and the client reads the answer (Chat's API shows no search)."""
    async with fo.FakeOpenAI(["gpt-x"]) as up, FakeSearch("searxng") as web, gateway(
            tmp_path, **_tables(up.url, web.url)) as (_, url):
        up.script(fo.tool_calls(fo.call("web_search", '{"query": "asyncio"}', id="call_1")),
                  fo.text("Use ", "asyncio."))
        text = await chat_text(client(url).chat.completions, stream, model="gpt-x", web_search_options={},
                               messages=[{"role": "user", "content": "Async Python?"}])
        assert text == "Use asyncio."
        first, second = up.requests[-2].json, up.requests[-1].json
        assert [t["function"]["name"] for t in first["tools"]] == ["web_search"]
        assert "web_search_options" not in first
        told = second["messages"][-1]
        assert told["role"] == "tool" and "https://docs.python.org/3/library/asyncio.html" in told["content"]
        assert web.requests[-1][2]["q"] == "asyncio"


@async_test
async def test_openais_search_models_are_given_the_search_to_make(tmp_path: Path) -> None:
    """OpenAI's search models on Chat Completions search themselves, and take no function tool:
    a Chat client's `web_search_options` go to them as asked, and the gateway searches nothing."""
    async with fo.FakeOpenAI(["gpt-4o-search-preview"]) as up, FakeSearch("searxng") as web, gateway(
            tmp_path, **{**_tables(up.url, web.url), "providers": {
                "up": provider(up.url, "gpt-4o-search-preview"), "web": {"type": "searxng", "url": web.url}}}) as (
            _, url):
        up.script(fo.text("Found it."))
        answer = await client(url).chat.completions.create(
            model="gpt-4o-search-preview", messages=[{"role": "user", "content": "News?"}],
            web_search_options={"search_context_size": "low"})
        assert answer.choices[0].message.content == "Found it."
        assert up.requests[-1].json["web_search_options"] == {"search_context_size": "low"}
        assert "tools" not in up.requests[-1].json and web.requests == []


@async_test
async def test_a_gemini_client_reads_the_search_as_grounding(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as up, FakeSearch("searxng") as web, gateway(
            tmp_path, **_tables(up.url, web.url)) as (_, url):
        up.script(fo.tool_calls(fo.call("web_search", '{"query": "asyncio"}', id="call_1")), fo.text("See asyncio."))
        answer = await gemini_client(url).aio.models.generate_content(
            model="gpt-x", contents="Async Python?",
            config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]))
        assert answer.text == "See asyncio."
        grounding = (answer.candidates or [])[0].grounding_metadata
        assert grounding is not None and grounding.web_search_queries == ["asyncio"]
        assert grounding.grounding_chunks and grounding.grounding_chunks[0].web is not None
        assert grounding.grounding_chunks[0].web.uri == "https://docs.python.org/3/library/asyncio.html"


@async_test
async def test_a_failed_search_and_an_upstream_with_its_own(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as up, fa.FakeAnthropic() as claude, FakeSearch("searxng") as web, gateway(
            tmp_path, **_tables(up.url, web.url, an=anthropic_provider(claude.url, "claude-x"))) as (_, url):
        sdk = client(url)
        web.fail(503)
        up.script(fo.tool_calls(fo.call("web_search", '{"query": "x"}', id="call_1")), fo.text("No luck."))
        answer = await sdk.responses.create(model="gpt-x", input="x?", tools=[{"type": "web_search"}])
        assert [(i.type, getattr(i, "status", None)) for i in answer.output] == [("web_search_call", "failed"),
                                                                                 ("message", "completed")]
        told = up.requests[-1].json["messages"][-1]["content"]
        assert told.startswith("Error: The search failed: ")  # the model may say so, or search again
        # Streamed, the failed search ends without `completed`, and with no `failed` event: the SDK
        # has none for a web search (only an MCP call's failure has one).
        web.fail(503)
        up.script(fo.tool_calls(fo.call("web_search", '{"query": "x"}', id="call_2")), fo.text("No luck."))
        streamed, kinds = await streamed_response(sdk, model="gpt-x", input="x?", tools=[{"type": "web_search"}])
        searched = kinds.index("response.web_search_call.searching")
        assert kinds[searched - 1:searched + 2] == ["response.web_search_call.in_progress",
                                                    "response.web_search_call.searching", "response.output_item.done"]
        assert not any(kind.endswith(".failed") for kind in kinds), kinds
        assert [(i.type, i.status) for i in streamed.output] == [("web_search_call", "failed"),
                                                                ("message", "completed")]

        # Claude searches for itself: its own tool, and the gateway's search provider is not asked
        searched = len(web.requests)
        await sdk.responses.create(model="claude-x", input="x?", tools=[{"type": "web_search"}])
        assert claude.requests[-1].json["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
        assert len(web.requests) == searched
