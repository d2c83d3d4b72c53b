"""A web page the gateway fetched for a model whose upstream fetches none (`middleware/
hosted_web_fetch.py`), in Anthropic's words: its `web_fetch` tool's `server_tool_use` and the
`web_fetch_tool_result`, the page's text as a document, or an error code; and such a pair read
back, for the model of a later turn. A Gemini client reads such pairs, the gateway's or Claude's,
as its URL context's `urlContextMetadata`: which pages were retrieved, and which not.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.ids import MARK

TOOL = "web_fetch"  # Anthropic's name for its fetch, and the gateway's function's
RESULT = "web_fetch_tool_result"


@dataclass(slots=True)
class Fetch:
    url: str
    text: str = ""
    title: str = ""
    error: str | None = None  # Anthropic's error code: url_not_accessible, url_not_allowed...


def to_anthropic(fetch: Fetch) -> list[dict[str, Any]]:
    """Anthropic's pair of blocks, the id marked (`ids.MARK`): sent back to Claude, which takes
    back only its own, the pair is told as text (`web_search.settled`)."""
    use_id = f"srvtoolu_{MARK}{secrets.token_hex(12)}"
    content: dict[str, Any] = {"type": "web_fetch_tool_result_error", "error_code": fetch.error} if fetch.error else {
        "type": "web_fetch_result", "url": fetch.url,
        "retrieved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "content": {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": fetch.text},
                    "title": fetch.title or None, "citations": None}}
    return [{"type": "server_tool_use", "id": use_id, "name": TOOL, "input": {"url": fetch.url}},
            {"type": RESULT, "tool_use_id": use_id, "content": content}]


def read(url: str, result: dict[str, Any]) -> Fetch:
    """A `web_fetch_tool_result` (Claude's or the gateway's) of a fetch of `url`."""
    content = f.sub(result, "content")
    if content.get("type") != "web_fetch_result":
        return Fetch(url, error=str(content.get("error_code") or "unavailable"))
    document = f.sub(content, "content")
    source = f.sub(document, "source")
    data = source.get("data") if source.get("type") == "text" else None
    return Fetch(str(content.get("url") or url), data if isinstance(data, str) else "",
                 str(document.get("title") or ""))


def told(fetch: Fetch) -> str:
    """What a fetch found, as the model reads it."""
    if fetch.error:
        return f"The page {fetch.url} could not be fetched ({fetch.error})."
    heading = f"{fetch.title}\n{fetch.url}" if fetch.title else fetch.url
    return f"{heading}\n\n{fetch.text}" if fetch.text else f"{heading}\n\n(The page has no text.)"


class Reader:
    """The fetches told by a run of Anthropic's blocks, in order: a call waits for its result."""

    __slots__ = ("_asked",)

    def __init__(self) -> None:
        self._asked: dict[str, str] = {}  # the calls by id: their URLs

    def foreign(self, part: ir.Opaque | ir.OpaqueBlock, dialect: str) -> Fetch | None:
        """The fetch a block tells, once whole, for a client of another `dialect` than Anthropic's;
        None for any other block."""
        data = part.data
        if part.dialect != ANTHROPIC or dialect == ANTHROPIC:
            return None
        if data.get("type") == "server_tool_use" and data.get("name") == TOOL:
            self._asked[str(data.get("id"))] = str(f.sub(data, "input").get("url") or "")
            return None
        if data.get("type") == RESULT:
            return read(self._asked.pop(str(data.get("tool_use_id")), ""), data)
        return None


def to_url_context(fetches: list[Fetch]) -> dict[str, Any]:
    """Gemini's `urlContextMetadata` of the fetches."""
    return {"urlMetadata": [{"retrievedUrl": fetch.url, "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_ERROR"
                             if fetch.error else "URL_RETRIEVAL_STATUS_SUCCESS"} for fetch in fetches]}


def url_context(parts: list[ir.Part], dialect: str) -> dict[str, Any] | None:
    """The `urlContextMetadata` of an answer's fetches, for a client of `dialect`; None if it has none."""
    reader = Reader()
    fetches = [fetch for part in parts if isinstance(part, ir.Opaque) and (fetch := reader.foreign(part, dialect))]
    return to_url_context(fetches) if fetches else None
