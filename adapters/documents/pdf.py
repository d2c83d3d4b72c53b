"""PDF with PDFium (`pypdfium2`, which bundles it): the text layer page by page, and with `layout`
each text line PDFium finds as a block placed on the page (points, origin top left), and the
form's check boxes with their state. A page with no text layer (a scan) is read by OCR.

PDFium is measured against markitdown (pdfminer) by scripts/bench_documents.py. It reads the file
through callbacks, so a large PDF is never loaded whole; `pymupdf` would be as fast but is AGPL.
"""

from __future__ import annotations

import ctypes
from typing import IO

import pypdfium2 as pdfium
import pypdfium2.raw as raw

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds, ocr

_OCR_SCALE = 300 / 72  # render scans at 300 dpi, where Tesseract reads best, or smaller (`ocr.MAX_PIXELS`)


def read(file: IO[bytes], layout: bool) -> ir.Document:
    """The PDF's text page by page."""
    file.seek(0)
    try:
        pdf = pdfium.PdfDocument(file)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise kinds.encrypted("PDF") from None
        raise kinds.corrupt("PDF", str(exc).removeprefix("Failed to load document ")) from None
    try:
        if layout:
            pdf.init_forms()
        texts: list[str] = []
        pages: list[ir.Page] = []
        blocks: list[ir.Block] = []
        length = 0
        for index in range(len(pdf)):
            try:
                page = pdf[index]
            except pdfium.PdfiumError:  # listed but not there (a /Count past the kids): blank, as viewers show it
                continue
            try:
                text = _page(pdf, page, index + 1, layout, pages, blocks)
            except pdfium.PdfiumError as exc:
                raise kinds.corrupt("PDF", f"page {index + 1}: {exc}") from None
            finally:
                page.close()
            length += len(text) + 2
            if length > kinds.MAX_TEXT:  # pages may all show one content stream
                raise kinds.too_large("PDF", f"its pages hold more than {kinds.MAX_TEXT:,} characters")
            texts.append(text)
    finally:
        pdf.close()
    return ir.Document("\n\n".join(texts), pages, blocks, kinds.PDF)


def _page(pdf: pdfium.PdfDocument, page: pdfium.PdfPage, number: int, layout: bool,
          pages: list[ir.Page], blocks: list[ir.Block]) -> str:
    width, height = page.get_size()
    pages.append(ir.Page(number, "point", round(width, 2), round(height, 2)))
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            return _scanned(page, number, layout, blocks)
        if layout:
            for index in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(index)
                line = textpage.get_text_bounded(left, bottom, right, top).strip()
                if line:
                    blocks.append(ir.Block(number, line, _box(left, height - top, right, height - bottom)))
            blocks.extend(_checkboxes(pdf, page, number, height))
    finally:
        textpage.close()
    return text


def _scanned(page: pdfium.PdfPage, number: int, layout: bool, blocks: list[ir.Block]) -> str:
    """A page without a text layer, by OCR where it shows an image and the engine is installed; else
    the page is empty (the caller refuses a document that has no text at all)."""
    images = page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=2)  # a generator: test its first
    if next(images, None) is None or not ocr.available():
        return ""
    width, height = page.get_size()
    scale = ocr.scale_within(width, height, _OCR_SCALE)
    image = page.render(scale=scale).to_pil()
    lines = ocr.lines(image)
    if layout:
        blocks.extend(ir.Block(number, line.text, [[x / scale, y / scale] for x, y in line.polygon],
                               score=line.score) for line in lines)
    return "\n".join(line.text for line in lines)


def _box(left: float, top: float, right: float, bottom: float) -> list[list[float]]:
    left, top, right, bottom = (round(v, 2) for v in (left, top, right, bottom))
    return [[left, top], [right, top], [right, bottom], [left, bottom]]


def _checkboxes(pdf: pdfium.PdfDocument, page: pdfium.PdfPage, number: int, height: float) -> list[ir.Block]:
    """The page's check box fields: the field's name as text, and whether it is ticked."""
    env = pdf.formenv
    if env is None:
        return []
    found = []
    for index in range(raw.FPDFPage_GetAnnotCount(page.raw)):
        annot = raw.FPDFPage_GetAnnot(page.raw, index)
        try:
            if raw.FPDFAnnot_GetFormFieldType(env.raw, annot) != raw.FPDF_FORMFIELD_CHECKBOX:
                continue
            rect = raw.FS_RECTF()
            raw.FPDFAnnot_GetRect(annot, rect)
            size = raw.FPDFAnnot_GetFormFieldName(env.raw, annot, None, 0)
            buffer = ctypes.create_string_buffer(size)
            raw.FPDFAnnot_GetFormFieldName(env.raw, annot, ctypes.cast(buffer, ctypes.POINTER(raw.FPDF_WCHAR)), size)
            name = buffer.raw[:max(size - 2, 0)].decode("utf-16-le", "replace")
            state = "checked" if raw.FPDFAnnot_IsChecked(env.raw, annot) else "unchecked"
            found.append(ir.Block(number, name, _box(rect.left, height - rect.top, rect.right, height - rect.bottom),
                                  state=state))
        finally:
            raw.FPDFPage_CloseAnnot(annot)
    return found
