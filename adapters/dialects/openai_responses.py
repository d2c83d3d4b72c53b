"""OpenAI Responses (OpenAI's Responses API reference, streaming events included), both directions:
the codec here joins requests (`openai_responses_request.py`), answers
(`openai_responses_response.py`) and streams (`openai_responses_stream.py`).

Items map onto IR messages: consecutive assistant output (message, reasoning and function_call
items) becomes one assistant message, each function_call_output one tool message. A reasoning
item's `encrypted_content` is opaque state bound to OpenAI (`Reasoning.signature`, provider
"openai"), sent back only to Responses upstreams. Items only this dialect knows (item references,
compactions, hosted-tool calls) travel as `Opaque` parts. Conversation state (`store`,
`previous_response_id`, `conversation`) is not the codec's business: `middleware/responses_state.py`
and `middleware/conversations.py` keep it; the codec routes `/v1/conversations` too
(`openai_conversations.py`), whose bodies it checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import openai_conversations as conversations
from interlingua.adapters.dialects.base import (
    ClientDialect,
    ModelCard,
    ModelList,
    Passthrough,
    Route,
    StreamDecoder,
    StreamEncoder,
    UpstreamDialect,
)
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.dialects.openai_responses_request import (
    NAME,
    decode_responses_request,
    encode_responses_request,
)
from interlingua.adapters.dialects.openai_responses_response import (
    decode_responses_response,
    decode_usage,
    encode_compacted,
    encode_responses_response,
)
from interlingua.adapters.dialects.openai_responses_stream import (
    ResponsesPassthrough,
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
)

ResponsesRequest = ir.ChatRequest | conversations.ConversationEdit


class OpenAIResponses(ClientDialect[ResponsesRequest], UpstreamDialect[ir.ChatRequest, ir.ChatResponse]):
    name = NAME
    results = {
        ir.ChatResponse: encode_responses_response,
        ir.TokenCount: lambda result, request: {"object": "response.input_tokens",
                                                "input_tokens": result.input_tokens},
        ir.Compacted: lambda result, request: encode_compacted(result),
        ModelList: CHAT.results[ModelList],
        ModelCard: CHAT.results[ModelCard],
    }

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes], query: bytes) -> Route | None:
        if path.startswith(conversations.PREFIX):
            return conversations.match(method, path)
        if not path.startswith("/v1/responses"):
            return None
        rest = path[len("/v1/responses"):].strip("/")
        if not rest:
            return Route(ops.CHAT, {}) if method == "POST" else None
        if rest == "input_tokens":
            return Route(ops.COUNT_TOKENS, {}) if method == "POST" else None
        if rest == "compact":
            return Route(ops.RESPONSES_COMPACT, {}) if method == "POST" else None
        response_id, _, tail = rest.partition("/")
        if method == "GET" and not tail:
            return Route(ops.RESPONSES_GET, {"id": response_id})
        if method == "DELETE" and not tail:
            return Route(ops.RESPONSES_DELETE, {"id": response_id})
        if method == "GET" and tail == "input_items":
            return Route(ops.RESPONSES_INPUT_ITEMS, {"id": response_id})
        if method == "POST" and tail == "cancel":
            return Route(ops.RESPONSES_CANCEL, {"id": response_id})
        return None

    def decode_request(self, operation: ops.Operation, body: Any, headers: Mapping[bytes, bytes],
                       params: Mapping[str, str]) -> ResponsesRequest:
        if operation in ops.CONVERSATIONS:
            return conversations.decode_edit(operation, body)
        if operation in (ops.COUNT_TOKENS, ops.RESPONSES_COMPACT) and isinstance(body, dict) and "input" not in body:
            body = {**body, "input": []}
        request = decode_responses_request(body)
        conversations.conversation_of(body)  # checked here, kept by the conversations layer
        return request

    def stream_encoder(self, request: ResponsesRequest) -> StreamEncoder:
        assert not isinstance(request, conversations.ConversationEdit), "conversations do not stream"
        return ResponsesStreamEncoder(request)

    def encode_error(self, error: ir.GatewayError) -> bytes:
        return CHAT.encode_error(error)

    def passthrough(self, request: ResponsesRequest) -> Passthrough:
        assert not isinstance(request, conversations.ConversationEdit), "conversations are the gateway's own"
        return ResponsesPassthrough(request)

    def usage_of(self, body: Any) -> ir.Usage | None:
        return decode_usage(body.get("usage")) if isinstance(body, dict) else None

    def encode_request(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        return encode_responses_request(request, model)

    def decode_response(self, body: Any) -> ir.ChatResponse:
        return decode_responses_response(body)

    def stream_decoder(self) -> StreamDecoder:
        return ResponsesStreamDecoder()

    def decode_error(self, status: int, body: bytes) -> ir.GatewayError:
        return CHAT.decode_error(status, body)


CODEC = OpenAIResponses()
