"""A web search an upstream ran while answering (or the gateway, for a model without one), from one
dialect's words to another's: Anthropic's `server_tool_use` and `web_search_tool_result` blocks, a
Responses `web_search_call` item, Gemini's `groundingMetadata`. Each is read into a `Search` (what
was asked, the pages found) and written in the client's words, so a client sees the searches of
any upstream as its own API shows them, whole and streamed. The text's citations of the pages are
`citations.py`'s.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from interlingua.adapters import ir
from interlingua.adapters.dialects import code_runs, web_fetch
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.ids import MARK
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.dialects.openai_responses_request import new_id

TOOL = "web_search"  # Anthropic's name for its search, and the gateway's function's
GROUNDING = "groundingMetadata"


@dataclass(slots=True)
class Search:
    queries: list[str]
    pages: list[tuple[str, str]] = field(default_factory=list)  # (url, title), best first
    failed: bool = False


# Reading -------------------------------------------------------------------------------------------


def is_search(part: ir.Opaque | ir.OpaqueBlock) -> bool:
    """Whether a dialect's block tells of a web search (a half of Anthropic's pair included)."""
    kind = part.data.get("type")
    if part.dialect == ANTHROPIC:
        return kind == "web_search_tool_result" or kind == "server_tool_use" and part.data.get("name") == TOOL
    if part.dialect == RESPONSES:
        return kind == "web_search_call"
    return part.dialect == GEMINI and isinstance(part.data.get(GROUNDING), dict)


class Reader:
    """The searches told by a run of blocks, in order: Anthropic's call waits for its result."""

    def __init__(self) -> None:
        self._asked: dict[str, str] = {}  # Anthropic's calls by id: their queries

    def foreign(self, part: ir.Opaque | ir.OpaqueBlock, dialect: str) -> Search | None:
        """The search a block of a dialect other than `dialect` tells, once whole; None for any
        other block (a stream encoder's question of each block it is given)."""
        return self.read(part) if part.dialect != dialect and is_search(part) else None

    def read(self, part: ir.Opaque | ir.OpaqueBlock) -> Search | None:
        data = part.data
        if part.dialect == ANTHROPIC:
            if data.get("type") == "server_tool_use":
                self._asked[str(data.get("id"))] = str(f.sub(data, "input").get("query") or "")
                return None
            query = self._asked.pop(str(data.get("tool_use_id")), "")
            found = data.get("content")
            if not isinstance(found, list):  # an error result
                return Search([query], failed=True)
            return Search([query], [(str(r.get("url")), str(r.get("title") or "")) for r in found
                                    if isinstance(r, dict) and r.get("url")])
        if part.dialect == RESPONSES:
            action = f.sub(data, "action")
            queries = [str(q) for q in f.listed(action, "queries") if q] or [str(action.get("query") or "")]
            return Search(queries, [(str(s.get("url")), "") for s in f.listed(action, "sources")
                                    if isinstance(s, dict) and s.get("url")], data.get("status") == "failed")
        return of_grounding(data[GROUNDING])


def of_grounding(grounding: dict[str, Any]) -> Search | None:
    """Gemini's grounding with Google Search; None where it searched nothing (a file search's)."""
    queries = [str(q) for q in f.listed(grounding, "webSearchQueries")]
    pages = [(str(web.get("uri") or ""), str(web.get("title") or ""))
             for chunk in f.listed(grounding, "groundingChunks") if isinstance(chunk, dict)
             for web in (chunk.get("web"),) if isinstance(web, dict)]
    return Search(queries, pages) if queries or pages else None


def searches(parts: list[ir.Part], grounding: dict[str, Any] | None = None) -> list[Search]:
    """Every search an answer tells, in the words of any dialect."""
    reader, titles = Reader(), _titles(parts)
    found = [_titled(s, titles) for p in parts
             if isinstance(p, ir.Opaque) and is_search(p) and (s := reader.read(p)) is not None]
    from_grounding = of_grounding(grounding) if grounding else None
    return [*found, *([from_grounding] if from_grounding else [])]


# Writing -------------------------------------------------------------------------------------------


def to_anthropic(search: Search) -> list[dict[str, Any]]:
    """Anthropic's pair of blocks; the pages' `encrypted_content` (Claude's own, for its next turn)
    is empty, as no other upstream has one, and the id marked (`MARK`), so that the pair is told to
    Claude as text when the client sends it back (`settled`)."""
    use_id = f"srvtoolu_{MARK}{secrets.token_hex(12)}"
    content: Any = ({"type": "web_search_tool_result_error", "error_code": "unavailable"} if search.failed else
                    [{"type": "web_search_result", "url": url, "title": named(url, title), "encrypted_content": "",
                      "page_age": None} for url, title in search.pages])
    return [{"type": "server_tool_use", "id": use_id, "name": TOOL, "input": {"query": " ".join(search.queries)}},
            {"type": "web_search_tool_result", "tool_use_id": use_id, "content": content}]


def to_responses(search: Search, with_sources: bool = True) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "search", "query": search.queries[0] if search.queries else ""}
    if any(search.queries):
        action["queries"] = search.queries
    if with_sources:
        action["sources"] = [{"type": "url", "url": url} for url, _ in search.pages]
    return {"type": "web_search_call", "id": new_id("ws"), "status": "failed" if search.failed else "completed",
            "action": action}


def to_grounding(found: list[Search]) -> dict[str, Any]:
    return {"webSearchQueries": [q for s in found for q in s.queries if q],
            "groundingChunks": [{"web": {"uri": url, "title": named(url, title)}} for s in found
                                for url, title in s.pages]}


def grounding_of(parts: list[ir.Part]) -> dict[str, Any] | None:
    """Another upstream's searches in an answer as Gemini's grounding (`citations.to_gemini` adds
    the text's citations of the pages)."""
    found = searches(parts)
    return to_grounding(found) if found else None


def foreign(parts: list[ir.Part], dialect: str) -> list[ir.Part]:
    """`parts` with each search told in another dialect's words put in `dialect`'s (Anthropic's
    blocks, Responses items) where it came; a Gemini client's are its grounding, not parts."""
    out: list[ir.Part] = []
    reader, titles = Reader(), _titles(parts)
    for part in parts:
        if not isinstance(part, ir.Opaque) or part.dialect == dialect or not is_search(part):
            out.append(part)
        elif (found := reader.read(part)) is not None:
            search = _titled(found, titles)
            out += [ir.Opaque(ANTHROPIC, block) for block in to_anthropic(search)] if dialect == ANTHROPIC else (
                [ir.Opaque(RESPONSES, to_responses(search))] if dialect == RESPONSES else [])
    return out


def named(url: str, title: str) -> str:
    """A page's title, or where it has none (a Responses search's sources, with no citation to name
    them) its host, as Google's grounding names pages: a client shows a title beside each link."""
    if title:
        return title
    try:
        host = urlsplit(url).hostname
    except ValueError:  # no URL a browser would open: the client shows it as it came
        host = None
    return (host or url).removeprefix("www.")


def _titles(parts: list[ir.Part]) -> dict[str, str]:
    """The pages' titles the answer's citations give (a Responses search's sources have none)."""
    return {c.url: c.title for p in parts if isinstance(p, ir.Text) for c in p.citations or () if c.title}


def _titled(search: Search, titles: dict[str, str]) -> Search:
    if not titles or all(title for _, title in search.pages):
        return search
    return Search(search.queries, [(url, title or titles.get(url, "")) for url, title in search.pages], search.failed)


def made_here(part: ir.Part) -> bool:
    """Whether `part` is one of a pair of Anthropic blocks the gateway wrote (`to_anthropic`)."""
    if not isinstance(part, ir.Opaque) or part.dialect != ANTHROPIC:
        return False
    own = part.data.get("id") if part.data.get("type") == "server_tool_use" else part.data.get("tool_use_id")
    return isinstance(own, str) and own.startswith("srvtoolu_" + MARK)


def settled(parts: list[ir.Part]) -> list[ir.Part]:
    """`parts` with each pair the gateway wrote (a search's, a fetch's: `web_fetch.py`, a code run's:
    `code_runs.py`) as what it tells, in text: Claude takes back only what it made itself."""
    reader, runs = Reader(), code_runs.Reader()
    fetching: dict[str, str] = {}  # the gateway's fetches by id: their URLs
    out: list[ir.Part] = []
    for part in parts:
        if not made_here(part) or not isinstance(part, ir.Opaque):
            out.append(part)
        elif code_runs.is_run(part):
            if (run := runs.read(part)) is not None:
                out.append(ir.Text(code_runs.told(run)))
        elif part.data.get("type") == "server_tool_use" and part.data.get("name") == web_fetch.TOOL:
            fetching[str(part.data.get("id"))] = str(f.sub(part.data, "input").get("url") or "")
        elif part.data.get("type") == web_fetch.RESULT:
            fetched = web_fetch.read(fetching.pop(str(part.data.get("tool_use_id")), ""), part.data)
            out.append(ir.Text(f"(Fetched a web page: {web_fetch.told(fetched)})"))
        elif (search := reader.read(part)) is not None:
            pages = "; ".join(f"{title} {url}".strip() for url, title in search.pages) or "nothing"
            out.append(ir.Text(f"(Searched the web for {' '.join(search.queries)!r}: found {pages}.)"))
    return out
