"""DOCX, PPTX and XLSX, read straight from their ZIP parts with the standard library's XML parser.

python-docx, python-pptx and openpyxl were the alternative: they build a whole object model (and
pull in lxml) to read what is here a walk over a few XML parts. The walk keeps what a reader of the
text needs: DOCX paragraphs, tables and check boxes (content controls and legacy form fields);
PPTX slides in order, each shape placed on the slide in inches; XLSX sheets as tab-separated rows.
"""

from __future__ import annotations

import lzma
import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO
from xml.etree import ElementTree

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
W14 = "{http://schemas.microsoft.com/office/word/2010/wordml}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
EMU_PER_INCH = 914400
# Against ZIP bombs, which inflate a few hundred kB into gigabytes: what the parts read inflate to,
# together (a part read twice counts twice); the XML elements held at once, about 100 bytes each (a
# part parsed whole may have twice as many tags, which are counted as it is read; 2,000 formatted
# pages have fewer); a workbook's text (`kinds.MAX_TEXT`), which cells can multiply (each names a
# shared string, or a column far to the right that its row is padded to).
MAX_INFLATED_BYTES = 256 * 1024 * 1024
MAX_ELEMENTS = 2_000_000
MAX_COLUMNS = 16_384  # Excel's, to column XFD
_CHUNK = 64 * 1024


def read(file: IO[bytes], kind: str, layout: bool) -> ir.Document:
    file.seek(0)
    name = {kinds.DOCX: "DOCX", kinds.PPTX: "PPTX", kinds.XLSX: "XLSX"}[kind]
    try:
        with zipfile.ZipFile(file) as archive:
            reader = _Parts(archive, name)
            if kind == kinds.DOCX:
                return _docx(reader)
            if kind == kinds.PPTX:
                return _pptx(reader)
            return _xlsx(reader)
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, IndexError, ValueError, EOFError, zlib.error,
            lzma.LZMAError, OSError, NotImplementedError, LookupError) as exc:
        # OSError: bz2's; NotImplementedError: a method zipfile lacks; LookupError: an unknown XML encoding
        raise kinds.corrupt(name, str(exc)) from None


class _Parts:
    """The archive's XML parts, read within the bounds above."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.archive = archive
        self.name = name
        self.inflated = 0

    def xml(self, part: str) -> ElementTree.Element:
        """A part's whole tree."""
        with self._open(part) as stream:
            parser = ElementTree.XMLParser()
            tags = 0
            while chunk := stream.read(_CHUNK):
                tags += chunk.count(b"<")  # an element is one tag or two: counted at C speed, not parsed twice
                if tags > 2 * MAX_ELEMENTS:
                    raise self.too_large(f"{part} has more than {2 * MAX_ELEMENTS:,} XML tags")
                parser.feed(chunk)
            return parser.close()

    def records(self, part: str, tag: str) -> Iterator[ElementTree.Element]:
        """Each `tag` element of a part, whole, as it ends. What lies outside them is let go of as it
        ends, so a sheet of a million rows is held a row at a time."""
        with self._open(part) as stream:
            ancestors: list[ElementTree.Element] = []
            held = 0  # elements of the record being read
            for event, node in ElementTree.iterparse(stream, events=("start", "end")):
                if event == "start":
                    ancestors.append(node)
                    if held or node.tag == tag:
                        held += 1
                        if held > MAX_ELEMENTS:
                            raise self.too_large(f"an element of {part} holds more than {MAX_ELEMENTS:,} others")
                    continue
                ancestors.pop()
                if node.tag == tag:
                    yield node
                    held = 0
                if not held and ancestors:
                    ancestors[-1].clear()  # its children so far have all ended and been read

    def _open(self, part: str) -> IO[bytes]:
        info = self.archive.getinfo(part)
        self.inflated += info.file_size
        if self.inflated > MAX_INFLATED_BYTES:
            raise self.too_large(f"its parts inflate to more than {MAX_INFLATED_BYTES:,} bytes")
        return self.archive.open(info)

    def too_large(self, detail: str) -> ir.GatewayError:
        return kinds.too_large(self.name, detail)

    def has(self, part: str) -> bool:
        return part in self.archive.NameToInfo

    def targets(self, part: str) -> dict[str, str]:
        """A part's relationships: id to the target part's name in the archive."""
        folder, base = posixpath.split(part)
        rels = posixpath.join(folder, "_rels", base + ".rels")
        if not self.has(rels):
            return {}
        found = {}
        for rel in self.xml(rels).iter(f"{REL}Relationship"):
            target = rel.get("Target", "")  # relative to the part's folder, or absolute in the package
            found[rel.get("Id", "")] = target[1:] if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))
        return found


# DOCX -----------------------------------------------------------------------------------------------


def _docx(parts: _Parts) -> ir.Document:
    body = parts.xml("word/document.xml").find(f"{W}body")
    blocks: list[ir.Block] = []
    if body is not None:
        _docx_children(body, blocks)
    return ir.Document("\n\n".join(b.text for b in blocks if b.state is None), [ir.Page(1)], blocks, kinds.DOCX)


def _docx_children(parent: ElementTree.Element, blocks: list[ir.Block]) -> None:
    for child in parent:
        if child.tag == f"{W}p":
            _docx_paragraph(child, blocks)
        elif child.tag == f"{W}tbl":
            for row in child.iter(f"{W}tr"):
                cells = ["\n".join(_runs(p) for p in cell.iter(f"{W}p")).strip() for cell in row.iter(f"{W}tc")]
                blocks.append(ir.Block(1, "\t".join(cells)))
        elif child.tag in (f"{W}sdt", f"{W}sdtContent", f"{W}customXml"):
            _docx_children(child, blocks)


def _docx_paragraph(paragraph: ElementTree.Element, blocks: list[ir.Block]) -> None:
    text = _runs(paragraph)
    for state in _checkboxes(paragraph):
        blocks.append(ir.Block(1, text.strip(), state=state))
    if text.strip():
        blocks.append(ir.Block(1, text))


def _runs(paragraph: ElementTree.Element) -> str:
    out = []
    for node in paragraph.iter():
        if node.tag == f"{W}t":
            out.append(node.text or "")
        elif node.tag == f"{W}tab":
            out.append("\t")
        elif node.tag in (f"{W}br", f"{W}cr"):
            out.append("\n")
    return "".join(out)


def _checkboxes(paragraph: ElementTree.Element) -> Iterator[str]:
    """Word 2010 check box content controls (`w14:checkbox`) and legacy check box form fields."""
    for box in paragraph.iter(f"{W14}checkbox"):
        checked = box.find(f"{W14}checked")
        yield "checked" if checked is not None and checked.get(f"{W14}val") in ("1", "true") else "unchecked"
    for box in paragraph.iter(f"{W}checkBox"):
        value = box.find(f"{W}checked")
        if value is None:
            value = box.find(f"{W}default")
        yield "checked" if value is not None and value.get(f"{W}val", "1") in ("1", "true") else "unchecked"


# PPTX -----------------------------------------------------------------------------------------------


def _pptx(parts: _Parts) -> ir.Document:
    presentation = parts.xml("ppt/presentation.xml")
    size = presentation.find(f"{P}sldSz")
    width = int(size.get("cx", "0")) / EMU_PER_INCH if size is not None else None
    height = int(size.get("cy", "0")) / EMU_PER_INCH if size is not None else None
    targets = parts.targets("ppt/presentation.xml")
    pages: list[ir.Page] = []
    blocks: list[ir.Block] = []
    texts: list[str] = []
    ids = presentation.find(f"{P}sldIdLst")
    for number, slide in enumerate(ids if ids is not None else [], 1):
        pages.append(ir.Page(number, "inch", width, height))
        shapes = _shapes(parts.xml(targets[slide.get(f"{R}id", "")]))
        found = [ir.Block(number, text, polygon) for text, polygon in shapes]
        blocks.extend(found)
        texts.append("\n".join(b.text for b in found))
    return ir.Document("\n\n".join(texts), pages, blocks, kinds.PPTX)


def _shapes(slide: ElementTree.Element) -> Iterator[tuple[str, list[list[float]] | None]]:
    for shape in slide.iter():
        if shape.tag not in (f"{P}sp", f"{P}graphicFrame"):
            continue
        paragraphs = ["".join(t.text or "" for t in p.iter(f"{A}t")) for p in shape.iter(f"{A}p")]
        text = "\n".join(p for p in paragraphs if p.strip())
        if text:
            yield text, _placement(shape)


def _placement(shape: ElementTree.Element) -> list[list[float]] | None:
    offset = shape.find(f".//{A}off")
    extent = shape.find(f".//{A}ext")
    if offset is None or extent is None:
        offset = shape.find(f".//{P}xfrm/{A}off")
        extent = shape.find(f".//{P}xfrm/{A}ext")
    if offset is None or extent is None:
        return None
    left, top = int(offset.get("x", "0")) / EMU_PER_INCH, int(offset.get("y", "0")) / EMU_PER_INCH
    right = left + int(extent.get("cx", "0")) / EMU_PER_INCH
    bottom = top + int(extent.get("cy", "0")) / EMU_PER_INCH
    return [[round(x, 3), round(y, 3)] for x, y in ((left, top), (right, top), (right, bottom), (left, bottom))]


# XLSX -----------------------------------------------------------------------------------------------


def _xlsx(parts: _Parts) -> ir.Document:
    shared = []
    if parts.has("xl/sharedStrings.xml"):
        shared = ["".join(t.text or "" for t in node.iter(f"{S}t"))
                  for node in parts.records("xl/sharedStrings.xml", f"{S}si")]
    workbook = parts.xml("xl/workbook.xml")
    targets = parts.targets("xl/workbook.xml")
    pages: list[ir.Page] = []
    blocks: list[ir.Block] = []
    texts: list[str] = []
    length = 0
    for number, sheet in enumerate(workbook.iter(f"{S}sheet"), 1):
        name = sheet.get("name", f"Sheet{number}")
        rows = []
        for row in _rows(parts, targets[sheet.get(f"{R}id", "")], shared):
            length += len(row) + 1
            if length > kinds.MAX_TEXT:
                raise parts.too_large(f"its cells hold more than {kinds.MAX_TEXT:,} characters")
            rows.append(row)
        pages.append(ir.Page(number))
        blocks.extend(ir.Block(number, row) for row in rows)
        texts.append("\n".join([f"## {name}", *rows]))
    return ir.Document("\n\n".join(texts), pages, blocks, kinds.XLSX)


def _rows(parts: _Parts, part: str, shared: list[str]) -> Iterator[str]:
    for node in parts.records(part, f"{S}row"):
        cells: list[str] = []
        for cell in node.iter(f"{S}c"):
            column = _column(cell.get("r", ""))
            if column > len(cells):  # empty cells are left out of the XML: keep the columns aligned
                cells.extend([""] * (column - len(cells)))
            cells.append(_cell(cell, shared))
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield "\t".join(cells)


def _column(reference: str) -> int:
    """The 0-based column of a cell reference such as "C7"; -1 when there is none."""
    column = 0
    for char in reference:
        if not char.isalpha():
            break
        column = column * 26 + ord(char.upper()) - 64
        if column > MAX_COLUMNS:
            raise ValueError(f"cell {reference[:20]!r} is past column XFD")
    return column - 1


def _cell(cell: ElementTree.Element, shared: list[str]) -> str:
    kind = cell.get("t")
    value = cell.find(f"{S}v")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{S}t"))
    if value is None or value.text is None:
        return ""
    if kind == "s":
        return shared[int(value.text)]
    if kind == "b":
        return "TRUE" if value.text == "1" else "FALSE"
    return value.text
