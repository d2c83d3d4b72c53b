"""OpenAI's cursor-paged lists (a response's input items, a conversation's items, files): `after`,
`limit` and `order` in the query, `{"object": "list", "data", "first_id", "last_id", "has_more"}`
out, which the SDK pages through by `after=last_id` while `has_more`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f

MAX_PAGE = 100
DEFAULT_PAGE = 20

Page = tuple[list[Any], bool]  # items, and whether more follow


def page_of(query_string: bytes, most: int = MAX_PAGE, default: int = DEFAULT_PAGE,
            order: str = "desc") -> tuple[str | None, int, bool]:
    """A list's `after`, `limit` (1 to `most`) and whether it runs newest first (`order`, `desc`
    unless the list says otherwise)."""
    query = parse_qs(query_string.decode("latin-1"))
    after = query.get("after", [None])[-1]
    limit = f.page_size(query, "limit", most, default)
    order = query.get("order", [order])[-1]
    if order not in ("asc", "desc"):
        raise ir.invalid("order", "must be one of asc, desc")
    return after, limit, order == "desc"


def query_value(query_string: bytes, name: str) -> str | None:
    """One more parameter of a list's query (the last, where it is repeated)."""
    found = parse_qs(query_string.decode("latin-1")).get(name)
    return found[-1] if found else None


def paged(items: list[Any], after: str | None, limit: int, desc: bool) -> Page:
    """A page of `items` (oldest first); an `after` that is none of their ids starts at the first."""
    ordered = items[::-1] if desc else items
    if after is not None:
        ids = [item.get("id") if isinstance(item, dict) else None for item in ordered]
        if after in ids:
            ordered = ordered[ids.index(after) + 1:]
    return ordered[:limit], len(ordered) > limit


def item_list(items: list[Any], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": items, "first_id": items[0].get("id") if items else None,
            "last_id": items[-1].get("id") if items else None, "has_more": has_more}
