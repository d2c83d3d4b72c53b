"""Text into segments of at most so many tokens, split on the text's structure: Markdown (and the
Markdown-like text that HTML extracts to) on headings, then paragraphs, sentences and words;
other text on paragraphs, lines, sentences, then words. Tokens are counted with the o200k_base
table that `semantic-text-splitter` bundles (GPT-4o's), so nothing is downloaded.

semantic-text-splitter is Rust: 1 MB of Markdown splits in about 0.1 s on one core
(scripts/bench_documents.py). Splitters cost about 0.1 s to build, so each size is built once.
"""

from __future__ import annotations

import functools

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds

TOKENIZER_MODEL = "gpt-4o"
STRUCTURED = (kinds.MARKDOWN, kinds.HTML)


@functools.lru_cache(maxsize=32)
def _splitter(markdown: bool, length: int, overlap: int) -> MarkdownSplitter | TextSplitter:
    kind = MarkdownSplitter if markdown else TextSplitter
    return kind.from_tiktoken_model(TOKENIZER_MODEL, length, overlap=overlap)


def segment(text: str, media_type: str, length: int, overlap: int) -> list[ir.Segment]:
    """`text` cut into segments of at most `length` tokens, the next beginning `overlap` tokens
    before the end of the last; each with its character offsets into `text`."""
    splitter = _splitter(media_type in STRUCTURED or _looks_like_markdown(text), length, overlap)
    return [ir.Segment(chunk, start, start + len(chunk)) for start, chunk in splitter.chunk_indices(text)]


def _looks_like_markdown(text: str) -> bool:
    """Text given as a field has no type: a heading or a fenced block at a line start says Markdown."""
    head = text[:20000]
    return head.startswith(("#", "```")) or "\n#" in head or "\n```" in head
