"""Web fetch run by the gateway for a model whose upstream has none (a Chat Completions upstream),
with its own fetcher (`[fetch] web_fetch`): Anthropic's `web_fetch_20250910` and Gemini's
`urlContext`, read by the official SDKs whole and streamed, each fetch shown to a Claude client as
its API shows one; the tool's domains and uses applied; earlier fetches replayed, and told as text
when the conversation goes to Claude; an upstream with a fetch of its own given the tool instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from google.genai import types

from interlingua.adapters.dialects.anthropic_request import decode_messages_request
from interlingua.adapters.dialects.gemini_request import decode_generate_request
from tests.fakes import anthropic_upstream as fa
from tests.fakes import openai_upstream as fo
from tests.harness import anthropic_client, anthropic_provider, claude_message, gateway, gemini_client, provider
from tests.support import async_test, serving, upstream_body

PAGE = ("<html><head><title>Bergen</title></head><body><h1>Været i Bergen</h1>"
        "<p>Det regner i dag, og i morgen.</p></body></html>")
SAID = "Det regner i dag, og i morgen."
TOOL = {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2}


@asynccontextmanager
async def _site() -> AsyncIterator[str]:
    """A web page on loopback (which `[fetch] allow_networks` lets the gateway reach)."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/bergen", page)
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


def _tables(chat: str, **fetch: Any) -> dict[str, Any]:
    return {"providers": {"up": provider(chat, "gpt-x")},
            "fetch": {"allow_networks": ["127.0.0.1/32"], "web_fetch": True, **fetch}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_anthropic_client_fetches_through_a_chat_model(tmp_path: Path, stream: bool) -> None:
    @async_test
    async def scenario() -> None:
        async with _site() as site, fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, **_tables(up.url)) as (_, url):
            page = f"{site}/bergen"
            up.script(fo.tool_calls(fo.call("web_fetch", f'{{"url": "{page}"}}', id="call_1")), fo.text("It rains."))
            asked: dict[str, Any] = {"model": "gpt-x", "max_tokens": 200, "tools": [TOOL],
                                     "messages": [{"role": "user", "content": f"What does {page} say?"}]}
            sdk = anthropic_client(url)
            message = await claude_message(sdk.messages, stream, **asked)
            use, result, text = message.content
            assert use.type == "server_tool_use" and use.name == "web_fetch" and use.input == {"url": page}
            assert result.type == "web_fetch_tool_result" and result.tool_use_id == use.id
            assert result.content.type == "web_fetch_result" and result.content.url == page
            document = result.content.content
            assert document.source.type == "text" and SAID in document.source.data
            assert text.type == "text" and text.text == "It rains."

            first, second = up.requests[-2].json, up.requests[-1].json
            assert [t["function"]["name"] for t in first["tools"]] == ["web_fetch"]
            told = second["messages"][-1]
            assert told["role"] == "tool" and told["tool_call_id"] == "call_1" and SAID in told["content"]

            # sent back, the blocks are the fetch they were
            up.script(fo.text("Yes."))
            await sdk.messages.create(**{**asked, "messages": [
                *asked["messages"], {"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                                                       for b in message.content]},
                {"role": "user", "content": "Sure?"}]})
            replayed = up.requests[-1].json["messages"]
            assert replayed[1]["tool_calls"][0]["function"]["name"] == "web_fetch"
            assert page in replayed[1]["tool_calls"][0]["function"]["arguments"] and SAID in replayed[2]["content"]

    scenario()


@async_test
async def test_the_tools_domains_and_uses_hold(tmp_path: Path) -> None:
    """A page outside `allowed_domains` is not fetched: the client sees `url_not_allowed`, the model
    is told; a call past `max_uses` is not made."""
    async with _site() as site, fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, **_tables(up.url)) as (_, url):
        page = f"{site}/bergen"
        up.script(fo.tool_calls(fo.call("web_fetch", f'{{"url": "{page}"}}', id="call_1"),
                                fo.call("web_fetch", '{"url": "https://example.com/x"}', id="call_2")),
                  fo.text("Cannot."))
        message = await anthropic_client(url).messages.create(
            model="gpt-x", max_tokens=200, messages=[{"role": "user", "content": f"Read {page}"}],
            tools=[{**TOOL, "max_uses": 1, "allowed_domains": ["yr.no"]}])  # type: ignore[list-item]
        use, result, text = message.content
        assert result.type == "web_fetch_tool_result" and result.content.type == "web_fetch_tool_result_error"
        assert result.content.error_code == "url_not_allowed"
        told = up.requests[-1].json["messages"][-2:]
        assert "could not be fetched (url_not_allowed)" in told[0]["content"]
        assert "max_tool_calls (1)" in told[1]["content"]


async def _gemini_asks(url: str, model: str, page: str, stream: bool) -> tuple[str, types.Candidate]:
    """What a Gemini client with URL context reads: the text, and the (last) candidate."""
    models = gemini_client(url).aio.models
    ask: dict[str, Any] = {"model": model, "contents": f"What does {page} say?",
                           "config": types.GenerateContentConfig(tools=[types.Tool(url_context=types.UrlContext())])}
    chunks = [chunk async for chunk in await models.generate_content_stream(**ask)] if stream else [
        await models.generate_content(**ask)]
    *_, last = [candidate for chunk in chunks for candidate in chunk.candidates or ()]
    return "".join(chunk.text or "" for chunk in chunks), last


def _retrieved(candidate: types.Candidate, *pages: str) -> None:
    """The candidate's URL context names each page as retrieved."""
    assert candidate.url_context_metadata is not None
    success = types.UrlRetrievalStatus.URL_RETRIEVAL_STATUS_SUCCESS
    assert candidate.url_context_metadata.url_metadata == [
        types.UrlMetadata(retrieved_url=page, url_retrieval_status=success) for page in pages]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@async_test
async def test_a_gemini_clients_url_context_is_fetched_for_a_chat_model(tmp_path: Path, stream: bool) -> None:
    async with _site() as site, fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, **_tables(up.url)) as (_, url):
        page = f"{site}/bergen"
        up.script(fo.tool_calls(fo.call("web_fetch", f'{{"url": "{page}"}}', id="call_1")), fo.text("It rains."))
        text, candidate = await _gemini_asks(url, "gpt-x", page, stream)
        assert text == "It rains."
        _retrieved(candidate, page)
        assert SAID in up.requests[-1].json["messages"][-1]["content"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@async_test
async def test_a_gemini_client_reads_claudes_fetch_as_its_url_context(tmp_path: Path, stream: bool) -> None:
    """Claude reads the page itself (Gemini's URL context is its web fetch); the Gemini client is
    told which page it read, as Gemini's own URL context tells."""
    page = "https://yr.no/bergen"
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        up.script(fa.reply(*fa.web_fetch(page, SAID, "Bergen"), fa.say("It rains.")))
        text, candidate = await _gemini_asks(url, "claude-x", page, stream)
        assert text == "It rains."
        _retrieved(candidate, page)
        assert up.requests[-1].json["tools"] == [ASKED["anthropic"]]


@async_test
async def test_off_the_tool_is_left_out_as_before(tmp_path: Path) -> None:
    async with fo.FakeOpenAI(["gpt-x"]) as up, gateway(tmp_path, providers={"up": provider(up.url, "gpt-x")}) as (
            _, url):
        up.script(fo.text("I cannot fetch."))
        reply = await anthropic_client(url).messages.with_raw_response.create(
            model="gpt-x", max_tokens=50, tools=[TOOL],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "Read https://yr.no"}])
        assert "tools" not in up.requests[-1].json
        assert reply.headers["x-interlingua-omitted-tools"] == "web_fetch_20250910"


ASKED = {"anthropic": {"type": "web_fetch_20250910", "name": "web_fetch"}, "gemini": {"urlContext": {}}}


@pytest.mark.parametrize(("client", "upstream"), [("gemini", "anthropic"), ("anthropic", "gemini")])
def test_claude_and_gemini_are_given_each_others_fetch(client: str, upstream: str) -> None:
    """Gemini's URL context is Claude's web fetch and the other way round: each upstream reads the
    pages itself (Gemini CLI's web_fetch on Claude read none, and answered from memory)."""
    request = (decode_generate_request({"contents": [{"role": "user", "parts": [{"text": "Read https://yr.no"}]}],
                                        "tools": [{"urlContext": {}}]}, {"model": "m", "method": "generateContent"})
               if client == "gemini" else
               decode_messages_request({"model": "m", "max_tokens": 10, "tools": [TOOL],
                                        "messages": [{"role": "user", "content": "Read https://yr.no"}]}, {}))
    body = upstream_body(request, upstream)
    assert body["tools"] == [ASKED[upstream]]


@async_test
async def test_a_fetch_the_gateway_made_goes_to_claude_as_text(tmp_path: Path) -> None:
    from interlingua.adapters.dialects import web_fetch

    made = web_fetch.to_anthropic(web_fetch.Fetch("https://yr.no/bergen", SAID, "Bergen"))
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        up.script(fa.text("Still wet."))
        await anthropic_client(url).messages.create(model="claude-x", max_tokens=50, messages=[
            {"role": "user", "content": "Read https://yr.no/bergen"}, {"role": "assistant", "content": made},
            {"role": "user", "content": "And now?"}])
        (sent,) = up.requests[-1].json["messages"][1]["content"]
        assert sent["type"] == "text" and sent["text"].startswith("(Fetched a web page: Bergen\nhttps://yr.no/bergen")
        assert SAID in sent["text"]
