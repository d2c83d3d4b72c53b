"""OCR with Tesseract, which runs on this machine with no network: images, and PDF pages that
have no text layer. Words come back with boxes and confidences (`image_to_data`), gathered here
into lines.

Tesseract is a system program (Debian: tesseract-ocr tesseract-ocr-eng). Without it everything
else still works, and an image is refused with a 422 that says what to install. RapidOCR was the
other offline engine tried: it needs OpenCV (a 422 MB environment) and drops the spaces between
English words, so Tesseract it is.
"""

from __future__ import annotations

import functools
import math
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pytesseract
from PIL import Image, ImageSequence, UnidentifiedImageError

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds

INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng"
# An image is read at this size at most (A2 at 300 dpi): a PDF page may say it is 200 inches
# square (a 14 GB bitmap at 300 dpi), and an 84-megapixel PNG of 100 kB took 6 s and 560 MB.
MAX_PIXELS = 40_000_000


@dataclass(slots=True)
class Line:
    text: str
    polygon: list[list[float]]  # pixels, corners clockwise from the top left
    score: float  # mean word confidence, 0 to 1


@functools.cache
def available() -> bool:
    return shutil.which("tesseract") is not None


def scale_within(width: float, height: float, wanted: float = 1.0) -> float:
    """`wanted`, or less where the image would pass `MAX_PIXELS` at it."""
    return min(wanted, math.sqrt(MAX_PIXELS / max(width * height, 1.0)))


def lines(image: Image.Image, language: str = "eng") -> list[Line]:
    """The lines of text Tesseract finds in `image`, in reading order."""
    data = pytesseract.image_to_data(image, lang=language, output_type=pytesseract.Output.DICT)
    grouped: dict[tuple[int, int, int], list[int]] = {}
    for i, word in enumerate(data["text"]):
        if word.strip() and float(data["conf"][i]) >= 0:
            grouped.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(i)
    found = []
    for words in grouped.values():
        left = min(data["left"][i] for i in words)
        top = min(data["top"][i] for i in words)
        right = max(data["left"][i] + data["width"][i] for i in words)
        bottom = max(data["top"][i] + data["height"][i] for i in words)
        score = sum(float(data["conf"][i]) for i in words) / len(words) / 100
        found.append(Line(" ".join(data["text"][i] for i in words),
                          [[left, top], [right, top], [right, bottom], [left, bottom]], round(score, 3)))
    return found


def read(file: IO[bytes], layout: bool) -> ir.Document:
    """An image (every frame of a multi-page TIFF) as a document, one page per frame, in pixels."""
    if not available():
        raise ir.GatewayError("invalid_request", "file: reading an image needs the OCR engine Tesseract, which is "
                              f"not installed on the gateway's machine ({INSTALL})", param="file", status=422,
                              code="ocr_unavailable")
    file.seek(0)
    try:
        image = Image.open(file)
    except _BROKEN as exc:
        raise kinds.corrupt("an image", str(exc)) from None
    texts: list[str] = []
    pages: list[ir.Page] = []
    blocks: list[ir.Block] = []
    for number, frame in enumerate(_frames(image), 1):
        pages.append(ir.Page(number, "pixel", frame.width, frame.height))
        scale = scale_within(frame.width, frame.height)
        if scale < 1:
            frame = frame.resize((max(1, round(frame.width * scale)), max(1, round(frame.height * scale))))
        try:
            found = lines(frame)
        except pytesseract.TesseractError as exc:
            raise kinds.corrupt("an image", str(exc)) from None
        if layout:
            blocks.extend(ir.Block(number, line.text, [[round(x / scale), round(y / scale)]
                                                        for x, y in line.polygon], score=line.score)
                          for line in found)
        texts.append("\n".join(line.text for line in found))
    return ir.Document("\n\n".join(texts), pages, blocks, image.get_format_mimetype() or "image/png")


# How Pillow says an image is broken: besides OSError, its plugins raise SyntaxError ("broken PNG
# file"), TypeError ("Missing dimensions"), ValueError, EOFError and struct.error.
_BROKEN = (UnidentifiedImageError, OSError, SyntaxError, TypeError, ValueError, EOFError, struct.error,
           Image.DecompressionBombError)


def _frames(image: Image.Image) -> Iterator[Image.Image]:
    """Each frame decoded, in RGB; a frame Pillow cannot decode is a 422."""
    try:
        for frame in ImageSequence.Iterator(image):
            yield frame.convert("RGB")
    except _BROKEN as exc:
        raise kinds.corrupt("an image", str(exc)) from None
