"""The embedded document reader, format by format, on documents made by the libraries users make
them with (python-docx, python-pptx, openpyxl) or written byte by byte (PDF), and on bad input:
corrupt and encrypted documents are 422s that say which, unknown formats 415s."""

from __future__ import annotations

import asyncio
import io
import os
import random
import threading
import zipfile
from typing import Any

import docx
import openpyxl
import pptx
import pytest
from docx.oxml import parse_xml
from pptx.util import Inches
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from interlingua.adapters import ir
from interlingua.adapters.documents import html, kinds, ocr, ooxml, reader, segment
from tests.documents import encrypted_pdf, page_lines, pdf, png, scan_pdf, text_image, text_pdf
from tests.processes import command, descendants, parent, running
from tests.support import async_test, cancelled_at_work, goes_quiet


def saved(document: Any) -> io.BytesIO:
    out = io.BytesIO()
    document.save(out)
    return out


def refused(data: bytes, content_type: str = "", filename: str = "") -> ir.GatewayError:
    with pytest.raises(ir.GatewayError) as caught:
        reader.read(io.BytesIO(data), content_type, filename)
    return caught.value


def test_pdf_text_pages_and_placed_lines() -> None:
    document = reader.read(io.BytesIO(text_pdf(3, lines=5)), "application/octet-stream", "", layout=True)
    assert document.media_type == kinds.PDF
    assert document.text.split("\n\n")[1].split("\n") == page_lines(1, 5)
    assert [(p.page, p.unit, p.width, p.height) for p in document.pages] == [(i, "point", 612, 792) for i in (1, 2, 3)]
    first = document.blocks[0]
    assert (first.page, first.text) == (1, page_lines(0, 5)[0])
    (left, top), _, (right, bottom), _ = first.polygon or []
    assert 71 <= left <= 74 and 58 <= top < 72 < bottom <= 76 and right > 300  # the baseline is 72 pt down
    assert document.usage == ir.Usage(characters=len(document.text), pages=3)


def test_pdf_check_boxes_report_their_state() -> None:
    data = pdf([["Terms accepted:"]])
    fields = []
    for name, state in (("agree", "/Yes"), ("spam", "/Off")):
        fields.append(f"<< /Type /Annot /Subtype /Widget /FT /Btn /T ({name}) /Rect [200 700 212 712] /V {state} "
                      f"/AS {state} /P 4 0 R >>")
    annots = " ".join(fields)
    data = data.replace(b"/Contents 5 0 R >>", f"/Contents 5 0 R /Annots [{annots}] >>".encode())
    data = data.replace(b"/Pages 2 0 R >>", b"/Pages 2 0 R /AcroForm << /Fields [] >> >>")
    document = reader.read(io.BytesIO(data), layout=True)
    boxes = [(b.text, b.state) for b in document.blocks if b.state]
    assert boxes == [("agree", "checked"), ("spam", "unchecked")]


def test_a_scanned_pdf_page_is_read_by_ocr() -> None:
    import pypdfium2 as pdfium

    scan = pdfium.PdfDocument.new()
    page = scan.new_page(612, 792)
    image = pdfium.PdfImage.new(scan)
    image.set_bitmap(pdfium.PdfBitmap.from_pil(text_image(["Scanned page of a contract"], size=36)))
    image.set_matrix(pdfium.PdfMatrix().scale(500, 60).translate(50, 650))
    page.insert_obj(image)
    page.gen_content()
    out = io.BytesIO()
    scan.save(out)
    document = reader.read(out, layout=True)
    assert document.text == "Scanned page of a contract"
    assert document.blocks[0].score and document.blocks[0].score > 0.5


def test_docx_paragraphs_tables_and_check_boxes() -> None:
    made = docx.Document()
    made.add_heading("Quarterly report", 1)
    made.add_paragraph("Revenue grew.")
    table = made.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text, table.cell(1, 0).text = "region", "sales", "north"
    paragraph = made.add_paragraph("Approved ")
    paragraph._p.append(parse_xml(
        '<w:sdt xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml"><w:sdtPr><w14:checkbox>'
        '<w14:checked w14:val="1"/></w14:checkbox></w:sdtPr><w:sdtContent><w:r><w:t>\u2612</w:t></w:r>'
        '</w:sdtContent></w:sdt>'))
    document = reader.read(saved(made), filename="report.docx", layout=True)
    assert document.text == "Quarterly report\n\nRevenue grew.\n\nregion\tsales\n\nnorth\t\n\nApproved \u2612"
    assert [(b.text, b.state) for b in document.blocks if b.state] == [("Approved \u2612", "checked")]


def test_pptx_slides_in_order_with_shapes_placed() -> None:
    made = pptx.Presentation()
    for title in ("First slide", "Second slide"):
        slide = made.slides.add_slide(made.slide_layouts[6])
        slide.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)).text_frame.text = title
    document = reader.read(saved(made), layout=True)
    assert document.text == "First slide\n\nSecond slide"
    assert [(p.page, p.unit, p.width, p.height) for p in document.pages] == [(1, "inch", 10, 7.5), (2, "inch", 10, 7.5)]
    assert document.blocks[1].polygon == [[1, 2], [5, 2], [5, 3], [1, 3]]


def test_xlsx_sheets_as_rows_with_their_columns_kept() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Prices"
    sheet["A1"], sheet["C1"], sheet["A2"], sheet["B2"] = "item", 3.5, "tea", True
    book.create_sheet("Empty")["B1"] = "only"
    assert reader.read(saved(book)).text == "## Prices\nitem\t\t3.5\ntea\tTRUE\n\n## Empty\n\tonly"


def test_a_scan_that_says_it_is_huge_is_read_at_a_size_that_fits() -> None:
    """A page may say it is 200 by 100 inches: rendered for OCR at 300 dpi that is a 7 GB bitmap
    (a 70 by 70 inch page took 38 s and 3 GB). It is rendered at `ocr.MAX_PIXELS` at most."""
    lines = ["Invoice number 4711", "Total due 250 EUR"]
    document = reader.read(io.BytesIO(scan_pdf(text_image(lines), width=14_400, height=7_200)), layout=True)
    assert document.text == "\n".join(lines)
    assert document.pages == [ir.Page(1, "point", 14_400, 7_200)]
    left, top = document.blocks[0].polygon[0]  # placed in points, on the page as it says it is
    assert 0 < left < 2_000 and 0 < top < 2_000


def test_a_blank_page_is_not_read_by_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page with neither text nor an image (a separator page) is empty; each was rendered and
    OCRed for nothing, about 0.7 s a page."""
    read: list[int] = []
    lines = ocr.lines
    monkeypatch.setattr(ocr, "lines", lambda image: read.append(1) or lines(image))
    document = reader.read(io.BytesIO(pdf([[], page_lines(0, 2)[:1], [], []])), filename="blank.pdf")
    assert document.text == "\n\n" + page_lines(0, 2)[0] + "\n\n\n\n"
    assert read == []


def test_pages_cannot_multiply_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages may all show one content stream: 2,000 pages of 300 lines that share it are a 300 kB
    file and 32 MB of text. A PDF's text stops at `kinds.MAX_TEXT`."""
    monkeypatch.setattr(kinds, "MAX_TEXT", 50_000)
    error = refused(text_pdf(30), filename="long.pdf")
    assert (error.status, error.code) == (413, "document_too_large")
    assert "its pages hold more than 50,000 characters" in error.message


def _tiff(image: Any, frames: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "TIFF", save_all=True, append_images=[image] * (frames - 1))
    return out.getvalue()


@pytest.mark.parametrize("scanned", ["pdf", "tiff"])
@async_test
async def test_a_reader_whose_caller_left_is_killed_with_its_tesseract(scanned: str) -> None:
    """Each scanned page or frame is a second or so of OCR; a client that leaves ends its reader
    process at once, and the Tesseract it runs, rather than let them read on for nobody."""
    document = scan_pdf(text_image(["Page"]), pages=40) if scanned == "pdf" else _tiff(text_image(["Page"]), 40)
    task = asyncio.ensure_future(reader.read_async(io.BytesIO(document)))
    found: list[int] = []
    for _ in range(1000):
        found = [pid for pid in descendants(os.getpid()) if command(pid) == "tesseract"]
        if found:
            break
        await asyncio.sleep(0.02)
    [tesseract] = found
    worker = parent(tesseract)
    assert worker is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        if not running(worker) and not running(tesseract):
            break
        await asyncio.sleep(0.02)
    assert not running(worker) and not running(tesseract)
    assert (await reader.read_async(io.BytesIO(text_pdf(1, 1)))).text == page_lines(0, 1)[0]


def _with(document: io.BytesIO, parts: dict[str, str]) -> bytes:
    """A saved OOXML document with `parts` put in place of its own (or added)."""
    out = io.BytesIO()
    with zipfile.ZipFile(document) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in parts:
                target.writestr(info, source.read(info))
        for name, xml in parts.items():
            target.writestr(name, xml)
    return out.getvalue()


W_BODY = '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{}</w:body></w:document>'
SHEET = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{}</sheetData></worksheet>'


def _book(sheet_data: str, shared: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    parts = {"xl/worksheets/sheet1.xml": SHEET.format(sheet_data)}
    if shared is not None:
        parts["xl/sharedStrings.xml"] = ('<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                         f"{shared}</sst>")
    return _with(saved(book), parts)


def test_a_zip_bomb_of_elements_is_refused_before_it_fills_memory() -> None:
    """4,500,000 empty paragraphs inflate from 40 kB to 27 MB of XML, and parsed whole, to 380 MB
    of memory (a gigabyte for each 100 kB sent, and several readers at once). A part of more than
    twice `MAX_ELEMENTS` tags is refused as it is read, before it is all parsed."""
    bomb = _with(saved(docx.Document()), {"word/document.xml": W_BODY.format("<w:p/>" * 4_500_000)})
    assert len(bomb) < 100_000  # 40 kB of it the paragraphs
    error = refused(bomb, filename="bomb.docx")
    assert (error.status, error.code) == (413, "document_too_large")
    assert "word/document.xml has more than 4,000,000 XML tags" in error.message


def test_workbook_cells_cannot_multiply_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell can name a column far to the right (its row is padded with a tab for each column
    before it) or a shared string (each cell that names it repeats it): a few bytes of XML a row, a
    megabyte of text. Columns stop at XFD, as in Excel, and a workbook's text at `kinds.MAX_TEXT`."""
    far = _book('<row r="1"><c r="A1"><v>1</v></c><c r="AAAAAA1"><v>2</v></c></row>')
    assert "past column XFD" in refused(far, filename="far.xlsx").message
    rows = "".join(f'<row r="{i}"><c r="XFD{i}"><v>1</v></c></row>' for i in range(1, 5_000))
    error = refused(_book(rows), filename="wide.xlsx")
    assert (error.status, error.code) == (413, "document_too_large")
    assert "more than 67,108,864 characters" in error.message
    monkeypatch.setattr(kinds, "MAX_TEXT", 100_000)
    cells = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' * 20
    assert refused(_book(cells, "<si><t>" + "x" * 10_000 + "</t></si>"), filename="s.xlsx").status == 413
    missing = refused(_book('<row r="1"><c r="A1" t="s"><v>3</v></c></row>', "<si><t>x</t></si>"), filename="m.xlsx")
    assert (missing.status, missing.code) == (422, "corrupt_document")


def test_a_sheet_is_held_a_row_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ooxml, "MAX_ELEMENTS", 1_000)
    rows = "".join(f'<row r="{i}"><c r="A{i}"><v>{i}</v></c><c r="B{i}"><v>x</v></c></row><x/><x/>'
                   for i in range(1, 2_001))  # 16,000 elements, 1,000 held at most
    text = reader.read(io.BytesIO(_book(rows)), filename="long.xlsx").text
    assert text.splitlines()[1:3] == ["1\tx", "2\tx"] and len(text.splitlines()) == 2_001
    crowded = _book('<row r="1"><c r="A1"><v>1</v></c>' + "<x/>" * 1_001 + "</row>")
    assert "holds more than 1,000 others" in refused(crowded, filename="crowded.xlsx").message


def test_slides_that_name_one_part_over_and_over_count_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    made = pptx.Presentation()
    made.slides.add_slide(made.slide_layouts[6]).shapes.add_textbox(0, 0, 10, 10).text_frame.text = "again"
    original = saved(made)
    with zipfile.ZipFile(original) as archive:
        listing = archive.read("ppt/presentation.xml").decode()
        slide = archive.getinfo("ppt/slides/slide1.xml").file_size
    start, end = listing.index("<p:sldId "), listing.index("</p:sldIdLst>")
    again = _with(original, {"ppt/presentation.xml": listing[:start] + listing[start:end] * 500 + listing[end:]})
    assert reader.read(io.BytesIO(again), filename="again.pptx").text == "\n\n".join(["again"] * 500)
    monkeypatch.setattr(ooxml, "MAX_INFLATED_BYTES", slide * 100)
    error = refused(again, filename="again.pptx")
    assert (error.status, error.code) == (413, "document_too_large") and "inflate to more than" in error.message


def test_html_main_content_without_navigation() -> None:
    page = (b"<html><head><title>t</title><style>p{}</style></head><body><nav><a href=/>Home</a></nav>"
            b"<header>Site name</header><main><h1>Article</h1><p>First <b>bold</b> point.</p>"
            b"<ul><li>one</li><li>two</li></ul></main><aside>Ads</aside><footer>Copyright</footer></body></html>")
    assert reader.read(io.BytesIO(page), "text/html; charset=utf-8").text == (
        "# Article\n\nFirst bold point.\n\n- one\n\n- two")


@pytest.mark.parametrize("data, content_type, filename, expected", [
    (b"# Title\n\nBody.", "text/markdown", "", kinds.MARKDOWN),
    (b"a,b\n1,2\n", "", "table.csv", kinds.CSV),
    (b'{"a": 1}', "application/json", "", kinds.JSON),
    ("caf\u00e9".encode("latin-1"), "text/plain; charset=latin-1", "", kinds.TEXT),
    (b"\xef\xbb\xbfplain", "", "", kinds.TEXT),
])
def test_text_formats(data: bytes, content_type: str, filename: str, expected: str) -> None:
    document = reader.read(io.BytesIO(data), content_type, filename, layout=True)
    assert document.media_type == expected
    assert document.text == data.decode("latin-1" if "latin" in content_type else "utf-8-sig")
    assert document.blocks and document.blocks[0].page == 1


def test_an_image_is_read_by_ocr_with_placed_lines() -> None:
    image = text_image(["Invoice number 4711", "Total due 250 EUR"])
    document = reader.read(io.BytesIO(png(image)), layout=True)
    assert document.text == "Invoice number 4711\nTotal due 250 EUR"
    assert document.pages == [ir.Page(1, "pixel", image.width, image.height)]
    assert len(document.blocks) == 2 and all(b.polygon and b.score for b in document.blocks)


def test_an_image_past_the_pixel_bound_is_read_smaller_and_placed_in_its_own_pixels(
        monkeypatch: pytest.MonkeyPatch) -> None:
    image = text_image(["Invoice number 4711", "Total due 250 EUR"], size=80)
    whole = reader.read(io.BytesIO(png(image)), layout=True)
    monkeypatch.setattr(ocr, "MAX_PIXELS", image.width * image.height // 3)  # read at 0.58 of its size
    read, lines = [], ocr.lines
    monkeypatch.setattr(ocr, "lines", lambda frame: read.append(frame.size) or lines(frame))
    smaller = reader.read(io.BytesIO(png(image)), layout=True)
    assert read and abs(read[0][0] * read[0][1] * 3 - image.width * image.height) < image.width * 4
    assert smaller.text == whole.text == "Invoice number 4711\nTotal due 250 EUR"
    assert smaller.pages == whole.pages == [ir.Page(1, "pixel", image.width, image.height)]
    for near, exact in zip(smaller.blocks, whole.blocks, strict=True):
        assert all(isinstance(v, int) for corner in near.polygon or [] for v in corner)
        assert all(abs(a - b) <= 8 for c, d in zip(near.polygon or [], exact.polygon or [], strict=True)
                   for a, b in zip(c, d, strict=True))


@pytest.mark.parametrize("data, content_type, filename, status, words", [
    (b"%PDF-1.4 broken", "", "", 422, "corrupt"),
    (encrypted_pdf(), "", "", 422, "encrypted"),
    (b"PK\x03\x04 not a zip at all", "", "x.docx", 422, "corrupt"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "", "secret.docx", 422, "encrypted"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "application/msword", "", 415, "application/msword"),
    (b"\x00\x01binary", "application/x-tar", "", 415, "application/x-tar"),
    (b"\x89PNG\r\n\x1a\nnot an image", "", "", 422, "corrupt"),
    (b'{"a": ', "application/json", "", 422, "JSON"),
    (b"\xff\xfe\xfa", "text/plain", "", 422, "utf-8"),
    (b"   \n", "text/plain", "", 422, "no text"),
])
def test_bad_documents(data: bytes, content_type: str, filename: str, status: int, words: str) -> None:
    error = refused(data, content_type, filename)
    assert (error.status, error.param) == (status, "file")
    assert words in error.message


def test_without_tesseract_images_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlingua.adapters.documents import ocr

    monkeypatch.setattr(ocr, "available", lambda: False)
    image = refused(png(text_image(["Some text"])))
    scan = refused(pdf([[]]))
    assert image.status == scan.status == 422
    assert "apt-get install tesseract-ocr" in image.message and "apt-get install tesseract-ocr" in scan.message
    assert reader.read(io.BytesIO(text_pdf(1, 1))).text == page_lines(0, 1)[0]  # text PDFs need no OCR


def test_unsupported_types_are_named_with_what_is_taken() -> None:
    error = refused(b"\x00\x01", "application/zip")
    assert "application/pdf" in error.message and kinds.DOCX in error.message


@async_test
async def test_document_text_of_fetched_bytes() -> None:
    assert await reader.document_text(b"<p>Hi <i>there</i></p>", "text/html") == "Hi there"


def _depth(markup: str) -> int:
    """How deep the tree the HTML parser builds from `markup` goes, below the body's first child."""
    node, depth = LexborHTMLParser(markup).body, 0
    while node is not None and node.child is not None:
        node, depth = node.child, depth + 1
    return depth


@pytest.mark.parametrize("markup", [
    "<div>" * 300_000 + "deep" + "</div>" * 300_000,  # 100,000 took 14 s to parse; this, about two minutes
    "<div></x>" * 300_000 + "deep",  # end tags that close nothing
    "<span>" * 300_000 + "<div>deep" * 20_000,  # depth made of inline elements, then blocks that look through it
    "<div><table>" + "</div>" * 300_000 + "<div>" * 300_000 + "deep",  # end tags that cannot reach past a table
    "<div/>" * 300_000 + "deep",  # the slash closes nothing in HTML
    "".join(f"<p><b id={i}></p>" for i in range(20_000)) + "deep",  # formatting left active, each unlike the last
    ("<div " + " ".join(f"a{i}=1" for i in range(80_000)) + ">deep</div>") * 5,  # attributes, each one compared
    "<select>" + "<option>deep" * 150_000 + "</select>",  # options, each making the select look through all
], ids=["divs", "stray-ends", "spans", "out-of-scope", "slashes", "formatting", "attributes", "options"])
def test_html_nested_past_any_page_is_read_flat_enough_and_in_time(markup: str) -> None:
    """The parser's time grows with the square of the depth, of the formatting elements left active,
    of a tag's attributes and of a select's options: past their bounds, tags are dropped (or given
    bare) before parsing, their text kept."""
    done: list[str] = []
    reading = threading.Thread(target=lambda: done.append(reader.read(io.BytesIO(markup.encode()), "text/html").text))
    reading.start()
    reading.join(30)
    assert done and "deep" in done[0], "the page was not read within 30 s"
    assert _depth(html.bounded(markup)) <= html.MAX_DEPTH + 2


def test_pages_a_pdf_lists_but_does_not_hold_are_left_out() -> None:
    """A page tree whose /Count says more pages than it has (sloppy writers make them): PDFium
    cannot load the rest, which was a 500; they are blank, as viewers show them."""
    document = text_pdf(1, 2).replace(b"/Count 1", b"/Count 3")
    read = reader.read(io.BytesIO(document), layout=True)
    assert read.text == "\n".join(page_lines(0, 2))
    assert [page.page for page in read.pages] == [1]


def test_lexbor_failing_is_memory_running_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTML parser never fails on content: lexbor's errors are allocations that failed (in a
    reader at its memory bound, "Can't create a new node"), which a reader answers as a 413."""
    def out_of_memory(markup: str) -> Any:
        raise SelectolaxError("Can't create a new node")

    monkeypatch.setattr(html, "LexborHTMLParser", out_of_memory)
    with pytest.raises(MemoryError, match="lexbor: Can't create a new node"):
        reader.read(io.BytesIO(b"<p>Hi</p>"), "text/html")


def test_a_page_of_more_elements_than_the_bound_is_refused_before_it_is_parsed() -> None:
    """Each element is about 700 bytes of the parser's and the text walk's: 2.5 million empty
    paragraphs (7.5 MB) took 9 s and 1.7 GB, and 32 MB of them would take 7 GB."""
    error = refused(b"<html><body>" + b"<p>" * 1_000_000 + b"x</body></html>", "text/html")
    assert (error.status, error.code) == (413, "document_too_large")
    assert error.message == "file: the HTML page is too large to read: it has more than 1,000,000 elements"


def test_html_that_real_pages_hold_is_not_changed_by_the_depth_bound() -> None:
    """Thousands of elements, paragraphs and list items whose end tags are implied, tables, and a
    script whose strings look like tags: nothing nests past the bound, so nothing is dropped."""
    rows = "".join(f"<tr><td>{i}<td>cell" for i in range(300))
    page = ("<html><head><script>var s = '<div><div><div>';</script></head><body><main>"
            + "<p>paragraph" * 2000 + "<ul>" + "<li>item" * 2000 + "</ul><table>" + rows + "</table>"
            + "<div><section><article>" * 150 + "text" + "</article></section></div>" * 150 + "</main></body></html>")
    assert html.bounded(page) is page


@async_test
async def test_segmenting_stops_at_its_next_window_once_nobody_waits() -> None:
    """A client that leaves cancels the task awaiting the splitter's thread; the thread then stops
    within a window instead of finishing about half a minute of work for nobody."""
    text = "x" * 2_000_000  # 16-token segments overlapping by 15: about 35 s of work on this machine
    await cancelled_at_work(segment.segment_in_thread(text, kinds.TEXT, 16, 15))
    assert await goes_quiet(within=5), "the splitter's thread went on working after its caller left"


# Broken files ------------------------------------------------------------------------------------


def _with_member_changed(document: bytes, change: str) -> bytes:
    """`document` (a ZIP) with its word/document.xml's deflated bytes overwritten, or its central
    directory entry asking for a ZIP version no reader has."""
    data = bytearray(document)
    if change == "deflate":
        name = data.index(b"word/document.xml")  # in the local header
        start = name + len(b"word/document.xml") + int.from_bytes(data[name - 2:name], "little")
        data[start:start + 4] = b"\xff\xff\xff\xff"
    else:
        entry = data.index(b"PK\x01\x02")
        data[entry + 6:entry + 8] = (187).to_bytes(2, "little")  # "zip file version 18.7"
    return bytes(data)


@pytest.mark.parametrize("change", ["deflate", "version"])
def test_an_office_file_broken_inside_its_zip_is_a_422(change: str) -> None:
    """zipfile says so with zlib.error or NotImplementedError, which were 500s."""
    made = docx.Document()
    made.add_paragraph("Hello")
    error = refused(_with_member_changed(saved(made).getvalue(), change))
    assert (error.status, error.code) == (422, "corrupt_document")


def _mutated(rng: random.Random, data: bytes) -> bytes:
    """A file as a bad disk, a cut download or a careless writer leave it: bytes changed, dropped,
    repeated, the end cut off, or a number or keyword put in."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out) + 1)
        roll = rng.random()
        if roll < 0.4 and at < len(out):
            out[at] = rng.randrange(256)
        elif roll < 0.55:
            del out[at:at + rng.randint(1, 64)]
        elif roll < 0.7:
            source = rng.randrange(len(out) + 1)
            out[at:at] = out[source:source + rng.randint(1, 64)]
        elif roll < 0.8:
            del out[at:]
        else:
            out[at:at] = rng.choice([b"0", b"999999999", b"-1", b"/Count 99", b"<", b">", b"\x00", b"obj", b"endobj"])
    return bytes(out)


@async_test
async def test_broken_documents_of_every_kind_are_answered_not_raised() -> None:
    """Seeded mutations of a document of each kind, read as the gateway reads them: each is read or
    refused with a 4xx. Pillow says an image is broken with OSError, SyntaxError, TypeError ("Missing
    dimensions"), ValueError; zipfile with zlib.error: every one of those was a 500."""
    image = text_image(["Hello"])
    made = docx.Document()
    made.add_paragraph("Hello world")
    book = openpyxl.Workbook()
    book.active["A1"] = "a"
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = "Title"
    seeds = [text_pdf(2, 3), scan_pdf(image), saved(made).getvalue(), saved(book).getvalue(), saved(deck).getvalue(),
             png(image), _tiff(image, 2), b"<html><body><main><h1>T</h1><p>Hello <b>x</b></p></main></body></html>"]
    rng = random.Random(11)
    for _ in range(200):
        broken = _mutated(rng, rng.choice(seeds))
        try:
            await reader.read_async(io.BytesIO(broken), layout=rng.random() < 0.5)
        except ir.GatewayError as error:
            assert 400 <= error.status < 500, error.message


@pytest.mark.parametrize("charset", ["foo", "base64", "rot13"])
def test_a_charset_that_is_no_text_encoding_is_taken_as_undeclared(charset: str) -> None:
    """"foo" is no codec, and Python's "base64" and "rot13" decode no bytes to text: each was a 500."""
    assert reader.read(io.BytesIO(b"<p>Caf\xc3\xa9</p>"), f"text/html; charset={charset}").text == "Café"
    assert reader.read(io.BytesIO("Café".encode()), f"text/plain; charset={charset}").text == "Café"


def test_an_office_part_in_an_encoding_no_one_knows_is_a_422() -> None:
    made = docx.Document()
    made.add_paragraph("Hello")
    xml = '<?xml version="1.0" encoding="UTF-8-1"?>' + W_BODY.format("<w:p><w:r><w:t>Hi</w:t></w:r></w:p>")
    error = refused(_with(saved(made), {"word/document.xml": xml}))
    assert (error.status, error.code) == (422, "corrupt_document") and "UTF-8-1" in error.message
