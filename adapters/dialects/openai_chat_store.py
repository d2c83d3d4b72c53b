"""Stored Chat Completions (`store: true` on `POST /v1/chat/completions`), the wire only: the
routes of `client.chat.completions.retrieve/update/list/delete` and `.messages.list`, the list's
filters, and the objects they answer with.

A stored completion is the `chat.completion` its client got, whole or streamed (a stream's chunks
folded into one, as OpenAI keeps it), with the request's metadata and sampling fields beside it,
and the request's messages listed with ids. The state is kept by `middleware/completions.py` in
`adapters/storage/completions.py`, for any upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import openai_pages as pages
from interlingua.adapters.dialects.base import Route, resource
from interlingua.adapters.dialects.openai_conversations import metadata_of

PREFIX = "/v1/chat/completions"
# What OpenAI's stored completion says of its request, beside the completion itself.
_ECHOED = ("tool_choice", "seed", "top_p", "temperature", "presence_penalty", "frequency_penalty", "tools",
           "response_format")


def match(method: str, path: str) -> Route | None:
    return resource(method, path, PREFIX, {"POST": ops.CHAT, "GET": ops.CHAT_COMPLETIONS_LIST},
                    {"GET": ops.CHAT_COMPLETIONS_GET, "POST": ops.CHAT_COMPLETIONS_UPDATE,
                     "DELETE": ops.CHAT_COMPLETIONS_DELETE},
                    {("messages", "GET"): ops.CHAT_COMPLETION_MESSAGES})


@dataclass(slots=True)
class MetadataUpdate:
    """`POST /v1/chat/completions/{id}`: the metadata that replaces the stored one."""

    metadata: dict[str, str]


def decode_update(body: Any) -> MetadataUpdate:
    body = f.obj(body, "body")
    if "metadata" not in body:
        raise ir.invalid("metadata", "is required")
    return MetadataUpdate(metadata_of(body) or {})


@dataclass(slots=True)
class ListQuery:
    """`GET /v1/chat/completions`: a page (`after`, `limit`, `order`, ascending by default, as
    OpenAI's), of one `model`'s completions, whose metadata holds every pair of `metadata`."""

    after: str | None
    limit: int
    desc: bool
    model: str | None
    metadata: dict[str, str]


def list_query(query_string: bytes) -> ListQuery:
    after, limit, desc = pages.page_of(query_string, order="asc")
    metadata: dict[str, str] = {}
    model = None
    for name, value in parse_qsl(query_string.decode("latin-1")):
        if name == "model":
            model = value
        elif name.startswith("metadata[") and name.endswith("]"):
            metadata[name[9:-1]] = value
    return ListQuery(after, limit, desc, model, metadata)


def stored(completion: dict[str, Any], request: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    """The object a stored completion is answered as, but its metadata (kept apart: an update
    replaces it): the completion, and what its request asked of the sampling and tools."""
    echoed = {name: request.get(name) for name in _ECHOED}
    return {**completion, **echoed, "input_user": request.get("user"), "request_id": request_id}


def stored_messages(completion_id: str, messages: Any) -> list[dict[str, Any]]:
    """The request's messages as `messages.list` answers them: each with an id, its content as
    text, and its parts in `content_parts` when it was sent as parts."""
    listed = []
    for index, message in enumerate(messages if isinstance(messages, list) else ()):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        parts = None
        if isinstance(content, list):
            parts = content
            texts = [part["text"] for part in content
                     if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)]
            content = "".join(texts) if texts else None
        listed.append({**message, "id": f"{completion_id}-{index}", "content": content,
                       "name": message.get("name"), "content_parts": parts})
    return listed


def deleted_object(completion_id: str) -> dict[str, Any]:
    return {"id": completion_id, "object": "chat.completion.deleted", "deleted": True}


def not_found(completion_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"Chat completion with id '{completion_id}' not found.",
                           param="completion_id", code="not_found")


class ChunkFold:
    """A streamed answer's `chat.completion.chunk`s folded into the `chat.completion` a whole
    answer would have been: text deltas joined, tool calls joined by their index, the last
    finish reason and usage kept."""

    __slots__ = ("head", "choices", "usage")

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: Any = None

    def feed(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        for name in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(name) is not None:
                self.head[name] = chunk[name]
        if chunk.get("usage") is not None:
            self.usage = chunk["usage"]
        for delta_choice in chunk.get("choices") or ():
            if isinstance(delta_choice, dict) and isinstance(delta_choice.get("index", 0), int):
                self._choice(delta_choice)

    def _choice(self, delta_choice: dict[str, Any]) -> None:
        choice = self.choices.setdefault(delta_choice.get("index", 0), {
            "index": delta_choice.get("index", 0), "message": {"role": "assistant", "content": None, "refusal": None},
            "logprobs": None, "finish_reason": None})
        if delta_choice.get("finish_reason") is not None:
            choice["finish_reason"] = delta_choice["finish_reason"]
        logprobs = delta_choice.get("logprobs")
        if isinstance(logprobs, dict):
            kept = choice["logprobs"] = choice["logprobs"] or {}
            for name, tokens in logprobs.items():
                if isinstance(tokens, list):
                    joined = kept.get(name)
                    if isinstance(joined, list):
                        joined.extend(tokens)
                    else:
                        kept[name] = list(tokens)
        delta = delta_choice.get("delta")
        if isinstance(delta, dict):
            _merge(choice["message"], delta)

    def completion(self) -> dict[str, Any]:
        """The folded answer; its tool calls without their stream indexes, as a whole answer has them."""
        for choice in self.choices.values():
            calls = choice["message"].get("tool_calls")
            if calls:
                choice["message"]["tool_calls"] = [{k: v for k, v in call.items() if k != "index"} for call in calls]
        return {"id": self.head.get("id"), "object": "chat.completion", "created": self.head.get("created"),
                "model": self.head.get("model"), "choices": [self.choices[i] for i in sorted(self.choices)],
                "usage": self.usage, "system_fingerprint": self.head.get("system_fingerprint"),
                "service_tier": self.head.get("service_tier")}


def _merge(message: dict[str, Any], delta: dict[str, Any]) -> None:
    """One delta into the message so far: text joined, tool calls by index, anything else as last said."""
    for name, value in delta.items():
        if value is None:
            continue
        if name == "tool_calls" and isinstance(value, list):
            calls = message.setdefault("tool_calls", [])
            for part in value:
                if isinstance(part, dict):
                    _merge_call(calls, part)
        elif name == "function_call" and isinstance(value, dict):
            _merge(message.setdefault("function_call", {}), value)
        elif isinstance(value, str) and name != "role" and isinstance(message.get(name), str):
            message[name] += value
        else:
            message[name] = value


def _merge_call(calls: list[dict[str, Any]], part: dict[str, Any]) -> None:
    index = part.get("index", len(calls))
    call = next((c for c in calls if c["index"] == index), None)
    if call is None:
        call = {"index": index, "id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        calls.append(call)
    for name, value in part.items():
        if name == "function" and isinstance(value, dict):
            _merge(call["function"], value)
        elif value is not None and name != "index":
            call[name] = value

