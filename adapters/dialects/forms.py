"""Form fields and uploads, read for request validation; shared by the codecs that take forms.

The counterpart of `fields.py` for an `ir.Form` (multipart, or url-encoded without files): text
fields by name, the last one counting when a field is repeated, as in most form parsers; and what
an upload is, from its first bytes (`Upload.head`), so a codec refuses a file that is not what its
field needs without reading it.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from interlingua.adapters import ir
from interlingua.adapters.dialects.fields import natural

Values = dict[str, list[str]]


# What an upload is, from its first bytes ------------------------------------------------------------


def is_audio(head: bytes) -> bool:
    """The containers OpenAI transcribes: wav, mp3 (ID3 tag or a bare MPEG frame), ogg, flac,
    mp4/m4a, webm."""
    return ((head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[:3] == b"ID3"
            or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # an MPEG frame sync
            or head[:4] in (b"OggS", b"fLaC", b"\x1a\x45\xdf\xa3") or head[4:8] == b"ftyp")


def image_type(head: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF or WEBP image, the formats the images endpoints take; None
    for anything else."""
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_image(head: bytes) -> bool:
    return image_type(head) is not None


# Headers ------------------------------------------------------------------------------------------


def accept_ranges(accept: str) -> dict[str, float]:
    """The media ranges of an `Accept` header, lower case, each with its quality value."""
    ranges: dict[str, float] = {}
    for item in accept.split(","):
        kind, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges[kind.strip().lower()] = quality
    return ranges


# Text fields --------------------------------------------------------------------------------------


def values(form: ir.Form) -> Values:
    found: Values = {}
    for name, value in form.fields:
        found.setdefault(name, []).append(value)
    return found


@overload
def text(values: Values, key: str, required: Literal[True]) -> str: ...
@overload
def text(values: Values, key: str, required: bool = False) -> str | None: ...
def text(values: Values, key: str, required: bool = False) -> str | None:
    """A scalar field; the last one counts when it is repeated."""
    found = values.get(key)
    if not found or not found[-1]:
        if required:
            raise ir.invalid(key, "is required")
        return None
    return found[-1]


def number(values: Values, key: str, low: float, high: float) -> float | None:
    raw = text(values, key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ir.invalid(key, "must be a number") from None
    if not low <= value <= high:
        raise ir.invalid(key, f"must be between {low:g} and {high:g}")
    return value


def integer(values: Values, key: str) -> int | None:
    raw = text(values, key)
    if raw is None:
        return None
    value = natural(raw)
    if value is None or value < 1:
        raise ir.invalid(key, "must be a positive integer")
    return value


def boolean(values: Values, key: str) -> bool:
    raw = text(values, key)
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise ir.invalid(key, "must be true or false")


def choice(values: Values, key: str, allowed: tuple[str, ...]) -> str | None:
    raw = text(values, key)
    if raw is not None and raw not in allowed:
        raise ir.invalid(key, f"must be one of {', '.join(allowed)}")
    return raw


def rest(values: Values, known: frozenset[str]) -> dict[str, Any]:
    return {k: v[-1] if len(v) == 1 else v for k, v in values.items() if k not in known}


# Uploads ------------------------------------------------------------------------------------------


def files(form: ir.Form, values: Values, name: str) -> list[ir.Upload]:
    """The uploads of field `name`; a text field of that name is refused rather than lost."""
    if name in values:
        raise ir.invalid(name, "must be a file upload, not a text field")
    return [u for u in form.files if u.name == name]


def audio(form: ir.Form, values: Values, name: str = "file") -> ir.Upload:
    """The one audio file of field `name`."""
    uploads = files(form, values, name)
    if len(uploads) != 1:
        raise ir.invalid(name, "is required" if not uploads else "must be one file")
    if not is_audio(uploads[0].head):
        raise ir.invalid(name, "is not an audio file (flac, mp3, mp4, m4a, ogg, wav or webm)")
    return uploads[0]


def images(form: ir.Form, values: Values, name: str) -> list[ir.Upload]:
    """The uploads of field `name`, each refused unless it is an image. A refusal names the field,
    and which one of an array field (`image[]`) by its index."""
    uploads = files(form, values, name)
    for index, upload in enumerate(uploads):
        if not is_image(upload.head):
            param = f"{name[:-2]}[{index}]" if name.endswith("[]") else name
            raise ir.invalid(param, "is not an image (PNG, JPEG, GIF or WEBP)")
    return uploads
