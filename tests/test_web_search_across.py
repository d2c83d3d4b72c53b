"""An upstream's own web search reaches a client of another dialect as that client's API shows a
search: Claude's `server_tool_use` and `web_search_tool_result` blocks, a Responses
`web_search_call` item and Gemini's `groundingMetadata`, each to the other two, whole and streamed,
read by the official SDKs' types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pydantic
import pytest
from google.genai import types

from interlingua.adapters.dialects import ids
from interlingua.adapters.dialects.anthropic import (
    MessagesStreamDecoder,
    MessagesStreamEncoder,
    decode_messages_response,
    encode_messages_response,
)
from interlingua.adapters.dialects.gemini import (
    GenerateStreamDecoder,
    GenerateStreamEncoder,
    decode_generate_response,
    encode_generate_response,
)
from interlingua.adapters.dialects.openai_responses_response import decode_responses_response
from interlingua.adapters.dialects.openai_responses_stream import ResponsesStreamDecoder
from tests.fakes import anthropic_upstream as fa
from tests.harness import anthropic_client, anthropic_provider, client, gateway
from tests.support import async_test, relayed, sse_body, sse_events, upstream_body

PAGE = ("https://yr.no/oslo", "Yr")
CLAUDE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
          "usage": {"input_tokens": 5, "output_tokens": 5}, "content": [
              {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "oslo"}},
              {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
                  {"type": "web_search_result", "url": PAGE[0], "title": PAGE[1], "encrypted_content": "e",
                   "page_age": None}]},
              {"type": "text", "text": "It is cold.", "citations": [
                  {"type": "web_search_result_location", "url": PAGE[0], "title": PAGE[1], "cited_text": "cold",
                   "encrypted_index": "x"}]}]}
GEMINI = {"candidates": [{"content": {"role": "model", "parts": [{"text": "It is cold."}]}, "finishReason": "STOP",
                          "index": 0, "groundingMetadata": {
                              "webSearchQueries": ["oslo"],
                              "groundingChunks": [{"web": {"uri": PAGE[0], "title": PAGE[1]}}]}}],
          "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10},
          "modelVersion": "gemini-x", "responseId": "r1"}
SEARCH_ITEM = {"type": "web_search_call", "id": "ws_1", "status": "completed",
               "action": {"type": "search", "query": "oslo", "sources": [{"type": "url", "url": PAGE[0]}]}}
RESPONSES = {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-x",
             "output": [SEARCH_ITEM, {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                                      "content": [{"type": "output_text", "text": "It is cold.", "annotations": [],
                                                   "logprobs": []}]}],
             "usage": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}}
UPSTREAMS = {"anthropic": lambda: decode_messages_response(CLAUDE), "gemini": lambda: decode_generate_response(GEMINI),
             "responses": lambda: decode_responses_response(RESPONSES)}


def _claude_reads(use: Any, result: Any, titled: bool) -> None:
    assert use.type == "server_tool_use" and use.name == "web_search" and use.input == {"query": "oslo"}
    assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
    assert [(r.url, r.title) for r in result.content] == [PAGE if titled else (PAGE[0], "yr.no")]  # its host


def _gemini_reads(grounding: types.GroundingMetadata | None) -> None:
    assert grounding is not None and grounding.web_search_queries == ["oslo"]
    assert [c.web.uri for c in grounding.grounding_chunks or () if c.web] == [PAGE[0]]


@pytest.mark.parametrize("upstream", ["gemini", "responses"])
def test_a_claude_client_reads_another_upstreams_search(upstream: str) -> None:
    message = anthropic.types.Message.model_validate(encode_messages_response(UPSTREAMS[upstream]()))
    use, result, text = message.content
    _claude_reads(use, result, titled=upstream == "gemini")  # a Responses source has no title
    assert text.type == "text" and text.text == "It is cold."


@pytest.mark.parametrize("upstream", ["anthropic", "responses"])
def test_a_gemini_client_reads_another_upstreams_search(upstream: str) -> None:
    answer = types.GenerateContentResponse.model_validate(encode_generate_response(UPSTREAMS[upstream]()))
    grounding = (answer.candidates or [])[0].grounding_metadata
    _gemini_reads(grounding)
    assert answer.text == "It is cold."
    if upstream == "anthropic":  # Claude's citation of the page: a support naming it
        support = (grounding.grounding_supports or [])[0]  # type: ignore[union-attr]
        assert support.segment is not None and (support.segment.start_index, support.segment.end_index) == (
            0, len(b"It is cold."))
        assert support.grounding_chunk_indices == [0]


# Streams ---------------------------------------------------------------------------------------------


CLAUDE_STREAM = sse_body([
    {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                                          "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1",
                                                                  "name": "web_search", "input": {}}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"query": '}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '"oslo"}'}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": CLAUDE["content"][1]},  # type: ignore[index]
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "It is cold."}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
    {"type": "message_stop"}])
GEMINI_STREAM = sse_body([{**GEMINI, "candidates": [{"content": {"role": "model", "parts": [{"text": "It is cold."}]},
                                                 "index": 0}]},
                      {**GEMINI, "candidates": [{**GEMINI["candidates"][0],  # type: ignore[index]
                                                 "content": {"role": "model", "parts": [{"text": ""}]}}]}], named=False)
RESPONSES_STREAM = sse_body([
    {"type": "response.created", "sequence_number": 0, "response": {**RESPONSES, "status": "in_progress",
                                                                    "output": [], "usage": None}},
    {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
     "item": {**SEARCH_ITEM, "status": "in_progress"}},
    {"type": "response.output_item.done", "sequence_number": 2, "output_index": 0, "item": SEARCH_ITEM},
    {"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 1,
     "content_index": 0, "delta": "It is cold.", "logprobs": []},
    {"type": "response.completed", "sequence_number": 4, "response": RESPONSES}])
STREAMS = {"anthropic": (MessagesStreamDecoder, CLAUDE_STREAM), "gemini": (GenerateStreamDecoder, GEMINI_STREAM),
           "responses": (ResponsesStreamDecoder, RESPONSES_STREAM)}


def _relayed(upstream: str, encoder: Any) -> bytes:
    decoder, stream = STREAMS[upstream]
    return relayed(decoder(), stream, encoder)


def _data(stream: bytes) -> list[dict[str, Any]]:
    return [event.json() for event in sse_events(stream, b"\r\n\r\n" if stream.endswith(b"\r\n\r\n") else b"\n\n")]


@pytest.mark.parametrize("upstream", ["gemini", "responses"])
def test_a_streaming_claude_client_reads_another_upstreams_search(upstream: str) -> None:
    read = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
    events = [read.validate_python(e) for e in _data(_relayed(upstream, MessagesStreamEncoder()))]
    blocks = [e.content_block for e in events if e.type == "content_block_start"]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    # Gemini tells its search on its last chunk, after the text
    assert [b.type for b in blocks] == (["text", "server_tool_use", "web_search_tool_result"] if upstream == "gemini"
                                        else ["server_tool_use", "web_search_tool_result", "text"])
    _claude_reads(*[b for b in blocks if b.type != "text"], titled=upstream == "gemini")
    assert text == "It is cold."


@pytest.mark.parametrize("upstream", ["anthropic", "responses"])
def test_a_streaming_gemini_client_reads_another_upstreams_search(upstream: str) -> None:
    chunks = [types.GenerateContentResponse.model_validate(c)
              for c in _data(_relayed(upstream, GenerateStreamEncoder(array=False)))]
    _gemini_reads((chunks[-1].candidates or [])[0].grounding_metadata)  # on the last chunk, as Gemini sends it
    assert "".join(c.text or "" for c in chunks) == "It is cold."


def test_a_streaming_claude_client_on_claude_keeps_the_search_blocks_whole() -> None:
    """A translated Claude stream (a hosted tool's round, say) passes Claude's own blocks on whole."""
    starts = [e["content_block"] for e in _data(_relayed("anthropic", MessagesStreamEncoder()))
              if e["type"] == "content_block_start"]
    assert starts[:2] == [{**CLAUDE["content"][0]}, CLAUDE["content"][1]]  # type: ignore[index]


@async_test
async def test_a_search_another_upstream_made_goes_to_claude_as_text(tmp_path: Path) -> None:
    """Claude takes back only its own searches (their encrypted pages): one a Gemini model made,
    shown to the client as Anthropic's blocks and sent back, reaches Claude as what it found."""
    from interlingua.adapters.providers.seal import PREFIX

    assert ids.MARK == PREFIX  # the one look for sealed values in a body finds the pairs too
    made = encode_messages_response(decode_generate_response(GEMINI))["content"]
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        up.script(fa.text("Still cold."))
        await anthropic_client(url).messages.create(model="claude-x", max_tokens=50, messages=[
            {"role": "user", "content": "Weather in Oslo?"}, {"role": "assistant", "content": made},
            {"role": "user", "content": "And now?"}])
        sent = up.requests[-1].json["messages"][1]["content"]
        assert sent == [{"type": "text", "text": "(Searched the web for 'oslo': found Yr https://yr.no/oslo.)"},
                        {"type": "text", "text": "It is cold."}]


@pytest.mark.parametrize("upstream", ["anthropic", "gemini"])
def test_a_streaming_responses_client_reads_another_upstreams_search(upstream: str) -> None:
    """A Claude stream that searched reached a Responses client as an error (its search's
    `input_json_delta` was taken for a tool call's); now each search is a `web_search_call`."""
    import openai

    from interlingua.adapters.dialects.openai_responses_stream import ResponsesStreamEncoder

    read = pydantic.TypeAdapter(openai.types.responses.ResponseStreamEvent)
    events = [read.validate_python(e) for e in _data(_relayed(upstream, ResponsesStreamEncoder(None)))]
    done = [e.item for e in events if e.type == "response.output_item.done"]
    search = next(item for item in done if item.type == "web_search_call")
    assert search.action.query == "oslo" and [s.url for s in search.action.sources or ()] == [PAGE[0]]  # type: ignore[union-attr]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "It is cold."
    assert events[-1].type == "response.completed"


# Chat's web_search_options -------------------------------------------------------------------------------

PLACE = {"city": "Bergen", "country": "NO", "timezone": "Europe/Oslo"}
OPTIONS = {"search_context_size": "low", "user_location": {"type": "approximate", "approximate": PLACE}}
ASKED = {"anthropic": {"type": "web_search_20250305", "name": "web_search",
                       "user_location": {"type": "approximate", **PLACE}},
         "responses": {"type": "web_search", "user_location": {"type": "approximate", **PLACE}},
         "gemini": {"googleSearch": {}}}  # Gemini's search takes no location


@pytest.mark.parametrize("upstream", list(ASKED))
def test_a_chat_clients_web_search_options_are_another_upstreams_search(upstream: str) -> None:
    """They were a 400 on any upstream but OpenAI's; now each is asked its own search, with the
    user's location where it takes one."""
    from interlingua.adapters.dialects.openai_chat_request import decode_chat_request

    request = decode_chat_request({"model": "m", "messages": [{"role": "user", "content": "Weather in Bergen?"}],
                                   "web_search_options": OPTIONS})
    assert upstream_body(request, upstream)["tools"] == [ASKED[upstream]]


@async_test
async def test_a_chat_client_asks_claude_to_search_and_reads_its_citations(tmp_path: Path) -> None:
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        answer = fa.reply(fa.say("It is wet in ", "Bergen.", citations=(fa.cited(PAGE[0], PAGE[1], "Rain"),)))
        up.script(answer)
        message = (await client(url).chat.completions.create(
            model="claude-x", messages=[{"role": "user", "content": "Weather in Bergen?"}],
            web_search_options=OPTIONS)).choices[0].message  # type: ignore[arg-type]
        assert up.requests[-1].json["tools"] == [ASKED["anthropic"]]
        (note,) = message.annotations or []
        assert (note.url_citation.url, note.url_citation.title) == PAGE
        assert message.content is not None and message.content[
            note.url_citation.start_index:note.url_citation.end_index] == "It is wet in Bergen."


DOMAINS = {  # each client's search tool limited to docs.python.org, or kept off pinterest.com
    "responses": ({"type": "web_search", "filters": {"allowed_domains": ["docs.python.org"]}}, None),
    "anthropic": ({"type": "web_search_20250305", "name": "web_search", "allowed_domains": ["docs.python.org"]},
                  {"type": "web_search_20250305", "name": "web_search", "blocked_domains": ["pinterest.com"]}),
}


@pytest.mark.parametrize(("client", "upstream", "blocking"), [
    ("responses", "anthropic", False), ("anthropic", "responses", False), ("anthropic", "gemini", True)])
def test_a_search_tools_domains_go_where_the_upstream_takes_them(client: str, upstream: str, blocking: bool) -> None:
    """A Responses client's allowed domains are Claude's `allowed_domains` and the other way round;
    Gemini's Developer API takes neither list (its `excludeDomains` is Vertex AI's), so it gets the
    bare tool."""
    from interlingua.adapters.dialects.anthropic_request import decode_messages_request
    from interlingua.adapters.dialects.openai_responses_request import decode_responses_request

    tool = DOMAINS[client][1 if blocking else 0]
    request = (decode_responses_request({"model": "m", "input": "asyncio?", "tools": [tool]}) if client == "responses"
               else decode_messages_request({"model": "m", "max_tokens": 9, "tools": [tool],
                                             "messages": [{"role": "user", "content": "asyncio?"}]}, {}))
    (sent,) = upstream_body(request, upstream)["tools"]
    assert sent == {"anthropic": {"type": "web_search_20250305", "name": "web_search",
                                  "allowed_domains": ["docs.python.org"]},
                    "responses": {"type": "web_search", "filters": {"allowed_domains": ["docs.python.org"]}},
                    "gemini": {"googleSearch": {}}}[upstream]
