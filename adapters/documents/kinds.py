"""Which format a document is: from its first bytes where the format has a signature, else from
the declared content type, else from the file name's extension. A declared type is never trusted
over a signature (a PDF sent as application/octet-stream is still a PDF)."""

from __future__ import annotations

import mimetypes
import zipfile
from typing import IO

from interlingua.adapters import ir
from interlingua.adapters.dialects.forms import image_type

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
CSV = "text/csv"
JSON = "application/json"
IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "image/bmp")
OOXML = {DOCX: "word/document.xml", PPTX: "ppt/presentation.xml", XLSX: "xl/workbook.xml"}
TEXTS = (TEXT, MARKDOWN, CSV, JSON, HTML)
SUPPORTED = (PDF, DOCX, PPTX, XLSX, *TEXTS, *IMAGES)

_ALIASES = {"text/x-markdown": MARKDOWN, "application/xhtml+xml": HTML, "text/json": JSON,
            "application/csv": CSV, "image/jpg": "image/jpeg", "application/x-pdf": PDF}
_EXTENSIONS = {".md": MARKDOWN, ".markdown": MARKDOWN, ".txt": TEXT, ".csv": CSV, ".json": JSON,
               ".htm": HTML, ".html": HTML, ".pdf": PDF, ".docx": DOCX, ".pptx": PPTX, ".xlsx": XLSX,
               ".tif": "image/tiff", ".tiff": "image/tiff"}
_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old Office container, also what encrypts OOXML


def declared(content_type: str, filename: str) -> str:
    """The type a client declared, normalised; "" when neither header nor name says."""
    kind = content_type.partition(";")[0].strip().lower()
    kind = _ALIASES.get(kind, kind)
    if kind and kind not in ("application/octet-stream", "binary/octet-stream"):
        return kind
    extension = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
    return _EXTENSIONS.get(extension) or (mimetypes.guess_type(filename)[0] or "" if filename else "")


def sniff(file: IO[bytes], content_type: str, filename: str) -> str:
    """The format of `file` (one of `SUPPORTED`); 415 for a format the backend cannot read, 422
    for an encrypted Office file."""
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    said = declared(content_type, filename)
    if head[:5] == b"%PDF-" or (said == PDF and b"%PDF-" in head):
        return PDF
    image = _image(head)
    if image:
        return image
    if head[:4] == b"PK\x03\x04":
        return _ooxml(file, said)
    if head[:8] == _CFB:
        if said in OOXML:
            raise encrypted("Office document")
        raise unsupported(said or "an old Office (CFB) file")
    if textual(said):
        return said if said in TEXTS else TEXT
    if said:
        raise unsupported(said)
    return _guess_text(head)


def textual(kind: str) -> bool:
    """Whether a declared type is text a reader takes as it is (plain text for any other `text/`)."""
    return kind in TEXTS or kind.startswith("text/")


def unsupported(kind: str, supported: tuple[str, ...] = SUPPORTED) -> ir.GatewayError:
    return ir.GatewayError("invalid_request", f"file: cannot read {kind}; this backend takes "
                           f"{', '.join(supported)}", param="file", status=415, code="unsupported_media_type")


def _image(head: bytes) -> str | None:
    """The images endpoints' types, and the two more that scans come in."""
    found = image_type(head)
    if found is not None:
        return found
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:2] == b"BM":
        return "image/bmp"
    return None


def _ooxml(file: IO[bytes], said: str) -> str:
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):  # the last: "zip file version 18.7"
        raise corrupt("a ZIP archive (an Office document)") from None
    finally:
        file.seek(0)
    if said in OOXML and OOXML[said] in names:
        return said
    for kind, part in OOXML.items():
        if part in names:
            return kind
    raise unsupported(said or "a ZIP archive")


def _guess_text(head: bytes) -> str:
    start = head.lstrip()[:1]
    if start == b"<":
        return HTML
    if start in (b"{", b"["):
        return JSON
    return TEXT


# The text a reader gives from one document at most: past any model's context many times over, and
# what a small file whose parts repeat (pages sharing a content stream, cells naming a shared
# string) could otherwise multiply into gigabytes.
MAX_TEXT = 64 * 1024 * 1024


def corrupt(what: str, detail: str = "") -> ir.GatewayError:
    """A 422 for a document that says it is `what` and cannot be read as one."""
    tail = f" ({detail})" if detail else ""
    return ir.GatewayError("invalid_request", f"file: the document is corrupt: it cannot be read as {what}{tail}",
                           param="file", status=422, code="corrupt_document")


def too_large(what: str, detail: str) -> ir.GatewayError:
    """A 413 for a document that is small but would take more than the reader gives one to read."""
    return ir.GatewayError("invalid_request", f"file: the {what} is too large to read: {detail}",
                           param="file", status=413, code="document_too_large")


def encrypted(what: str) -> ir.GatewayError:
    return ir.GatewayError("invalid_request", f"file: the {what} is encrypted (password-protected); send it "
                           "without a password", param="file", status=422, code="encrypted")
