"""Documents that are text already: plain text, Markdown, CSV and JSON, decoded and checked."""

from __future__ import annotations

from typing import IO

import orjson

from interlingua.adapters import ir
from interlingua.adapters.documents import kinds


def decode(data: bytes, charset: str | None = None) -> str:
    """Text in its declared charset, else UTF-8 (a byte-order mark dropped); 422 when it is not."""
    encoding = known(charset) or "utf-8-sig"
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


def known(charset: str | None) -> str | None:
    """`charset` where it names a text encoding, else None: a client or a page may declare anything,
    "foo", or "base64" and "rot13", which Python knows as codecs that do not decode bytes to text."""
    if not charset:
        return None
    try:
        b"x".decode(charset, "replace")  # not b"": that decodes even where the codec is no text encoding
    except LookupError:
        return None
    return charset


def read(file: IO[bytes], kind: str, content_type: str) -> ir.Document:
    file.seek(0)
    text = decode(file.read(), charset_of(content_type))
    if kind == kinds.JSON:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise kinds.corrupt("JSON", str(exc)) from None
    return ir.Document(text, [ir.Page(1)], [], kind)
