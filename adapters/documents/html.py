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

from selectolax.lexbor import LexborHTMLParser, LexborNode

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds, text

_DROPPED = ("script, style, noscript, template, svg, canvas, iframe, nav, header, footer, aside, form, "
            "[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true], [hidden]")
_MAIN = ("main", "article", "[role=main]", "body")
_BLOCKS = ("p", "div", "section", "blockquote", "pre", "table", "tr", "ul", "ol", "dl", "dt", "dd", "figure",
           "figcaption", "address", "details", "summary", "hr")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n\s*(?:\n\s*)*")


def read(file: IO[bytes], content_type: str) -> ir.Document:
    file.seek(0)
    body = file.read()
    charset = text.charset_of(content_type)
    markup = body.decode(charset, "replace") if charset else text.decode(body) if _utf8(body) else body.decode(
        "cp1252", "replace")
    main = main_text(markup)
    return ir.Document(main, [ir.Page(1)], [], kinds.HTML)


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def main_text(markup: str) -> str:
    tree = LexborHTMLParser(markup)
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
