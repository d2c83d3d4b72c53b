"""HTML to its main text, as Markdown-like text (headings `#`, list items `-`, paragraphs apart)
so that segmenting can split it on its structure. Navigation, headers, footers, asides, forms and
scripts are dropped; the main content is `<main>`, else `<article>`, else the `role=main`
element, else the body.

selectolax (the Lexbor engine in C) is one wheel with no dependencies; trafilatura finds main text
with more heuristics but brings lxml and a dozen packages more, for pages where the landmark
elements mostly say it already.
"""

from __future__ import annotations

import re
from typing import IO

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds, text

_DROPPED = ("script, style, noscript, template, svg, canvas, iframe, nav, header, footer, aside, form, "
            "[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true], [hidden]")
_MAIN = ("main", "article", "[role=main]", "body")
_BLOCKS = ("p", "div", "section", "blockquote", "pre", "table", "tr", "ul", "ol", "dl", "dt", "dd", "figure",
           "figcaption", "address", "details", "summary", "hr")
# Elements deep that the parser is given at most: Chromium's parser caps its tree at this depth too,
# and real pages stay far below it.
MAX_DEPTH = 512
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
# Open elements that a start tag ends when they are the innermost, as the parser ends them.
_CELLS = frozenset({"td", "th"})
_ENDS: dict[str, frozenset[str]] = {
    "tr": _CELLS | {"tr"}, "td": _CELLS, "th": _CELLS, "li": frozenset({"li"}), "dt": frozenset({"dt", "dd"}),
    "dd": frozenset({"dt", "dd"}), "option": frozenset({"option"}),
    **dict.fromkeys(("address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl",
                     "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                     "header", "hgroup", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "ul"),
                    frozenset({"p"})),
}
_NOTHING: frozenset[str] = frozenset()
# Formatting elements stay on the parser's list of active ones after their block closes, until their
# end tag, and each new one is compared with the whole list: past this many, they are dropped too
# (they only ever bold or colour the text that main_text keeps).
MAX_FORMATTING = 512
_FORMATTING = frozenset({"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
                         "tt", "u"})
# Two more of the parser's squares: each attribute is compared with the tag's others, and each option
# inserted makes the select look through all of its options. A tag with more attributes is given
# bare, and a select's options past the limit are dropped, their text kept.
MAX_ATTRIBUTES = 256
MAX_OPTIONS = 512
# Elements a page may have: the parser and the walk that finds the text hold about 700 bytes for
# each (2.5 million empty paragraphs, 7.5 MB, took 9 s and 1.7 GB). The whole HTML standard on one
# page has fewer.
MAX_ELEMENTS = 1_000_000
_GAPS = re.compile(r"\s+")
_SCOPES = frozenset({"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n\s*(?:\n\s*)*")


def read(file: IO[bytes], content_type: str) -> ir.Document:
    file.seek(0)
    body = file.read()
    charset = text.known(text.charset_of(content_type))
    markup = body.decode(charset, "replace") if charset else text.decode(body) if _utf8(body) else body.decode(
        "cp1252", "replace")
    try:
        main = main_text(markup)
    except SelectolaxError as exc:  # an HTML parser never fails on content: lexbor could not allocate
        raise MemoryError(f"lexbor: {exc}") from None
    return ir.Document(main, [ir.Page(1)], [], kinds.HTML)


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def main_text(markup: str) -> str:
    tree = LexborHTMLParser(bounded(markup))
    for node in tree.css(_DROPPED):
        node.decompose()
    root = next(filter(None, (tree.css_first(selector) for selector in _MAIN)), tree.root)
    if root is None:
        return ""
    for level in range(1, 7):
        for node in root.css(f"h{level}"):
            _around(node, "#" * level + " ")
    for node in root.css("li"):
        _around(node, "- ")
    for node in root.css(", ".join(_BLOCKS)):
        _around(node, "")
    for node in root.css("br"):
        node.insert_after("\n")
    for node in root.css("td, th"):
        node.insert_after("\t")
    raw = root.text(deep=True, separator="")
    lines = (_SPACES.sub(" ", line).strip() for line in raw.split("\n"))
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _around(node: LexborNode, prefix: str) -> None:
    node.insert_before("\n\n" + prefix)
    node.insert_after("\n\n")


class _OpenElements:
    """The elements a parser would hold open, roughly as HTML's tree builder does: an end tag closes
    the last open element of its name and those above it, unless that element is behind a table or
    a cell (out of scope) or none is open, when the tag is ignored. Each step costs the same at any
    depth, so adversarial markup cannot make this pass slow too."""

    __slots__ = ("names", "at", "scopes")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.at: dict[str, list[int]] = {}  # each name's places in `names`
        self.scopes: list[int] = []  # places of the elements that bound an end tag's reach

    def open(self, name: str) -> None:
        if name in _SCOPES:
            self.scopes.append(len(self.names))
        self.at.setdefault(name, []).append(len(self.names))
        self.names.append(name)

    def end_innermost(self, names: frozenset[str]) -> None:
        while self.names and self.names[-1] in names:
            self.at[self.names.pop()].pop()
            if self.scopes and self.scopes[-1] == len(self.names):
                self.scopes.pop()

    def close(self, name: str) -> None:
        places = self.at.get(name)
        if not places or (self.scopes and self.scopes[-1] > places[-1]):
            return
        place = places[-1]
        for above in self.names[place:]:
            self.at[above].pop()
        del self.names[place:]
        while self.scopes and self.scopes[-1] >= place:
            self.scopes.pop()


def bounded(markup: str) -> str:
    """`markup` without the start tags that would open elements more than `MAX_DEPTH` deep, or
    formatting elements past `MAX_FORMATTING` still active, or options past `MAX_OPTIONS` in a
    select, nor their end tags, and with tags of more than `MAX_ATTRIBUTES` given bare; text stays.
    The parser looks through the open elements for each block it opens, and through the active
    formatting elements for each of those, so its time grows with the square of either: 100,000
    nested divs (1.1 MB) took 14 s, 10,000 paragraphs each leaving a `<b id=...>` active 50 s, and
    the 32 MB a request may carry would take hours. A page of more than `MAX_ELEMENTS` is a 413."""
    elements = _OpenElements()
    formatting: dict[str, int] = {}  # start tags of formatting elements with no end tag yet, by name
    active = 0  # their sum
    options = 0  # in the last select
    dropped: dict[str, int] = {}  # end tags to drop, by name
    cuts: list[tuple[int, int, str]] = []  # spans of the markup to replace, and with what
    started = 0  # start tags, kept or not
    for tag in _TAG.finditer(markup):
        closing, name = tag.group(1), tag.group(2).lower()
        started += not closing
        if started > MAX_ELEMENTS:
            raise kinds.too_large("HTML page", f"it has more than {MAX_ELEMENTS:,} elements")
        if closing:
            if dropped.get(name):
                dropped[name] -= 1
                cuts.append((*tag.span(), ""))
                continue
            elements.close(name)
            if formatting.get(name):
                formatting[name] -= 1
                active -= 1
        elif name in _VOID:  # `<div/>` opens a div all the same: HTML ignores the slash
            _keep(tag, name, cuts)
        else:
            elements.end_innermost(_ENDS.get(name, _NOTHING))  # what it ends makes room, if anything
            kept = len(elements.names) < MAX_DEPTH
            if name in _FORMATTING:
                kept = kept and active < MAX_FORMATTING
                active += kept
                formatting[name] = formatting.get(name, 0) + kept
            elif name == "select":
                options = 0
            elif name == "option":
                options += 1
                kept = kept and options <= MAX_OPTIONS
            if kept:
                elements.open(name)
                _keep(tag, name, cuts)
            else:
                dropped[name] = dropped.get(name, 0) + 1
                cuts.append((*tag.span(), ""))
    if not cuts:
        return markup
    pieces, start = [], 0
    for begin, end, instead in cuts:
        pieces.append(markup[start:begin])
        pieces.append(instead)
        start = end
    pieces.append(markup[start:])
    return "".join(pieces)


def _keep(tag: re.Match[str], name: str, cuts: list[tuple[int, int, str]]) -> None:
    """A start tag kept: as it came, or bare when it has more than `MAX_ATTRIBUTES`."""
    whole = tag.group()
    if len(whole) > 2 * MAX_ATTRIBUTES and len(_GAPS.findall(whole)) > MAX_ATTRIBUTES:
        cuts.append((*tag.span(), f"<{name}>"))
