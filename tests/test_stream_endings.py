"""Streams that end wrongly say so, in every dialect (issue 10, section 3): a stream that stops
without its terminator, or sends an event that is not JSON, is an upstream error (502, retryable)
for the stream decoders (translated streams) and the passthroughs (same dialect); the end-to-end
behaviour with the official SDKs is in `test_stream_endings_e2e.py`."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects import sse
from interlingua.adapters.dialects.anthropic import CODEC as ANTHROPIC
from interlingua.adapters.dialects.anthropic import MessagesPassthrough
from interlingua.adapters.dialects.base import Passthrough, StreamDecoder
from interlingua.adapters.dialects.gemini import CODEC as GEMINI
from interlingua.adapters.dialects.gemini import GeneratePassthrough
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.dialects.openai_chat import ChatPassthrough
from interlingua.adapters.dialects.openai_responses import CODEC as RESPONSES
from interlingua.adapters.dialects.openai_responses_stream import ResponsesPassthrough

# Each dialect's smallest whole stream, one event a line; the last event is the terminator (for
# Gemini, the chunk with finishReason).
STREAMS: dict[str, list[bytes]] = {
    "openai": [
        b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n',
        b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
        b'data: {"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n',
        b"data: [DONE]\n\n",
    ],
    "anthropic": [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m",'
        b'"usage":{"input_tokens":3,"output_tokens":0}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"hi"}}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":1}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ],
    "gemini": [
        b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"index":0}]}\r\n\r\n',
        b'data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],'
        b'"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}\r\n\r\n',
    ],
    "responses": [
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        b'"response":{"id":"resp_1","model":"m","created_at":1}}\n\n',
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,'
        b'"item_id":"msg_1","output_index":0,"content_index":0,"delta":"hi"}\n\n',
        b'event: response.completed\ndata: {"type":"response.completed","sequence_number":2,'
        b'"response":{"id":"resp_1","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}\n\n',
    ],
}
DECODERS: dict[str, Callable[[], StreamDecoder]] = {
    "openai": CHAT.stream_decoder, "anthropic": ANTHROPIC.stream_decoder,
    "gemini": GEMINI.stream_decoder, "responses": RESPONSES.stream_decoder}
PASSTHROUGHS: dict[str, Callable[[], Passthrough]] = {
    "openai": lambda: ChatPassthrough(True), "anthropic": MessagesPassthrough,
    "gemini": lambda: GeneratePassthrough(array=False), "responses": ResponsesPassthrough}
DIALECTS = list(STREAMS)
NOT_JSON = b"data: {\"choices\": [{\"delta\": \n\n"


def _decode_all(decoder: StreamDecoder, data: bytes) -> list[ir.StreamEvent]:
    out = decoder.feed(data)
    out += decoder.close()
    out += decoder.close()  # as the provider does after events that `close` returned
    return out


def _assert_upstream_error(error: ir.GatewayError, words: str) -> None:
    assert error.kind == "upstream" and error.status == 502 and error.retryable
    assert words in error.message


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_whole_stream_decodes_without_error(dialect: str) -> None:
    events = _decode_all(DECODERS[dialect](), b"".join(STREAMS[dialect]))
    assert ir.TextDelta("hi") in events and any(isinstance(e, ir.Finish) for e in events)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_stream_without_its_terminator_fails_after_its_events(dialect: str) -> None:
    decoder = DECODERS[dialect]()
    events = decoder.feed(b"".join(STREAMS[dialect][:-1]))
    assert ir.TextDelta("hi") in events  # what came is decoded, for the client to see
    with pytest.raises(ir.GatewayError) as info:
        decoder.close()
    _assert_upstream_error(info.value, "ended before its terminator")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_unfinished_last_event_is_returned_before_the_failure(dialect: str) -> None:
    decoder = DECODERS[dialect]()
    first = STREAMS[dialect][0].rstrip(b"\r\n")  # no blank line after it: only `close` sees it
    events = decoder.feed(first) + decoder.close()
    assert events
    with pytest.raises(ir.GatewayError, match="before its terminator"):
        decoder.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_empty_stream_fails(dialect: str) -> None:
    decoder = DECODERS[dialect]()
    assert decoder.feed(b": keep-alive\n\n") == []
    with pytest.raises(ir.GatewayError) as info:
        decoder.close()
    _assert_upstream_error(info.value, "ended before its terminator")


@pytest.mark.parametrize("bad", [NOT_JSON, b"data: [1, 2]\n\n", b"data: \"text\"\n\n"], ids=["cut", "array", "string"])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_event_that_is_not_a_json_object_fails_even_before_the_terminator(dialect: str, bad: bytes) -> None:
    stream = STREAMS[dialect]
    decoder = DECODERS[dialect]()
    events = decoder.feed(stream[0] + bad)  # the event before comes first...
    assert events
    with pytest.raises(ir.GatewayError) as info:  # ...and the failure with the next read
        decoder.feed(b"".join(stream[1:]))
    _assert_upstream_error(info.value, "sent an event that is not JSON")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_first_event_that_is_not_json_fails_at_once(dialect: str) -> None:
    with pytest.raises(ir.GatewayError, match="not JSON"):
        DECODERS[dialect]().feed(NOT_JSON)


def test_a_blocked_gemini_prompt_ends_its_stream() -> None:
    blocked = b'data: {"promptFeedback":{"blockReason":"SAFETY"}}\r\n\r\n'
    events = _decode_all(GEMINI.stream_decoder(), blocked)
    assert ir.Finish("content_filter") in events
    passthrough = GeneratePassthrough(array=False)
    assert passthrough.feed(blocked) + passthrough.close() == blocked
    passthrough.check()


# Pass-through: the terminator by its marker bytes, JSON only where events are parsed anyway -----


def _forward(passthrough: Passthrough, reads: list[bytes]) -> bytes:
    return b"".join(passthrough.feed(r) for r in reads) + passthrough.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_whole_stream_passes_through_unchanged(dialect: str) -> None:
    passthrough = PASSTHROUGHS[dialect]()
    reads = STREAMS[dialect]
    assert _forward(passthrough, reads) == b"".join(reads)
    passthrough.check()
    assert passthrough.usage is not None


@pytest.mark.parametrize("sizes", [1, 7, 1000])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_terminator_is_found_however_the_reads_are_cut(dialect: str, sizes: int) -> None:
    data = b"".join(STREAMS[dialect])
    passthrough = PASSTHROUGHS[dialect]()
    _forward(passthrough, [data[i:i + sizes] for i in range(0, len(data), sizes)])
    passthrough.check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_pass_through_stream_without_its_terminator_fails_on_check(dialect: str) -> None:
    passthrough = PASSTHROUGHS[dialect]()
    reads = STREAMS[dialect][:-1]
    assert _forward(passthrough, reads) == b"".join(reads)  # everything that came is forwarded
    with pytest.raises(ir.GatewayError) as info:
        passthrough.check()
    _assert_upstream_error(info.value, "ended before its terminator")


@pytest.mark.parametrize(("dialect", "quoted"), [
    ("openai", b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"write data: [DONE] last"}}]}\n\n'),
    ("anthropic", b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                  b'"delta":{"type":"text_delta","text":"the \\"message_stop\\" event"}}\n\n'),
    ("gemini", b'data: {"candidates":[{"content":{"parts":[{"text":"\\"finishReason\\": STOP"}]},"index":0}]}\r\n\r\n'),
    ("responses", b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                  b'"delta":"then \\"response.completed\\" arrives"}\n\n'),
])
def test_a_terminator_quoted_in_the_answer_does_not_count(dialect: str, quoted: bytes) -> None:
    passthrough = PASSTHROUGHS[dialect]()
    _forward(passthrough, [STREAMS[dialect][0], quoted])
    with pytest.raises(ir.GatewayError, match="before its terminator"):
        passthrough.check()


@pytest.mark.parametrize(("dialect", "garbled"), [
    ("openai", b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,\n\n'),
    ("anthropic", b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens"\n\n'),
    ("gemini", b'data: {"candidates":[],"usageMetadata":{"promptTokenCount"\r\n\r\n'),
    ("responses", b'event: response.completed\ndata: {"type":"response.completed","response":{"id"\n\n'),
])
def test_a_parsed_pass_through_event_that_is_not_json_fails(dialect: str, garbled: bytes) -> None:
    passthrough = PASSTHROUGHS[dialect]()
    passthrough.feed(STREAMS[dialect][0])
    with pytest.raises(ir.GatewayError) as info:
        passthrough.feed(garbled)
    _assert_upstream_error(info.value, "sent an event that is not JSON")


def test_a_broken_responses_pass_through_fails_the_upstreams_own_response() -> None:
    """The error continues the forwarded stream: the upstream's response id, the next sequence
    number, and no second `response.created`."""
    passthrough = ResponsesPassthrough()
    _forward(passthrough, STREAMS["responses"][:-1])
    with pytest.raises(ir.GatewayError) as info:
        passthrough.check()
    error = passthrough.error(info.value)
    assert error is not None
    events = [(name, orjson.loads(data)) for name, data in sse.events(error)]
    assert [name for name, _ in events] == ["response.failed", "error"]
    failed = events[0][1]
    assert failed["sequence_number"] == 2 and failed["response"]["id"] == "resp_1"
    assert failed["response"]["status"] == "failed" and events[1][1]["sequence_number"] == 3


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_pass_through_stream_that_starts_with_junk_fails_before_forwarding_it(dialect: str) -> None:
    """The first event is parsed (once a stream), so nothing of a garbage answer is forwarded and
    the next target may answer instead."""
    passthrough = PASSTHROUGHS[dialect]()
    assert passthrough.feed(b": keep-alive\n\n") in (b"", b": keep-alive\n\n")  # comments are no event
    with pytest.raises(ir.GatewayError, match="not JSON"):
        passthrough.feed(NOT_JSON)


@pytest.mark.parametrize(("dialect", "event", "status"), [
    ("openai", b'data: {"error":{"message":"boom","type":"server_error"}}\n\n', 502),
    ("anthropic", b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"boom"}}\n\n',
     529),
    ("gemini", b'data: {"error":{"code":500,"message":"boom","status":"INTERNAL"}}\r\n\r\n', 502),
    ("responses", b'event: error\ndata: {"type":"error","code":"server_error","message":"boom"}\n\n', 502),
])
def test_an_upstreams_own_error_event_ends_a_pass_through_stream(dialect: str, event: bytes, status: int) -> None:
    """The upstream said how its stream ends: no second error from the gateway, and the upstream's
    error is kept for the ledger."""
    passthrough = PASSTHROUGHS[dialect]()
    reads = [STREAMS[dialect][0], event]
    assert _forward(passthrough, reads) == b"".join(reads)
    passthrough.check()
    assert passthrough.failure is not None
    assert passthrough.failure.message == "boom" and passthrough.failure.status == status


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_error_quoted_in_the_answer_is_no_error(dialect: str) -> None:
    quoted = {
        "openai": b'data: {"choices":[{"index":0,"delta":{"content":"\\ndata: {\\"error\\": 1}"}}]}\n\n',
        "anthropic": b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                     b'"delta":{"type":"text_delta","text":"\\nevent: error\\n"}}\n\n',
        "gemini": b'data: {"candidates":[{"content":{"parts":[{"text":"\\ndata: {\\"error\\""}]},"index":0}]}\r\n\r\n',
        "responses": b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
                     b'"delta":"\\nevent: error\\n"}\n\n',
    }[dialect]
    passthrough = PASSTHROUGHS[dialect]()
    _forward(passthrough, [STREAMS[dialect][0], quoted])
    assert passthrough.failure is None and not passthrough.terminated
