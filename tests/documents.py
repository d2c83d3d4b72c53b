"""Documents made on the spot for the extraction tests and the documents benchmark: a text PDF
written byte by byte (standard Helvetica, one text object per line, a real xref table), so its
text and positions are known exactly, images of known text for OCR, and scanned PDFs of them."""

from __future__ import annotations

import io
import zlib
from typing import Any

WORDS = ("gateway", "document", "extract", "segment", "summary", "language", "offline", "network", "quality",
         "measure", "between", "careful", "student", "machine", "ocean", "river", "silver", "garden")


def sentence(seed: int, words: int = 11) -> str:
    """A deterministic sentence of `words` words, different for each `seed`."""
    picked = [WORDS[(seed * 7 + i * 5 + i * i) % len(WORDS)] for i in range(words)]
    return (" ".join(picked) + ".").capitalize()


def page_lines(page: int, lines: int = 40) -> list[str]:
    return [sentence(page * 1000 + n) for n in range(lines)]


def pdf(pages: list[list[str]], width: int = 612, height: int = 792) -> bytes:
    """A PDF whose page i shows `pages[i]`, one line each, 12 pt Helvetica, from the top left
    margin (72, height - 72) down in steps of 16 pt."""
    objects: list[bytes] = []
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "16 TL", f"72 {height - 72} Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return _assembled(objects)


def _assembled(objects: list[bytes]) -> bytes:
    """A PDF file of `objects`, numbered from 1 (the catalog), with its xref table and trailer."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def scan_pdf(image: Any, pages: int = 1, width: float | None = None, height: float | None = None) -> bytes:
    """A PDF of `pages` pages with no text layer, each showing `image` (one image object they all
    share) over the whole page, as a scanner makes them; the page the image's size at 300 dpi
    unless given."""
    rgb = image.convert("RGB")
    width = rgb.width * 72 / 300 if width is None else width
    height = rgb.height * 72 / 300 if height is None else height
    pixels = zlib.compress(rgb.tobytes())
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 "
               b"/Filter /FlateDecode /Length %d >>\nstream\n" % (rgb.width, rgb.height, len(pixels)) + pixels
               + b"\nendstream"]
    draw = f"q {width} 0 0 {height} 0 0 cm /Im1 Do Q".encode()
    objects.append(b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream")
    objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Resources << /XObject << /Im1 3 0 R "
                f">> >> /Contents 4 0 R >>".encode()] * pages
    return _assembled(objects)


def flate_bomb_pdf(inflated_mb: int) -> bytes:
    """A one-page PDF whose content stream inflates to `inflated_mb` MB of spaces before it shows
    one line, "Hello": about 4.5 kB of file a megabyte."""
    deflate = zlib.compressobj(1)
    spaces = b" " * (1 << 20)
    stream = b"".join([*(deflate.compress(spaces) for _ in range(inflated_mb)),
                       deflate.compress(b"BT /F1 12 Tf 72 712 Td (Hello) Tj ET"), deflate.flush()])
    return _assembled([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                       b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                       b"/Resources << /Font << /F1 5 0 R >> >> >>",
                       b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
                       b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def text_pdf(pages: int, lines: int = 40) -> bytes:
    return pdf([page_lines(p, lines) for p in range(pages)])


def encrypted_pdf() -> bytes:
    """A PDF under the standard security handler whose empty user password does not open it."""
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"
    ids = b"[<" + b"33" * 16 + b"><" + b"33" * 16 + b">]"
    return pdf([["secret"]]).replace(b"/Root 1 0 R >>", b"/Root 1 0 R /Encrypt " + encrypt + b" /ID " + ids + b" >>")


def text_image(lines: list[str], size: int = 40) -> Any:
    """A white image with `lines` in black, Pillow's built-in scalable font, as a scan would show them."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    image = Image.new("RGB", (width, (len(lines) + 1) * size * 3 // 2), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size, size // 2 + i * size * 3 // 2), line, fill="black", font=font)
    return image


def png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
