"""Text into segments of at most so many tokens, split on the text's structure: Markdown (and the
Markdown-like text that HTML extracts to) on headings, then paragraphs, sentences and words;
other text on paragraphs, lines, sentences, then words. Tokens are counted with the o200k_base
table that `semantic-text-splitter` bundles (GPT-4o's), so nothing is downloaded.

semantic-text-splitter is Rust: 1 MB of Markdown splits in about 0.1 s on one core
(scripts/bench_documents.py). Splitters cost about 0.1 s to build, so each size is built once.
Its time grows with the square of the text it is given where sections are long (a 1.6 MB line took
2.4 s, 100 kB with no space in it over a minute, 400 kB of base64 13 s), so it is given the text a
window at a time, about 16 segments' worth (`WINDOW` characters per token), and the time grows with
the text's length. A window ends where the structure breaks (before a heading, at a blank line, a
line's end, a space; a run with none where the window does), and the next begins at its last
segment, which the window's end may have cut short: so segments are as full, and overlap as much,
as the whole text would give them.
"""

from __future__ import annotations

import functools
import threading

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds
from interlingua.adapters.stoppable import in_thread

TOKENIZER_MODEL = "gpt-4o"
STRUCTURED = (kinds.MARKDOWN, kinds.HTML)
WINDOW = 64  # characters of text given to the splitter at once, per token of the segment length
# A request's answer holds at most this many segments: 512-token ones of every text the body cap
# lets in come to some 16,000, while 1-token ones of 32 MB would be 8 million (a minute, 3 GB).
MAX_SEGMENTS = 100_000
_CUTS = ("\n#", "\n\n", "\n", " ")  # where a window may end, best first: each ends after its first character


@functools.lru_cache(maxsize=32)
def _splitter(markdown: bool, length: int, overlap: int) -> MarkdownSplitter | TextSplitter:
    kind = MarkdownSplitter if markdown else TextSplitter
    return kind.from_tiktoken_model(TOKENIZER_MODEL, length, overlap=overlap)


async def segment_in_thread(text: str, media_type: str, length: int, overlap: int) -> list[ir.Segment]:
    """`segment` in a worker thread that stops at its next window once the caller stops waiting."""
    return await in_thread(segment, text, media_type, length, overlap)


def segment(text: str, media_type: str, length: int, overlap: int,
            stop: threading.Event | None = None) -> list[ir.Segment]:
    """`text` cut into segments of at most `length` tokens, the next beginning `overlap` tokens
    before the end of the last; each with its character offsets into `text`. Once `stop` is set,
    what was found so far, unfinished, for a caller that no longer waits."""
    splitter = _splitter(media_type in STRUCTURED or _looks_like_markdown(text), length, overlap)
    size = WINDOW * length
    segments: list[ir.Segment] = []
    begin = 0
    while stop is None or not stop.is_set():
        end = _window_end(text, begin, size)
        found = [ir.Segment(chunk, begin + start, begin + start + len(chunk))
                 for start, chunk in splitter.chunk_indices(text[begin:end])]
        if len(segments) + len(found) > MAX_SEGMENTS:
            raise _too_many(length, overlap)
        if end == len(text):
            return segments + found
        if len(found) > 1 and found[-1].start > begin:  # the last again, which the window's end may have cut short
            segments += found[:-1]
            begin = found[-1].start
        else:  # one segment filled the window: kept whole
            segments += found
            begin = end
    return segments


def _too_many(length: int, overlap: int) -> ir.GatewayError:
    step = f"{length} token{'s' if length > 1 else ''}" + (f" overlapping by {overlap}" if overlap else "")
    return ir.GatewayError("invalid_request", f"segment_length: segments of {step} cut this text into more than "
                           f"{MAX_SEGMENTS:,}; ask for longer segments, less overlap, or send less text",
                           param="segment_length", status=413, code="too_many_segments")


def _window_end(text: str, begin: int, size: int) -> int:
    """Where the window from `begin` ends: the text's end if it is near, else the best cut in the
    second half of `size` characters."""
    end = begin + size
    if end >= len(text):
        return len(text)
    for cut in _CUTS:
        at = text.rfind(cut, begin + size // 2, end)
        if at >= 0:
            return at + 1
    return end


def _looks_like_markdown(text: str) -> bool:
    """Text given as a field has no type: a heading or a fenced block at a line start says Markdown."""
    head = text[:20000]
    return head.startswith(("#", "```")) or "\n#" in head or "\n```" in head
