"""OpenAI's legacy Completions (`POST /v1/completions`, `client.completions.create`), the client's
side: a prompt in, `text_completion` objects out, streamed or whole.

An OpenAI-compatible upstream (vLLM, llama.cpp, Ollama, OpenAI's instruct models) has the endpoint
itself and gets the client's body with only the model changed, its answer passed back as it came
(`providers/openai.py`): fill-in-the-middle `suffix`, `echo`, `best_of`, token prompts and several
prompts included. Any other upstream is asked a chat turn whose one user message is the prompt, its
answer's text the completion's; what a chat turn has no slot for is a 400 naming the field
(`providers/params.py`). Errors are OpenAI's, as the Chat dialect writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import ClientDialect, Passthrough, Route, StreamEncoder
from interlingua.adapters.dialects.openai_chat import (
    FINISH_OUT,
    ChatPassthrough,
    ChatStreamEncoder,
    decode_usage,
    encode_error_body,
    encode_usage,
)
from interlingua.adapters.dialects.openai_chat_request import sampling_of

NAME = "completions"  # the dialect's name in the IR (`ChatRequest.dialect`)
PATH = "/v1/completions"
DEFAULT_MAX_TOKENS = 16  # the API's own default, which a chat upstream would not know
_FIELDS = frozenset("""model prompt suffix max_tokens temperature top_p n stream stream_options logprobs echo stop
    presence_penalty frequency_penalty best_of logit_bias user seed""".split())


def decode_completion_request(body: Any) -> ir.ChatRequest:
    body = f.obj(body, "body")
    prompt = f.req(body, "prompt")
    first = prompt[0] if isinstance(prompt, list) and prompt else prompt
    logprobs = f.integer(body, "logprobs", minimum=0)
    max_tokens = f.integer(body, "max_tokens", minimum=0)
    options = f.mapping(body, "stream_options") or {}
    return ir.ChatRequest(
        model=f.string(body, "model", required=True),
        messages=[ir.Message("user", [ir.Text(first)])] if isinstance(first, str) else [],
        dialect=NAME,
        native=body,
        stream=bool(f.boolean(body, "stream")),
        stream_usage=bool(f.boolean(options, "include_usage", "stream_options.")),
        max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        **sampling_of(body),
        logprobs=logprobs is not None or None,
        top_logprobs=logprobs,
        user=f.string(body, "user"),
        extra=f.rest(body, _FIELDS) or {},
    )


def _text(message: ir.Message) -> str:
    return "".join(part.text for part in message.parts if isinstance(part, ir.Text))


def _finish(reason: ir.FinishReason | None) -> str:
    """The legacy API's three reasons; a chat upstream's others (a tool call, a pause) stop."""
    found = FINISH_OUT.get(reason or "stop", "stop")
    return found if found in ("length", "content_filter") else "stop"


def encode_completion(resp: ir.ChatResponse) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": resp.id, "object": "text_completion", "created": resp.created, "model": resp.model,
        "choices": [{"text": _text(c.message), "index": c.index, "logprobs": None,
                     "finish_reason": _finish(c.finish_reason)} for c in resp.choices]}
    if resp.usage is not None:
        body["usage"] = encode_usage(resp.usage)
    return body


class CompletionStreamEncoder(ChatStreamEncoder):
    """IR events to `text_completion` chunks (the same object as the whole answer, a piece of text
    each); the usage chunk and `[DONE]` as Chat's. Reasoning is not the completion's text."""

    __slots__ = ()
    chunk_object = "text_completion"

    def encode(self, event: ir.StreamEvent) -> bytes:
        if isinstance(event, ir.TextDelta):
            return self._chunk([{"text": event.text, "index": event.choice, "logprobs": None, "finish_reason": None}])
        if isinstance(event, ir.Finish):
            return self._chunk([{"text": "", "index": event.choice, "logprobs": None,
                                 "finish_reason": _finish(event.reason)}])
        if isinstance(event, (ir.UsageReport, ir.StreamStart)):
            return super().encode(event)
        return b""


class OpenAICompletions(ClientDialect[ir.ChatRequest]):
    name = NAME
    results = {ir.ChatResponse: lambda result, request: encode_completion(result)}

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        return Route(ops.COMPLETIONS, {}) if path == PATH and method == "POST" else None

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> ir.ChatRequest:
        return decode_completion_request(body)

    def stream_encoder(self, request: ir.ChatRequest) -> StreamEncoder:
        return CompletionStreamEncoder(bool(request.stream_usage))

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return encode_error_body(error)

    def passthrough(self, request: ir.ChatRequest) -> Passthrough:
        return ChatPassthrough(bool(request.stream_usage))  # the same chunks, `[DONE]` and usage chunk as Chat's

    def usage_of(self, body: Any) -> ir.Usage | None:
        return decode_usage(body.get("usage")) if isinstance(body, dict) else None


CODEC = OpenAICompletions()
