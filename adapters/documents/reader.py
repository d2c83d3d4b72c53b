"""A document in, an `ir.Document` out: the format found (`kinds.sniff`), then its reader. This is
the embedded backend of /v1/extract, and `document_text` is how any utility reads a document
(summarize, translate, research)."""

from __future__ import annotations

import io
import re
from typing import IO

from interlingua.adapters import ir
from interlingua.adapters.documents import html, kinds, ocr, ooxml, pdf, text

_PARAGRAPHS = re.compile(r"\n\s*\n")


def read(file: IO[bytes], content_type: str = "", filename: str = "", layout: bool = False) -> ir.Document:
    """Extract `file` (seekable; read from its start). With `layout`, pages and placed blocks too,
    where the format has them, else one block per paragraph. Raises 415 for an unknown format,
    422 for a corrupt or encrypted one, 400 when it holds no text."""
    kind = kinds.sniff(file, content_type, filename)
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
    if not document.text.strip():
        raise _empty(kind)
    if layout and not document.blocks:
        document.blocks = paragraphs(document.text)
    if not layout:
        document.blocks = []
    document.usage = ir.Usage(characters=len(document.text), pages=len(document.pages))
    return document


def document_text(data: bytes, content_type: str = "", filename: str = "") -> str:
    """The text of a document given as bytes (a fetched page, an attachment)."""
    return read(io.BytesIO(data), content_type, filename).text


def paragraphs(value: str, page: int = 1) -> list[ir.Block]:
    return [ir.Block(page, part.strip()) for part in _PARAGRAPHS.split(value) if part.strip()]


def _empty(kind: str) -> ir.GatewayError:
    if kind == kinds.PDF and not ocr.available():
        return ir.GatewayError("invalid_request", "file: the PDF has no text layer, and reading scanned pages needs "
                               f"the OCR engine Tesseract, which is not installed ({ocr.INSTALL})", param="file",
                               status=422, code="ocr_unavailable")
    return ir.GatewayError("invalid_request", f"file: the document ({kind}) holds no text", param="file",
                           status=422, code="no_text")
