"""An answer's citations of web pages reach a client of any dialect as its own API cites: Claude's
cited text blocks, OpenAI's `url_citation` annotations (Responses on the text part, Chat on the
message) and Gemini's grounding supports, each from the other three, whole and streamed, read by
the official SDKs' types; the citations the gateway wrote in Claude's words are left out when the
conversation goes back to Claude, which takes back only its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pydantic
import pytest
from google.genai import types

from interlingua.adapters import ir
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
from interlingua.adapters.dialects.openai_chat import (
    ChatStreamDecoder,
    ChatStreamEncoder,
    decode_chat_response,
    encode_chat_response,
)
from interlingua.adapters.dialects.openai_responses_response import (
    decode_responses_response,
    encode_responses_response,
)
from interlingua.adapters.dialects.openai_responses_stream import ResponsesStreamDecoder, ResponsesStreamEncoder
from interlingua.adapters.folding import Fold
from tests.fakes import anthropic_upstream as fa
from tests.harness import anthropic_client, anthropic_provider, client, gateway
from tests.support import async_test, relayed, sse_body, sse_data, sse_events

FIRST, CITED = "Oslo er kald. ", "Bergen er våt."  # the cited sentence has a letter of two bytes
WHOLE = FIRST + CITED
URL, TITLE = "https://yr.no/bergen", "Yr"
SPAN = (len(FIRST), len(WHOLE))  # in characters, as OpenAI counts
BYTES = (len(FIRST.encode()), len(WHOLE.encode()))  # as Gemini counts
READ = [(CITED, URL, TITLE)]  # what every client must read: the cited words, the page and its title

CLAUDE_CITATION = fa.cited(URL, TITLE, "Det regner i Bergen.")
FLAT = {"type": "url_citation", "url": URL, "title": TITLE, "start_index": SPAN[0], "end_index": SPAN[1]}
NESTED = {"type": "url_citation", "url_citation": {k: v for k, v in FLAT.items() if k != "type"}}
GROUNDING = {"groundingChunks": [{"web": {"uri": URL, "title": TITLE}}],
             "groundingSupports": [{"segment": {"startIndex": BYTES[0], "endIndex": BYTES[1], "text": CITED},
                                    "groundingChunkIndices": [0]}]}

CLAUDE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
          "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 5},
          "content": [{"type": "text", "text": FIRST, "citations": None},
                      {"type": "text", "text": CITED, "citations": [CLAUDE_CITATION]}]}
RESPONSES = {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-x",
             "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                         "content": [{"type": "output_text", "text": WHOLE, "annotations": [FLAT], "logprobs": []}]}],
             "usage": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}}
CHAT = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x-search",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": WHOLE, "refusal": None, "annotations": [NESTED]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
GEMINI = {"candidates": [{"content": {"role": "model", "parts": [{"text": WHOLE}]}, "finishReason": "STOP", "index": 0,
                          "groundingMetadata": GROUNDING}],
          "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10},
          "modelVersion": "gemini-x", "responseId": "r1"}
UPSTREAMS: dict[str, Callable[[], ir.ChatResponse]] = {
    "anthropic": lambda: decode_messages_response(CLAUDE), "responses": lambda: decode_responses_response(RESPONSES),
    "openai": lambda: decode_chat_response(CHAT), "gemini": lambda: decode_generate_response(GEMINI)}


# What each client reads --------------------------------------------------------------------------


def _claude_reads(content: list[Any]) -> tuple[str, list[tuple[str, str, str]]]:
    texts = [block for block in content if block.type == "text"]
    return "".join(b.text for b in texts), [(b.text, c.url, c.title) for b in texts for c in b.citations or ()]


def _responses_reads(output: list[Any]) -> tuple[str, list[tuple[str, str, str]]]:
    parts = [part for item in output if item.type == "message" for part in item.content if part.type == "output_text"]
    return "".join(p.text for p in parts), [(p.text[a.start_index:a.end_index], a.url, a.title)
                                            for p in parts for a in p.annotations]


def _chat_reads(content: str, annotations: list[Any]) -> tuple[str, list[tuple[str, str, str]]]:
    return content, [(content[a.url_citation.start_index:a.url_citation.end_index], a.url_citation.url,
                      a.url_citation.title) for a in annotations]


def _gemini_reads(text: str, grounding: types.GroundingMetadata | None) -> tuple[str, list[tuple[str, str, str]]]:
    assert grounding is not None
    chunks = grounding.grounding_chunks or []
    raw = text.encode()
    return text, [(raw[s.segment.start_index or 0:s.segment.end_index].decode(), chunks[i].web.uri,  # type: ignore[union-attr]
                   chunks[i].web.title)  # type: ignore[union-attr]
                  for s in grounding.grounding_supports or () if s.segment for i in s.grounding_chunk_indices or ()]


def _whole_read(client_dialect: str, answer: ir.ChatResponse) -> tuple[str, list[tuple[str, str, str]]]:
    if client_dialect == "anthropic":
        return _claude_reads(anthropic.types.Message.model_validate(encode_messages_response(answer)).content)
    if client_dialect == "responses":
        return _responses_reads(openai.types.responses.Response.model_validate(
            encode_responses_response(answer, None)).output)
    if client_dialect == "openai":
        message = openai.types.chat.ChatCompletion.model_validate(encode_chat_response(answer)).choices[0].message
        return _chat_reads(message.content or "", message.annotations or [])
    candidate = (types.GenerateContentResponse.model_validate(encode_generate_response(answer)).candidates or [])[0]
    return _gemini_reads("".join(p.text or "" for p in (candidate.content and candidate.content.parts) or ()),
                         candidate.grounding_metadata)


PAIRS = [(upstream, reader) for upstream in UPSTREAMS for reader in UPSTREAMS if upstream != reader]


@pytest.mark.parametrize(("upstream", "reader"), PAIRS)
def test_a_client_reads_another_upstreams_citations(upstream: str, reader: str) -> None:
    assert _whole_read(reader, UPSTREAMS[upstream]()) == (WHOLE, READ)


def test_a_claude_client_gets_the_cited_words_in_a_block_of_their_own() -> None:
    """Claude cites whole blocks: another upstream's span is cut out of the text as one, the page's
    words quoted as the cited text where the upstream gave none."""
    message = anthropic.types.Message.model_validate(encode_messages_response(decode_responses_response(RESPONSES)))
    first, cited = message.content
    assert (first.type, first.text, first.citations) == ("text", FIRST, None)  # type: ignore[union-attr]
    assert cited.type == "text" and cited.text == CITED and cited.citations is not None
    (citation,) = cited.citations
    assert citation.type == "web_search_result_location" and citation.cited_text == CITED


# Streams -----------------------------------------------------------------------------------------------


_CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x-search"}
STREAMS: dict[str, tuple[Callable[[], Any], bytes]] = {
    "anthropic": (MessagesStreamDecoder, sse_body([
        {"type": "message_start", "message": {**CLAUDE, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": FIRST}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": CLAUDE_CITATION}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": CITED}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 5}},
        {"type": "message_stop"}])),
    "responses": (ResponsesStreamDecoder, sse_body([
        {"type": "response.created", "sequence_number": 0,
         "response": {**RESPONSES, "status": "in_progress", "output": [], "usage": None}},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "sequence_number": 2, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
        {"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": FIRST, "logprobs": []},
        {"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": CITED, "logprobs": []},
        {"type": "response.output_text.annotation.added", "sequence_number": 5, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "annotation_index": 0, "annotation": FLAT},
        {"type": "response.completed", "sequence_number": 6, "response": RESPONSES}])),
    "openai": (ChatStreamDecoder, sse_body([
        {**_CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": FIRST}, "finish_reason": None}]},
        {**_CHUNK, "choices": [{"index": 0, "delta": {"content": CITED}, "finish_reason": None}]},
        {**_CHUNK, "choices": [{"index": 0, "delta": {"annotations": [NESTED]}, "finish_reason": None}]},
        {**_CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}], named=False)
        + b"data: [DONE]\n\n"),
    "gemini": (GenerateStreamDecoder, sse_body([
        {"candidates": [{"content": {"role": "model", "parts": [{"text": FIRST}]}, "index": 0}],
         "modelVersion": "gemini-x", "responseId": "r1"},
        {**GEMINI, "candidates": [{**GEMINI["candidates"][0],  # type: ignore[index]
                                   "content": {"role": "model", "parts": [{"text": CITED}]}}]}], named=False)),
}


def _relayed(upstream: str, encoder: Any) -> bytes:
    decoder, stream = STREAMS[upstream]
    return relayed(decoder(), stream, encoder)


def _claude_streamed(stream: bytes) -> tuple[str, list[tuple[str, str, str]]]:
    """The blocks a Claude client builds from the events, as its SDK accumulates them."""
    read = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
    blocks: dict[int, dict[str, Any]] = {}
    for event in (read.validate_python(e.json()) for e in sse_events(stream)):
        if event.type == "content_block_start" and event.content_block.type == "text":
            blocks[event.index] = {"text": "", "citations": []}
        elif event.type == "content_block_delta" and event.index in blocks:
            if event.delta.type == "text_delta":
                blocks[event.index]["text"] += event.delta.text
            elif event.delta.type == "citations_delta":
                blocks[event.index]["citations"].append(event.delta.citation)
    return "".join(b["text"] for b in blocks.values()), [(b["text"], c.url, c.title) for b in blocks.values()
                                                         for c in b["citations"]]


def _streamed_read(reader: str, upstream: str) -> tuple[str, list[tuple[str, str, str]]]:
    if reader == "anthropic":
        return _claude_streamed(_relayed(upstream, MessagesStreamEncoder()))
    if reader == "responses":
        read = pydantic.TypeAdapter(openai.types.responses.ResponseStreamEvent)
        events = [read.validate_python(e.json()) for e in sse_events(_relayed(upstream, ResponsesStreamEncoder(None)))]
        added = [e.annotation for e in events if e.type == "response.output_text.annotation.added"]
        assert [a.url for a in added] == [URL]  # type: ignore[union-attr]  # told as it comes, and when whole
        assert events[-1].type == "response.completed"
        return _responses_reads(events[-1].response.output)
    if reader == "openai":
        chunks = [openai.types.chat.ChatCompletionChunk.model_validate(c)
                  for c in sse_data(_relayed(upstream, ChatStreamEncoder(False)))[:-1]]  # then [DONE]
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        notes = [openai.types.chat.chat_completion_message.Annotation.model_validate(a)
                 for d in deltas for a in (d.model_extra or {}).get("annotations") or ()]
        return _chat_reads("".join(d.content or "" for d in deltas), notes)
    chunks_ = [types.GenerateContentResponse.model_validate(c)
               for c in sse_data(_relayed(upstream, GenerateStreamEncoder(array=False)), b"\r\n\r\n")]
    text = "".join(c.text or "" for c in chunks_)
    return _gemini_reads(text, (chunks_[-1].candidates or [])[0].grounding_metadata)  # on the last chunk


@pytest.mark.parametrize(("upstream", "reader"), PAIRS)
def test_a_streaming_client_reads_another_upstreams_citations(upstream: str, reader: str) -> None:
    text, read = _streamed_read(reader, upstream)
    assert text == WHOLE
    if reader == "anthropic":  # a citation streamed after its text lands on the block that holds it
        assert [(url, title) for cited, url, title in read if CITED in cited] == [(URL, TITLE)]
    else:
        assert read == READ


@pytest.mark.parametrize("upstream", list(STREAMS))
def test_a_stream_folds_into_the_answer_it_tells(upstream: str) -> None:
    """A layer that reads a streamed answer once whole (a hosted tool's round) gets each citation
    on its text part, its span that part's, as the whole answer decodes it."""
    decoder, stream = STREAMS[upstream]
    events: list[ir.StreamEvent] = []
    decoder().decode(stream, events)
    fold = Fold()
    for event in events:
        fold.add(event)
    texts = [p for p in fold.parts if isinstance(p, ir.Text)]
    assert "".join(t.text for t in texts) == WHOLE
    assert [(t.text[c.start or 0:len(t.text) if c.end is None else c.end], c.url) for t in texts
            for c in t.citations or ()] == [(CITED, URL)]


# Through the gateway ---------------------------------------------------------------------------------


@async_test
async def test_a_chat_client_on_claude_reads_its_citations(tmp_path: Path) -> None:
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        answer = fa.reply(fa.say(FIRST), fa.say(CITED, citations=(CLAUDE_CITATION,)))
        up.script(answer, answer)
        sdk = client(url)
        whole = (await sdk.chat.completions.create(model="claude-x", messages=[
            {"role": "user", "content": "Weather in Bergen?"}])).choices[0].message
        assert _chat_reads(whole.content or "", whole.annotations or []) == (WHOLE, READ)
        deltas = [c.choices[0].delta async for c in await sdk.chat.completions.create(
            model="claude-x", stream=True, messages=[{"role": "user", "content": "Weather in Bergen?"}]) if c.choices]
        notes = [openai.types.chat.chat_completion_message.Annotation.model_validate(a)
                 for d in deltas for a in (d.model_extra or {}).get("annotations") or ()]
        assert _chat_reads("".join(d.content or "" for d in deltas), notes) == (WHOLE, READ)


@async_test
async def test_citations_the_gateway_wrote_are_left_out_for_claude(tmp_path: Path) -> None:
    """A GPT answer's citations, shown to a Claude client as Claude's and sent back, reach Claude
    without them (their index is not Claude's), the text whole; Claude's own stay."""
    made = encode_messages_response(decode_responses_response(RESPONSES))["content"]
    own = {"type": "text", "text": "Bergen har mye regn.", "citations": [CLAUDE_CITATION]}
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        up.script(fa.text("Still wet."))
        await anthropic_client(url).messages.create(model="claude-x", max_tokens=50, messages=[
            {"role": "user", "content": "Weather in Bergen?"}, {"role": "assistant", "content": [*made, own]},
            {"role": "user", "content": "And now?"}])
        sent = up.requests[-1].json["messages"][1]["content"]
        assert sent == [{"type": "text", "text": FIRST, "citations": None}, {"type": "text", "text": CITED}, own]


def test_a_searchs_pages_take_their_titles_from_the_citations() -> None:
    """A Responses search's sources carry no title; where the answer cites a page, a Claude or
    Gemini client's search result names it by the citation's title, else by its host."""
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed",
              "action": {"type": "search", "query": "bergen", "sources": [{"type": "url", "url": URL},
                                                                          {"type": "url", "url": URL + "/uncited"}]}}
    answer = decode_responses_response({**RESPONSES, "output": [search, *RESPONSES["output"]]})  # type: ignore[list-item]
    _, result, *_ = anthropic.types.Message.model_validate(encode_messages_response(answer)).content
    assert result.type == "web_search_tool_result" and isinstance(result.content, list)
    assert [(r.url, r.title) for r in result.content] == [(URL, TITLE), (URL + "/uncited", "yr.no")]
    grounding = (types.GenerateContentResponse.model_validate(encode_generate_response(answer)).candidates or [])[
        0].grounding_metadata
    assert grounding is not None and [(c.web.uri, c.web.title) for c in grounding.grounding_chunks or () if c.web][
        :2] == [(URL, TITLE), (URL + "/uncited", "yr.no")]
