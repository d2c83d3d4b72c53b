"""Citations of web pages in an answer's text, in the words of each dialect, to and from the IR's
`Citation`:

- Anthropic cites a whole text block (`web_search_result_location`, its search's pages, and
  `search_result_location`, a search result the client gave with a URL as its `source`), and
  splits its text into blocks so that each cited span is one.
- OpenAI's `url_citation` annotations cite a span in characters: the Responses API's flat, on each
  `output_text` part; Chat Completions' nested under `url_citation`, on the message, counted across
  its one content string.
- Gemini's `groundingSupports` cite segments in UTF-8 bytes of the candidate's text, each naming
  the pages (`groundingChunks`) that back it.

Only a page's citation travels between dialects: a document's (Anthropic's character and page
locations, OpenAI's file citations) cites something that only its own API holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.ids import MARK

_URL_OF = {"web_search_result_location": "url", "search_result_location": "source"}  # where a citation's URL is


def _page(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def _span(citation: ir.Citation, length: int, base: int = 0) -> tuple[int, int]:
    """The span in a part of `length` characters that begins `base` characters into the text the
    citation counts in, kept within the part."""
    start = min(max((citation.start or base) - base, 0), length)
    end = length if citation.end is None else min(max(citation.end - base, start), length)
    return start, end


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# Anthropic ----------------------------------------------------------------------------------------


def from_anthropic(raw: Any) -> list[ir.Citation] | None:
    """A text block's `citations`: those of a web page, each covering the block."""
    out = [ir.Citation(c[_URL_OF[kind]], str(c.get("title") or ""), quote=str(c.get("cited_text") or ""))
           for c in raw or () if isinstance(c, dict) and (kind := str(c.get("type"))) in _URL_OF
           and _page(c.get(_URL_OF[kind]))] if isinstance(raw, list) else []
    return out or None


def to_anthropic(citation: ir.Citation, cited: str) -> dict[str, Any]:
    """A page's citation as Claude words its search's, `cited` the text it backs where the upstream
    quoted none; the index is marked (`MARK`), so that sent back to Claude, which reads its own
    `encrypted_index`, the citation is left out (`unmarked`)."""
    return {"type": "web_search_result_location", "url": citation.url, "title": citation.title or None,
            "cited_text": citation.quote or cited, "encrypted_index": MARK}


def _made_here(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get("encrypted_index") == MARK


def marked(part: ir.Part) -> bool:
    """Whether an Anthropic text block holds citations the gateway wrote (`to_anthropic`)."""
    given = (part.extra or {}).get("citations") if isinstance(part, ir.Text) else None
    return isinstance(given, list) and any(_made_here(c) for c in given)


def unmarked(part: ir.Text) -> ir.Text:
    """A text block without the citations the gateway wrote, which Claude cannot take back."""
    extra = dict(part.extra or {})
    kept = [c for c in extra.pop("citations", None) or () if not _made_here(c)]
    return ir.Text(part.text, {**extra, "citations": kept} if kept else extra or None, part.citations)


def anthropic_blocks(part: ir.Text) -> list[tuple[str, list[dict[str, Any]]]]:
    """A part's text as Anthropic's blocks: cut where a cited span begins or ends, each piece with
    the citations of the spans that cover it."""
    cited = part.citations or []
    length = len(part.text)
    spans = [_span(c, length) for c in cited]
    cuts = sorted({0, length, *(edge for span in spans for edge in span)})
    blocks = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        piece = part.text[start:end]
        blocks.append((piece, [to_anthropic(c, piece) for c, (a, b) in zip(cited, spans, strict=True)
                               if a <= start and end <= b and a < b]))
    return blocks or [(part.text, [])]


# OpenAI -------------------------------------------------------------------------------------------


def from_openai(raw: Any) -> list[ir.Citation] | None:
    """`url_citation` annotations, flat (Responses) or nested (Chat); the spans as given."""
    out = []
    for note in raw if isinstance(raw, list) else ():
        if not isinstance(note, dict) or note.get("type") != "url_citation":
            continue
        nested = note.get("url_citation")
        body: dict[str, Any] = nested if isinstance(nested, dict) else note
        if _page(body.get("url")):
            out.append(ir.Citation(body["url"], str(body.get("title") or ""), _index(body.get("start_index")),
                                   _index(body.get("end_index"))))
    return out or None


def to_responses(citation: ir.Citation, length: int, base: int = 0) -> dict[str, Any]:
    """A Responses `url_citation`, its span in a part of `length` characters (in a stream, `base`
    characters into the choice's text)."""
    start, end = _span(citation, length, base)
    return {"type": "url_citation", "url": citation.url, "title": citation.title, "start_index": start,
            "end_index": end}


def to_chat(citation: ir.Citation, start: int, end: int) -> dict[str, Any]:
    return {"type": "url_citation", "url_citation": {"url": citation.url, "title": citation.title,
                                                     "start_index": start, "end_index": end}}


def chat_annotations(parts: Iterable[ir.Part]) -> list[dict[str, Any]]:
    """A message's citations as Chat annotations, each span counted across its text parts, which
    Chat joins into one content string."""
    out = []
    for base, part in _placed(parts):
        for citation in part.citations or ():
            start, end = _span(citation, len(part.text))
            out.append(to_chat(citation, base + start, base + end))
    return out


def _placed(parts: Iterable[ir.Part]) -> Iterator[tuple[int, ir.Text]]:
    """Each text part with the characters of text before it."""
    base = 0
    for part in parts:
        if isinstance(part, ir.Text):
            yield base, part
            base += len(part.text)


# Gemini -------------------------------------------------------------------------------------------


def _pages(grounding: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(web.get("uri") or ""), str(web.get("title") or ""))
            for chunk in f.listed(grounding, "groundingChunks") if isinstance(chunk, dict)
            for web in (f.sub(chunk, "web"),)]


def from_gemini(grounding: dict[str, Any], text: str) -> list[ir.Citation]:
    """Grounding supports as citations, their spans in characters of `text` (the candidate's),
    which Gemini counts in UTF-8 bytes."""
    pages = _pages(grounding)
    raw = text.encode()

    def chars(offset: Any, default: int) -> int:
        at = _index(offset)
        return len(raw[:default if at is None else at].decode(errors="ignore"))

    out = []
    for support in f.listed(grounding, "groundingSupports"):
        if not isinstance(support, dict):
            continue
        segment = f.sub(support, "segment")
        for index in f.listed(support, "groundingChunkIndices"):
            if _index(index) is not None and index < len(pages) and _page(pages[index][0]):
                out.append(ir.Citation(pages[index][0], pages[index][1], chars(segment.get("startIndex"), 0),
                                       chars(segment.get("endIndex"), len(raw)), str(segment.get("text") or "")))
    return out


def place(parts: list[ir.Part], citations: Iterable[ir.Citation]) -> None:
    """Citations with spans in characters of the parts' text together, put on the part each begins
    in, their spans made that part's."""
    placed = list(_placed(parts))
    for citation in citations:
        start = citation.start or 0
        at = next(((base, part) for base, part in reversed(placed) if base <= start), None)
        if at is None:
            continue
        base, part = at
        end = None if citation.end is None else min(citation.end - base, len(part.text))
        if part.citations is None:
            part.citations = []
        part.citations.append(ir.Citation(citation.url, citation.title, start - base, end, citation.quote))


def to_gemini(parts: list[ir.Part], grounding: dict[str, Any] | None) -> dict[str, Any] | None:
    """`grounding` (the answer's searches, or None) with the text parts' citations as its supports:
    each cited span a segment in UTF-8 bytes of the answer's text, naming the pages it cites (added
    to the chunks where the searches did not find them)."""
    cited = [(base, part, c) for base, part in _placed(parts) for c in part.citations or ()]
    if not cited:
        return grounding
    grounding = dict(grounding or {})
    chunks = grounding["groundingChunks"] = list(grounding.get("groundingChunks") or ())
    text = "".join(part.text for part in parts if isinstance(part, ir.Text))
    grounding["groundingSupports"] = [*(grounding.get("groundingSupports") or ()), *supports(
        text, [ir.Citation(c.url, c.title, base + start, base + end) for base, part, c in cited
               for start, end in (_span(c, len(part.text)),)], chunks)]
    return grounding


def supports(text: str, citations: Iterable[ir.Citation], chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Citations with spans in characters of `text` as Gemini's supports, one a span, naming the
    pages in `chunks` (a page not there is added to it)."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for citation in citations:
        start, end = _span(citation, len(text))
        known = next((i for i, c in enumerate(chunks) if (c.get("web") or {}).get("uri") == citation.url), None)
        if known is None:
            chunks.append({"web": {"uri": citation.url, "title": citation.title}})
            known = len(chunks) - 1
        support = out.setdefault((start, end), {
            "segment": {"startIndex": len(text[:start].encode()), "endIndex": len(text[:end].encode()),
                        "text": text[start:end]}, "groundingChunkIndices": []})
        if known not in support["groundingChunkIndices"]:
            support["groundingChunkIndices"].append(known)
    return list(out.values())
