"""A document in, an `ir.Document` out: the format found (`kinds.sniff`), then its reader. This is
the embedded backend of /v1/extract, and `document_text` is how any utility reads a document
(summarize, translate, research)."""

from __future__ import annotations

import io
import re
import threading
from typing import IO

from interlingua.adapters import ir
from interlingua.adapters.documents import html, kinds, ocr, ooxml, pdf, text
from interlingua.adapters.stoppable import in_thread

_PARAGRAPHS = re.compile(r"\n\s*\n")


async def read_in_thread(file: IO[bytes], content_type: str = "", filename: str = "",
                         layout: bool = False) -> ir.Document:
    """`read` in a worker thread that stops at its next page once the caller stops waiting: each
    page of a scanned PDF or frame of a TIFF is a second or so of OCR."""
    return await in_thread(read, file, content_type, filename, layout)


def read(file: IO[bytes], content_type: str = "", filename: str = "", layout: bool = False,
         stop: threading.Event | None = None) -> ir.Document:
    """Extract `file` (seekable; read from its start). With `layout`, pages and placed blocks too,
    where the format has them, else one block per paragraph. Raises 415 for an unknown format,
    422 for a corrupt or encrypted one, 413 for one that holds more than a reader takes, 400 when it
    holds no text. Once `stop` is set, what was read so far, unfinished, for a caller that no
    longer waits."""
    kind = kinds.sniff(file, content_type, filename)
    if kind == kinds.PDF:
        document = pdf.read(file, layout, stop)
    elif kind in kinds.OOXML:
        document = ooxml.read(file, kind, layout)
    elif kind == kinds.HTML:
        document = html.read(file, content_type)
    elif kind in kinds.IMAGES:
        document = ocr.read(file, layout, stop)
    else:
        document = text.read(file, kind, content_type)
    return finish(document, layout)


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
    """The text of a document given as bytes (a fetched page, an attachment), read in a thread."""
    return (await read_in_thread(io.BytesIO(data), content_type, filename)).text


def paragraphs(value: str, page: int = 1) -> list[ir.Block]:
    return [ir.Block(page, part.strip()) for part in _PARAGRAPHS.split(value) if part.strip()]


def _empty(kind: str) -> ir.GatewayError:
    if kind == kinds.PDF and not ocr.available():
        return ir.GatewayError("invalid_request", "file: the PDF has no text layer, and reading scanned pages needs "
                               f"the OCR engine Tesseract, which is not installed ({ocr.INSTALL})", param="file",
                               status=422, code="ocr_unavailable")
    return ir.GatewayError("invalid_request", f"file: the document ({kind}) holds no text", param="file",
                           status=422, code="no_text")
