"""A document in, an `ir.Document` out: the format found (`kinds.sniff`), then its reader. This is
the embedded backend of /v1/extract, and `document_text` is how any utility reads a document
(summarize, translate, research)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import warnings
from typing import IO

from interlingua.adapters import ir
from interlingua.adapters.confined import Confined, Ended
from interlingua.adapters.documents import html, kinds, ocr, ooxml, pdf, text

_PARAGRAPHS = re.compile(r"\n\s*\n")
MEMORY_MB = 1024  # a reader process's address space: OCR of a 40-megapixel page peaks under 400 MB
# Parsed by native code (PDFium; Pillow and Tesseract; expat; lexbor), in a reader process
# (`adapters/confined.py`); plain text, Markdown, CSV and JSON are decoded in a thread.
CONFINED = {kinds.PDF: "PDF", **{kind: "image" for kind in kinds.IMAGES}, kinds.DOCX: "DOCX", kinds.PPTX: "PPTX",
            kinds.XLSX: "XLSX", kinds.HTML: "HTML page"}

# The cores this process may use, at most 4: a container may see a host of 64, each reader 1 GB.
READERS = min(len(os.sched_getaffinity(0)), 4)

_readers = Confined(READERS, MEMORY_MB, preload=[__name__])


def configure(readers: int | None, memory_mb: int | None) -> None:
    """How many reader processes there may be at once, and the memory of each (None: `READERS`,
    `MEMORY_MB`): the process's, as its default executor is; a change ends the idle readers, and
    those at work once they are done."""
    global _readers
    readers, memory_mb = readers or READERS, memory_mb or MEMORY_MB
    if (readers, memory_mb) != (_readers.size, _readers.memory_mb):
        _readers.close()
        _readers = Confined(readers, memory_mb, preload=[__name__])


async def read_async(file: IO[bytes], content_type: str = "", filename: str = "",
                     layout: bool = False) -> ir.Document:
    """`read` off the event loop: a document in a reader process, which is killed once the caller
    stops waiting (OCR is about a second a page), plain text in a thread."""
    kind = await asyncio.to_thread(kinds.sniff, file, content_type, filename)
    if kind not in CONFINED:
        return await asyncio.to_thread(_read_kind, file, kind, content_type, layout)
    data = await asyncio.to_thread(_whole, file)
    readers = _readers
    try:
        return await readers.run(_read_bytes, data, kind, content_type, layout)
    except (Ended, MemoryError):
        raise kinds.too_large(CONFINED[kind], f"reading it took more than the {readers.memory_mb:,} MB of memory "
                                              "a reader may use, or broke the reader") from None


def read(file: IO[bytes], content_type: str = "", filename: str = "", layout: bool = False) -> ir.Document:
    """Extract `file` (seekable; read from its start), here. With `layout`, pages and placed blocks
    too, where the format has them, else one block per paragraph. Raises 415 for an unknown format,
    422 for a corrupt or encrypted one, 413 for one that holds more than a reader takes, 400 when it
    holds no text."""
    return _read_kind(file, kinds.sniff(file, content_type, filename), content_type, layout)


def _read_kind(file: IO[bytes], kind: str, content_type: str, layout: bool) -> ir.Document:
    if kind == kinds.PDF:
        document = pdf.read(file, layout)
    elif kind in kinds.OOXML:
        document = ooxml.read(file, kind, layout)
    elif kind == kinds.HTML:
        document = html.read(file, content_type)
    elif kind in kinds.IMAGES:
        document = ocr.read(file, layout)
    else:
        document = text.read(file, kind, content_type)
    return finish(document, layout)


def _read_bytes(data: bytes, kind: str, content_type: str, layout: bool) -> ir.Document:
    with warnings.catch_warnings():  # Pillow's about a client's corrupt tags would only fill the log
        warnings.simplefilter("ignore")
        return _read_kind(io.BytesIO(data), kind, content_type, layout)


def _whole(file: IO[bytes]) -> bytes:
    file.seek(0)
    return file.read()


def finish(document: ir.Document, layout: bool) -> ir.Document:
    """A document as every backend answers it: refused when it holds no text; with `layout`,
    one block per paragraph where the backend placed none, else no blocks; its usage counted."""
    if not document.text.strip():
        raise _empty(document.media_type)
    if layout and not document.blocks:
        document.blocks = paragraphs(document.text)
    if not layout:
        document.blocks = []
    document.usage = ir.Usage(characters=len(document.text), pages=len(document.pages))
    return document


async def document_text(data: bytes, content_type: str = "", filename: str = "") -> str:
    """The text of a document given as bytes (a fetched page, an attachment), read off the loop."""
    return (await read_async(io.BytesIO(data), content_type, filename)).text


def paragraphs(value: str, page: int = 1) -> list[ir.Block]:
    return [ir.Block(page, part.strip()) for part in _PARAGRAPHS.split(value) if part.strip()]


def _empty(kind: str) -> ir.GatewayError:
    if kind == kinds.PDF and not ocr.available():
        return ir.GatewayError("invalid_request", "file: the PDF has no text layer, and reading scanned pages needs "
                               f"the OCR engine Tesseract, which is not installed ({ocr.INSTALL})", param="file",
                               status=422, code="ocr_unavailable")
    return ir.GatewayError("invalid_request", f"file: the document ({kind}) holds no text", param="file",
                           status=422, code="no_text")
