"""Code an upstream ran reaches a client of another dialect as its own API shows a run: Claude's
`server_tool_use` and result block, a Responses `code_interpreter_call` and Gemini's
`executableCode` and `codeExecutionResult` parts, each from the other two, whole and streamed, read
by the official SDKs' types; each client's code execution tool is the upstream's own; a run the
gateway wrote in Claude's words goes back to Claude as text."""

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
from interlingua.adapters.dialects import code_runs
from interlingua.adapters.dialects.anthropic import (
    MessagesStreamDecoder,
    MessagesStreamEncoder,
    decode_messages_response,
    encode_messages_response,
)
from interlingua.adapters.dialects.anthropic_request import decode_messages_request
from interlingua.adapters.dialects.gemini import (
    GenerateStreamDecoder,
    GenerateStreamEncoder,
    decode_generate_response,
    encode_generate_response,
)
from interlingua.adapters.dialects.gemini_request import decode_generate_request
from interlingua.adapters.dialects.openai_responses_request import decode_responses_request
from interlingua.adapters.dialects.openai_responses_response import (
    decode_responses_response,
    encode_responses_response,
)
from interlingua.adapters.dialects.openai_responses_stream import ResponsesStreamDecoder, ResponsesStreamEncoder
from tests.fakes import anthropic_upstream as fa
from tests.harness import anthropic_client, anthropic_provider, gateway
from tests.support import async_test, relayed, sse_body, sse_events, upstream_body

CODE, BASH, PRINTED, SAID = "print(6 * 7)", "python3 -c 'print(6 * 7)'", "42\n", "It is 42."
USE = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "bash_code_execution", "input": {"command": BASH}}
RESULT = {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_1", "content": {
    "type": "bash_code_execution_result", "stdout": PRINTED, "stderr": "", "return_code": 0, "content": []}}
CLAUDE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
          "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 5},
          "content": [USE, RESULT, {"type": "text", "text": SAID, "citations": None}]}
CALL = {"type": "code_interpreter_call", "id": "ci_1", "status": "completed", "code": CODE, "container_id": "cntr_1",
        "outputs": [{"type": "logs", "logs": PRINTED}]}
MESSAGE = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": SAID, "annotations": [], "logprobs": []}]}
RESPONSES = {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-x",
             "output": [CALL, MESSAGE], "usage": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}}
RAN = [{"executableCode": {"language": "PYTHON", "code": CODE}},
       {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": PRINTED}}]
GEMINI = {"candidates": [{"content": {"role": "model", "parts": [*RAN, {"text": SAID}]}, "finishReason": "STOP",
                          "index": 0}],
          "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10},
          "modelVersion": "gemini-x", "responseId": "r1"}
UPSTREAMS: dict[str, Callable[[], ir.ChatResponse]] = {
    "anthropic": lambda: decode_messages_response(CLAUDE), "responses": lambda: decode_responses_response(RESPONSES),
    "gemini": lambda: decode_generate_response(GEMINI)}
RUNS = {"anthropic": BASH, "responses": CODE, "gemini": CODE}  # the code each upstream ran
PAIRS = [(upstream, reader) for upstream in UPSTREAMS for reader in UPSTREAMS if upstream != reader]


def _claude_reads(blocks: list[Any]) -> tuple[list[tuple[str, str]], str]:
    uses = {b.id: b for b in blocks if b.type == "server_tool_use"}
    results = [b for b in blocks if b.type == "code_execution_tool_result"]
    assert all(uses[b.tool_use_id].name == "code_execution" for b in results)
    ran = [(uses[b.tool_use_id].input["code"], b.content.stdout) for b in results]
    return ran, "".join(b.text for b in blocks if b.type == "text")


def _responses_reads(output: list[Any]) -> tuple[list[tuple[str, str]], str]:
    ran = [(item.code, "".join(o.logs for o in item.outputs or () if o.type == "logs"))
           for item in output if item.type == "code_interpreter_call"]
    return ran, "".join(p.text for item in output if item.type == "message" for p in item.content)


def _gemini_reads(parts: list[types.Part]) -> tuple[list[tuple[str, str]], str]:
    codes = [p.executable_code.code for p in parts if p.executable_code]
    outputs = [p.code_execution_result.output for p in parts if p.code_execution_result]
    return list(zip(codes, outputs, strict=True)), "".join(p.text or "" for p in parts)


@pytest.mark.parametrize(("upstream", "reader"), PAIRS)
def test_a_client_reads_the_code_another_upstream_ran(upstream: str, reader: str) -> None:
    answer = UPSTREAMS[upstream]()
    if reader == "anthropic":
        read = _claude_reads(anthropic.types.Message.model_validate(encode_messages_response(answer)).content)
    elif reader == "responses":
        read = _responses_reads(openai.types.responses.Response.model_validate(
            encode_responses_response(answer, None)).output)
    else:
        candidate = (types.GenerateContentResponse.model_validate(encode_generate_response(answer)).candidates or [])[0]
        read = _gemini_reads(candidate.content.parts or [])  # type: ignore[union-attr]
    assert read == ([(RUNS[upstream], PRINTED)], SAID)


STREAMS: dict[str, tuple[Callable[[], Any], bytes]] = {
    "anthropic": (MessagesStreamDecoder, sse_body([
        {"type": "message_start", "message": {**CLAUDE, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {**USE, "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta",
                                                              "partial_json": '{"command": "' + BASH + '"}'}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": RESULT},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": SAID}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 5}},
        {"type": "message_stop"}])),
    "responses": (ResponsesStreamDecoder, sse_body([
        {"type": "response.created", "sequence_number": 0,
         "response": {**RESPONSES, "status": "in_progress", "output": [], "usage": None}},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {**CALL, "status": "in_progress", "outputs": None}},
        {"type": "response.output_item.done", "sequence_number": 2, "output_index": 0, "item": CALL},
        {"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 1,
         "content_index": 0, "delta": SAID, "logprobs": []},
        {"type": "response.completed", "sequence_number": 4, "response": RESPONSES}])),
    "gemini": (GenerateStreamDecoder, sse_body([
        {"candidates": [{"content": {"role": "model", "parts": [RAN[0]]}, "index": 0}], "modelVersion": "gemini-x"},
        {"candidates": [{"content": {"role": "model", "parts": [RAN[1]]}, "index": 0}], "modelVersion": "gemini-x"},
        {**GEMINI, "candidates": [{"content": {"role": "model", "parts": [{"text": SAID}]}, "finishReason": "STOP",
                                   "index": 0}]}], named=False)),
}


def _streamed_read(reader: str, upstream: str) -> tuple[list[tuple[str, str]], str]:
    decoder, stream = STREAMS[upstream]
    if reader == "anthropic":
        read = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
        events = [read.validate_python(e.json())
                  for e in sse_events(relayed(decoder(), stream, MessagesStreamEncoder()))]
        blocks = [e.content_block for e in events if e.type == "content_block_start"]
        said = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
        return _claude_reads(blocks)[0], said
    if reader == "responses":
        read = pydantic.TypeAdapter(openai.types.responses.ResponseStreamEvent)
        events = [read.validate_python(e.json())
                  for e in sse_events(relayed(decoder(), stream, ResponsesStreamEncoder(None)))]
        kinds = [e.type for e in events]
        assert kinds.index("response.code_interpreter_call.interpreting") < kinds.index(
            "response.code_interpreter_call.completed")
        return _responses_reads(events[-1].response.output)  # type: ignore[union-attr]
    chunks = [types.GenerateContentResponse.model_validate(e.json())
              for e in sse_events(relayed(decoder(), stream, GenerateStreamEncoder(array=False)), b"\r\n\r\n")]
    return _gemini_reads([p for c in chunks for p in (c.candidates or [])[0].content.parts or ()])  # type: ignore[union-attr]


@pytest.mark.parametrize(("upstream", "reader"), PAIRS)
def test_a_streaming_client_reads_the_code_another_upstream_ran(upstream: str, reader: str) -> None:
    assert _streamed_read(reader, upstream) == ([(RUNS[upstream], PRINTED)], SAID)


TOOLS = {"responses": {"type": "code_interpreter", "container": {"type": "auto"}},
         "anthropic": {"type": "code_execution_20250825", "name": "code_execution"},
         "gemini": {"codeExecution": {}}}


def _asking(client: str) -> ir.ChatRequest:
    if client == "responses":
        return decode_responses_request({"model": "m", "input": "6 * 7?", "tools": [TOOLS["responses"]]})
    if client == "anthropic":
        return decode_messages_request({"model": "m", "max_tokens": 9, "tools": [TOOLS["anthropic"]],
                                        "messages": [{"role": "user", "content": "6 * 7?"}]}, {})
    return decode_generate_request({"contents": [{"role": "user", "parts": [{"text": "6 * 7?"}]}],
                                    "tools": [TOOLS["gemini"]]}, {"model": "m", "method": "generateContent"})


@pytest.mark.parametrize(("client", "upstream"), PAIRS)
def test_each_clients_code_execution_is_the_upstreams_own(client: str, upstream: str) -> None:
    """It was left out (named in x-interlingua-omitted-tools): the model ran no code."""
    body = upstream_body(_asking(client), upstream)
    assert body["tools"] == [TOOLS[upstream]]
    if upstream == "responses":  # what the code printed, which the client is shown
        assert "code_interpreter_call.outputs" in body["include"]


@async_test
async def test_a_run_another_upstream_made_goes_to_claude_as_text(tmp_path: Path) -> None:
    made = encode_messages_response(decode_generate_response(GEMINI))["content"]
    async with fa.FakeAnthropic() as up, gateway(tmp_path, providers={
            "an": anthropic_provider(up.url, "claude-x")}) as (_, url):
        up.script(fa.text("Still 42."))
        await anthropic_client(url).messages.create(model="claude-x", max_tokens=50, messages=[
            {"role": "user", "content": "6 * 7?"}, {"role": "assistant", "content": made},
            {"role": "user", "content": "Sure?"}])
        sent = up.requests[-1].json["messages"][1]["content"]
        assert sent == [{"type": "text", "text": f"(Ran python code:\n{CODE}\nIt printed:\n{PRINTED})"},
                        {"type": "text", "text": SAID}]


@pytest.mark.parametrize("name", [{"a": 1}, ["code_execution"], None, 7])
def test_a_block_whose_name_or_type_is_no_string_is_no_run(name: Any) -> None:
    """An upstream's block words its fields as it likes; one whose `name` or `type` is an object
    or a list is told of no run (a set's lookup of it made a streamed answer a 500)."""
    for data in ({"type": "server_tool_use", "id": "s1", "name": name, "input": {"code": "1"}},
                 {"type": name, "tool_use_id": "s1", "content": {}}):
        assert not code_runs.is_run(ir.OpaqueBlock("anthropic", data))
