"""OpenAI Responses answers, both directions: a whole Response to the IR and back, its output items
and usage. Requests are in `openai_responses_request.py`, streams in `openai_responses_stream.py`,
the codec that joins them in `openai_responses.py`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import citations, code_runs, logprobs, tools, web_search
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.openai_responses_request import (
    NAME,
    PROVIDER,
    decode_items,
    items_out,
    new_id,
    summary_items,
)

# Response -----------------------------------------------------------------------------------------


def decode_usage(raw: Any) -> ir.Usage | None:
    if not isinstance(raw, dict):
        return None
    details_in = f.sub(raw, "input_tokens_details")
    return ir.Usage(input_tokens=f.count(raw, "input_tokens"), output_tokens=f.count(raw, "output_tokens"),
                    cache_read_tokens=f.count(details_in, "cached_tokens"),
                    cache_write_tokens=f.count(details_in, "cache_write_tokens"),
                    reasoning_tokens=f.count(f.sub(raw, "output_tokens_details"), "reasoning_tokens"))


def encode_usage(usage: ir.Usage) -> dict[str, Any]:
    return {"input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cache_read_tokens,
                                     "cache_write_tokens": usage.cache_write_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def _finish(body: Mapping[str, Any], parts: list[ir.Part]) -> ir.FinishReason:
    if body.get("status") == "incomplete":
        reason = f.sub(body, "incomplete_details").get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if any(isinstance(p, ir.ToolCall) for p in parts) else "stop"


def decode_responses_response(body: Any) -> ir.ChatResponse:
    body = f.obj(body, "response")
    messages = decode_items(f.array(body, "output") or [], "output")
    parts = [p for m in messages for p in m.parts]
    return ir.ChatResponse(id=f.label(body, "id") or "", model=f.label(body, "model") or "",
                           created=f.timestamp(body, "created_at"),
                           choices=[ir.Choice(0, ir.Message("assistant", parts), _finish(body, parts),
                                              _tokens(body.get("output") or []))],
                           usage=decode_usage(body.get("usage")))


def _tokens(output: list[Any]) -> list[ir.TokenLogprob] | None:
    """The log probabilities of every `output_text` part, in order; None where none has any (the
    API gives each part an empty list unless they were asked for)."""
    found = [token for item in output if isinstance(item, dict) and item.get("type") == "message"
             for part in item.get("content") or () if isinstance(part, dict) and part.get("type") == "output_text"
             for token in logprobs.from_openai(part.get("logprobs")) or ()]
    return found or None


def call_item(call: ir.ToolCall, request: ir.ChatRequest | None) -> dict[str, Any]:
    """A tool call as the item of the client's own kind of tool (`tools.call_item`)."""
    kind = tools.call_item(request, call.name, call.kind)
    if kind == "custom_tool_call":
        return {"type": kind, "id": new_id("ctc"), "call_id": call.id, "name": call.name, "input": call.arguments,
                "status": "completed"}
    if kind in tools.CLIENT_OUTPUTS:  # tool_search_call, shell_call...
        return tools.client_call_item(kind, call.id, call.arguments, new_id("tc"))
    return {"type": kind, "id": new_id("fc"), "call_id": call.id, "name": call.name, "arguments": call.arguments,
            "status": "completed"}


def _output_items(parts: list[ir.Part], request: ir.ChatRequest | None = None,
                  grounding: dict[str, Any] | None = None,
                  tokens: list[ir.TokenLogprob] | None = None) -> list[dict[str, Any]]:
    """IR output as Responses items, with the ids a client echoes back on the next turn; another
    provider's web search (Anthropic's server tool, Gemini's grounding) as `web_search_call` items;
    the text's citations as `url_citation` annotations and its log probabilities, each part's on it."""
    searched = web_search.of_grounding(grounding) if grounding else None
    items: list[dict[str, Any]] = [web_search.to_responses(searched)] if searched else []
    message: dict[str, Any] | None = None
    texts = [part.text for part in parts if isinstance(part, ir.Text)]
    shares = iter(logprobs.split(tokens or [], texts))
    for part in code_runs.foreign(web_search.foreign(parts, NAME), NAME):
        if isinstance(part, (ir.Text, ir.Refusal)):
            if message is None:
                message = {"type": "message", "id": new_id("msg"), "role": "assistant", "status": "completed",
                           "content": []}
                items.append(message)
            message["content"].append({"type": "output_text", "text": part.text,
                                       "annotations": [citations.to_responses(c, len(part.text))
                                                       for c in part.citations or ()],
                                       "logprobs": logprobs.to_openai(next(shares))}
                                      if isinstance(part, ir.Text) else {"type": "refusal", "refusal": part.text})
            continue
        message = None
        if isinstance(part, ir.ToolCall):
            items.append(call_item(part, request))
        elif isinstance(part, ir.Reasoning) and (part.text or part.provider == PROVIDER):
            item = {"type": "reasoning", "id": (part.extra or {}).get("id") or new_id("rs"),
                    "summary": summary_items(part.text)}
            if part.provider == PROVIDER and part.signature:
                item["encrypted_content"] = part.signature
            items.append(item)
        elif isinstance(part, ir.Opaque) and part.dialect == NAME:
            items.append(part.data)
    return items


def response_object(resp_id: str, model: str, created: float, status: str, output: list[dict[str, Any]],
                    usage: ir.Usage | None, request: ir.ChatRequest | None, *, error: Any = None,
                    incomplete: str | None = None) -> dict[str, Any]:
    """A Response object, echoing the request's settings as the API does."""
    native = (request.native if request is not None else None) or {}
    text = dict(native.get("text") or {})
    text.setdefault("format", {"type": "text"})
    return {
        "id": resp_id, "object": "response", "created_at": created, "status": status,
        "completed_at": time.time() if status == "completed" else None,
        "error": error, "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": native.get("instructions"), "max_output_tokens": native.get("max_output_tokens"),
        "model": model, "output": output, "parallel_tool_calls": native.get("parallel_tool_calls", True),
        "previous_response_id": native.get("previous_response_id"),
        "reasoning": native.get("reasoning") or {"effort": None, "summary": None},
        "store": native.get("store", True), "temperature": native.get("temperature"), "text": text,
        "tool_choice": native.get("tool_choice", "auto"), "tools": native.get("tools") or [],
        "top_p": native.get("top_p"), "truncation": native.get("truncation", "disabled"),
        "usage": encode_usage(usage) if usage is not None else None, "metadata": native.get("metadata") or {},
    } | ({"conversation": native["conversation"]} if "conversation" in native else {})


def _response_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("resp_") else new_id("resp")


def encode_responses_response(resp: ir.ChatResponse, request: ir.ChatRequest | None) -> dict[str, Any]:
    choice = resp.choices[0] if resp.choices else ir.Choice(0, ir.Message("assistant", []), "stop")
    incomplete = {"length": "max_output_tokens", "context_overflow": "max_output_tokens",
                  "content_filter": "content_filter"}.get(choice.finish_reason or "")
    return response_object(_response_id(resp.id), resp.model, resp.created, "incomplete" if incomplete else "completed",
                           _output_items(choice.message.parts, request, (choice.extra or {}).get("grounding"),
                                         choice.logprobs),
                           resp.usage, request, incomplete=incomplete)


def encode_compacted(compacted: ir.Compacted) -> dict[str, Any]:
    """A `response.compaction`: every user message, then one compaction item whose content only
    the gateway that sealed it can read."""
    output = [item | {"id": new_id("msg"), "status": "completed"}
              for message in compacted.messages for item in items_out(message)]
    output.append({"type": "compaction", "id": new_id("cmp"), "encrypted_content": compacted.state})
    return {"id": new_id("resp"), "object": "response.compaction", "created_at": int(time.time()), "output": output,
            "usage": encode_usage(compacted.usage or ir.Usage())}
