"""OpenAI Conversations (`/v1/conversations`, OpenAI's Conversations API reference), the wire only:
its routes, its request bodies checked into a `ConversationEdit`, and the objects it answers with.

A conversation is a durable list of items that a Responses turn naming it (`conversation` on
`POST /v1/responses`) reads as its history and extends with its input and output. The state is
kept by `middleware/conversations.py` in `adapters/storage/conversations.py`, for any upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.base import Route
from interlingua.adapters.dialects.openai_responses_request import decode_items, full_items

PREFIX = "/v1/conversations"
MAX_ITEMS = 20  # items a create or an items.create may add at once
MAX_METADATA = 16
MAX_KEY = 64
MAX_VALUE = 512


@dataclass(slots=True)
class ConversationEdit:
    """What a create, an update or an items.create asks for."""

    items: list[Any]  # in the full form the API lists them in: with ids, content as parts
    metadata: dict[str, str] | None  # None: unchanged (or empty, on create)


def match(method: str, path: str) -> Route | None:
    """The operation a `/v1/conversations...` path asks for."""
    rest = path[len(PREFIX):].strip("/")
    if not rest:
        return Route(ops.CONVERSATIONS_CREATE, {}) if method == "POST" else None
    conversation, _, tail = rest.partition("/")
    params = {"id": conversation}
    if not tail:
        operation = {"GET": ops.CONVERSATIONS_GET, "POST": ops.CONVERSATIONS_UPDATE,
                     "DELETE": ops.CONVERSATIONS_DELETE}.get(method)
    elif tail == "items":
        operation = {"GET": ops.CONVERSATION_ITEMS_LIST, "POST": ops.CONVERSATION_ITEMS_CREATE}.get(method)
    elif tail.startswith("items/") and "/" not in tail[6:] and tail[6:]:
        params["item"] = tail[6:]
        operation = {"GET": ops.CONVERSATION_ITEM_GET, "DELETE": ops.CONVERSATION_ITEM_DELETE}.get(method)
    else:
        operation = None
    return Route(operation, params) if operation is not None else None


def decode_edit(operation: ops.Operation, body: Any) -> ConversationEdit:
    body = f.obj(body, "body")
    raw = f.array(body, "items", required=operation is ops.CONVERSATION_ITEMS_CREATE) or []
    if len(raw) > MAX_ITEMS:
        raise ir.invalid("items", f"may hold at most {MAX_ITEMS} items at a time")
    decode_items(raw, "items")  # refused here as a turn would refuse them
    f.string(body, "safety_identifier")
    if operation is ops.CONVERSATIONS_UPDATE and body.get("metadata") is None:
        raise ir.invalid("metadata", "is required")
    return ConversationEdit(full_items(raw), metadata_of(body))


def metadata_of(body: dict[str, Any]) -> dict[str, str] | None:
    metadata = f.mapping(body, "metadata")
    if metadata is None:
        return None
    if len(metadata) > MAX_METADATA:
        raise ir.invalid("metadata", f"may hold at most {MAX_METADATA} pairs")
    for key, value in metadata.items():
        if len(key) > MAX_KEY:
            raise ir.invalid("metadata", f"keys are at most {MAX_KEY} characters long")
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise ir.invalid(f"metadata.{key}", f"must be a string of at most {MAX_VALUE} characters")
    return metadata


def conversation_of(body: dict[str, Any]) -> str | None:
    """The id of the conversation a Responses request continues (`conversation`: an id, or an
    object with one), or None."""
    raw = body.get("conversation")
    if raw is None:
        return None
    conversation = f.string(f.obj(raw, "conversation"), "id", "conversation.", required=True) if isinstance(
        raw, dict) else f.string(body, "conversation")
    if not conversation:
        raise ir.invalid("conversation", "must be a conversation id, or an object with one")
    if body.get("previous_response_id") is not None:
        raise ir.invalid("conversation", "cannot be used together with `previous_response_id`")
    return conversation


def conversation_object(conversation: str, created: int, metadata: dict[str, str]) -> dict[str, Any]:
    return {"id": conversation, "object": "conversation", "created_at": created, "metadata": metadata}


def deleted_object(conversation: str) -> dict[str, Any]:
    return {"id": conversation, "object": "conversation.deleted", "deleted": True}


def not_found(conversation: str, param: str | None = None) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"Conversation with id '{conversation}' not found.", param=param,
                           code="conversation_not_found")


def item_not_found(item: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"Item with id '{item}' not found.", param="item_id", code="item_not_found")
