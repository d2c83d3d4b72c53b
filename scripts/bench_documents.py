"""The documents benchmark: `.venv/bin/python scripts/bench_documents.py [--pages 200]`.

Side by side in one run, on one core's worth of work each (nothing here is parallel):
- extraction pages per second of a generated 200-page text PDF by the embedded reader and by
  markitdown (the library most users reach for), and whether the two texts are equal up to
  whitespace; target: at least 5x markitdown's pages per second with equal text;
- segmenting 1 MB of Markdown into 512-token segments; target: under 1 s; and two texts whose
  sections must be cut below their words (a long line, a run with no space);
- peak memory (RSS growth, in a fresh process) of extracting a 50 MB PDF;
- OCR accuracy: the character error rate of Tesseract on pages rendered from known text.

markitdown is a benchmark-only dependency, not in the runtime or test locks: install it into the
venv first with `.venv/bin/pip install 'markitdown[pdf]'`. The PASS/FAIL lines are information,
not a test verdict; the exit status is 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: import the repository's packages from the root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from interlingua.adapters.documents import reader  # noqa: E402
from interlingua.adapters.documents.segment import segment  # noqa: E402
from tests.documents import page_lines, png, sentence, text_image, text_pdf  # noqa: E402

MARKDOWN_BYTES = 1_000_000
BIG_PDF_BYTES = 50_000_000


def best_of(runs: int, job: object) -> float:
    """The fastest of `runs` timings of `job()`, in seconds: the least disturbed by other load."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        job()  # type: ignore[operator]
        timings.append(time.perf_counter() - start)
    return min(timings)


def squashed(text: str) -> str:
    return "".join(text.split())


def extraction(pages: int) -> list[str]:
    data = text_pdf(pages)
    ours = reader.read(io.BytesIO(data)).text
    ours_seconds = best_of(3, lambda: reader.read(io.BytesIO(data)))
    lines = [f"extraction of a {pages}-page text PDF ({len(data) / 1e6:.1f} MB)"]
    lines.append(f"  local/documents (PDFium)  {pages / ours_seconds:10.0f} pages/s  ({ours_seconds * 1000:.0f} ms)")
    try:
        from markitdown import MarkItDown, StreamInfo
    except ImportError:
        lines.append("  markitdown: not installed (.venv/bin/pip install 'markitdown[pdf]')")
        return lines
    converter = MarkItDown()
    theirs = converter.convert_stream(io.BytesIO(data), stream_info=StreamInfo(extension=".pdf")).text_content
    their_seconds = best_of(1, lambda: converter.convert_stream(io.BytesIO(data),
                                                                stream_info=StreamInfo(extension=".pdf")))
    ratio = their_seconds / ours_seconds
    equal = squashed(ours) == squashed(theirs)
    expected = squashed("".join("".join(page_lines(p)) for p in range(pages)))
    lines.append(f"  markitdown (pdfminer)     {pages / their_seconds:10.0f} pages/s  ({their_seconds * 1000:.0f} ms)")
    lines.append(f"  speed-up {ratio:.1f}x (target 5x): {'PASS' if ratio >= 5 else 'FAIL'}")
    exact = squashed(ours) == expected
    lines.append(f"  texts equal up to whitespace: {equal}; ours equals the generated text: {exact}")
    return lines


def markdown(size: int) -> str:
    sections = []
    total = 0
    index = 0
    while total < size:
        section = (f"## Section {index}\n\n" + " ".join(sentence(index * 10 + j) for j in range(8))
                   + "\n\n- first point\n- second point\n\n```\ncode line\n```\n\n")
        sections.append(section)
        total += len(section.encode())
        index += 1
    return "".join(sections)[:size]


def segmenting() -> list[str]:
    text = markdown(MARKDOWN_BYTES)
    segment(text, "text/markdown", 512, 0)  # the splitter is built once per size: not timed
    seconds = best_of(3, lambda: segment(text, "text/markdown", 512, 0))
    count = len(segment(text, "text/markdown", 512, 0))
    lines = [f"segmenting 1 MB of Markdown into 512-token segments: {seconds * 1000:.0f} ms, {count} segments "
             f"(target < 1 s): {'PASS' if seconds < 1 else 'FAIL'}"]
    # Sections the splitter must cut below their words, whose time grew with their square.
    words = "the gateway routes every model to whichever upstream serves it in any dialect and "
    for name, hard, length, overlap in (("a 1.6 MB line", words * 19_000, 512, 0),
                                        ("100 kB with no space", "x" * 100_000, 16, 15)):
        segment("warm", "text/plain", length, overlap)
        seconds = best_of(1, partial(segment, hard, "text/plain", length, overlap))
        lines.append(f"segmenting {name} into {length}-token segments overlapping by {overlap}: "
                     f"{seconds * 1000:.0f} ms")
    return lines


def peak_memory(path: Path) -> list[str]:
    """Extract the big PDF in a fresh process and report its peak RSS above the interpreter's."""
    pages = 1
    while len(text_pdf(pages)) < 1_000_000:
        pages *= 2
    per_page = len(text_pdf(pages)) / pages
    data = text_pdf(int(BIG_PDF_BYTES / per_page) + 1)
    path.write_bytes(data)
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's at fork.
    program = (
        "import re\n"
        "from interlingua.adapters.documents import reader\n"
        "def hwm():\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "base = hwm()\n"
        f"with open({str(path)!r}, 'rb') as f:\n"
        "    text = reader.read(f).text\n"
        "print(base, hwm(), len(text))\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=root)
    base, peak, chars = (int(v) for v in out.stdout.split())
    return [f"extracting a {len(data) / 1e6:.0f} MB PDF: peak RSS {peak / 1024:.0f} MB, {(peak - base) / 1024:.0f} MB "
            f"above the interpreter with the reader loaded; {chars / 1e6:.1f} M characters of text"]


def character_error_rate(expected: str, found: str) -> float:
    """Levenshtein distance over the expected text's length."""
    previous = list(range(len(found) + 1))
    for i, a in enumerate(expected, 1):
        current = [i]
        for j, b in enumerate(found, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] / max(len(expected), 1)


def ocr_accuracy(pages: int) -> list[str]:
    from interlingua.adapters.documents import ocr

    if not ocr.available():
        return [f"OCR: Tesseract is not installed ({ocr.INSTALL})"]
    lines = []
    total_errors = total_chars = 0
    for size, degraded in ((12, False), (16, False), (24, False), (16, True)):
        errors = chars = 0
        for page in range(pages):
            expected = [sentence(page * 100 + n, words=8) + f" No. {page * 37 + n}" for n in range(12)]
            image = text_image(expected, size=size)
            if degraded:
                image = scanned(image, seed=page)
            found = reader.read(io.BytesIO(png(image))).text
            want = "\n".join(expected)
            errors += round(character_error_rate(want, found) * len(want))
            chars += len(want)
        total_errors += errors
        total_chars += chars
        what = f"{size} px text" + (", blurred, noisy, rotated 1 degree" if degraded else ", clean")
        lines.append(f"  {what:45} CER {errors / chars:6.2%}  ({pages} pages, {chars} characters)")
    return [f"OCR character error rate (Tesseract, pages rendered by Pillow from known text): "
            f"{total_errors / total_chars:.2%} overall", *lines]


def scanned(image: Any, seed: int) -> Any:
    """`image` as a poor scan: slightly rotated, blurred, with speckle noise."""
    import random

    from PIL import ImageFilter

    noisy = image.rotate(1, expand=True, fillcolor="white").filter(ImageFilter.GaussianBlur(0.8))
    rng = random.Random(seed)
    pixels = noisy.load()
    for _ in range(noisy.width * noisy.height // 50):
        x, y = rng.randrange(noisy.width), rng.randrange(noisy.height)
        pixels[x, y] = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
    return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200, help="pages of the extraction PDF (200)")
    parser.add_argument("--ocr-pages", type=int, default=3, help="rendered pages per text size for the CER (3)")
    parser.add_argument("--skip-big", action="store_true", help="skip the 50 MB peak-memory run")
    args = parser.parse_args()
    start = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    report = extraction(args.pages) + segmenting()
    if not args.skip_big:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            report += peak_memory(Path(folder) / "big.pdf")
    report += ocr_accuracy(args.ocr_pages)
    print("\n".join(report))
    print(f"(CPU time of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_utime - start:.1f} s)")


if __name__ == "__main__":
    main()
