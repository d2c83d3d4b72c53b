"""Documents that are text already: plain text, Markdown, CSV and JSON, decoded and checked."""

from __future__ import annotations

import codecs
from typing import IO

import orjson

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds


def decode(data: bytes, charset: str | None = None) -> str:
    """Text in its declared charset, else UTF-8 (a byte-order mark dropped); 422 when it is not."""
    encoding = charset or "utf-8-sig"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise kinds.corrupt(f"{encoding} text", f"invalid byte at offset {exc.start}") from None


def charset_of(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


def read(file: IO[bytes], kind: str, content_type: str) -> ir.Document:
    file.seek(0)
    text = decode(file.read(), charset_of(content_type))
    if kind == kinds.JSON:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise kinds.corrupt("JSON", str(exc)) from None
    return ir.Document(text, [ir.Page(1)], [], kind)
