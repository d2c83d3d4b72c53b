"""A chat body's references to files by id, in each dialect's shape, and the same body with the
files' content inline: what lets a file kept by the gateway reach any upstream.

The shapes: an OpenAI Chat part `{"type": "file", "file": {"file_id"}}`, a Responses
`{"type": "input_file", "file_id"}` or `{"type": "input_image", "file_id"}` (in a message or a
tool's output), an Anthropic `image` or `document` block whose `source` is
`{"type": "file", "file_id"}`, and a Gemini part `{"fileData": {"fileUri"}}` (or `file_uri`)
whose URI ends in `/files/ID`. Each becomes the inline form its own dialect has (a `data:` URL, Anthropic's base64 or
text source, Gemini's `inlineData`), so the body still reads as its client wrote it, and a
same-dialect upstream takes it as it is.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.needle import Needle

# In a body's bytes wherever it may hold a reference, by dialect (each anchored on its rarest byte).
_MARKS = {"gemini": Needle(b'"fileData"', 5)}  # its URI is `fileUri`, or `file_uri` as google-genai sends it
_MARK = Needle(b'"file_id"', 5)


def mark(dialect: str) -> Needle:
    """What a body of `dialect` holds wherever it refers to a file by id."""
    return _MARKS.get(dialect, _MARK)


@dataclass(slots=True, frozen=True)
class Content:
    """A referenced file's content, to put inline."""

    media_type: str
    filename: str
    data: bytes

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.base64()}"


def references(body: Any) -> set[str]:
    """The file ids `body` names in any of the shapes."""
    return set(_refs(body))


def inline(body: Any, files: Mapping[str, Content]) -> Any:
    """`body` with each reference to one of `files` replaced by its content; others are left as
    they are (another key's, or the upstream's own). The parts changed are copies, and so is
    every object and array above them; the rest is shared with `body`."""
    return _map(body, lambda node: _inlined(node, files))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        file_id = _file_id(node)
        if file_id is not None:
            yield file_id
            return
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _file_id(node: dict[str, Any]) -> str | None:
    data = node.get("fileData")
    if isinstance(data, dict):  # Gemini
        uri = data.get("fileUri", data.get("file_uri"))
        return uri.rpartition("/files/")[2] or None if isinstance(uri, str) and "/files/" in uri else None
    kind = node.get("type")
    if kind == "file" and isinstance(node.get("file"), dict):  # OpenAI Chat
        found = node["file"].get("file_id")
    elif kind in ("input_file", "input_image"):  # OpenAI Responses
        found = node.get("file_id")
    elif kind in ("image", "document") and isinstance(node.get("source"), dict) and node["source"].get(
            "type") == "file":  # Anthropic
        found = node["source"].get("file_id")
    else:
        return None
    return found if isinstance(found, str) else None


def _map(node: Any, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Any:
    """`node` with every object `change` answers for replaced by its answer; what holds no change
    is returned as it is, not copied."""
    if isinstance(node, dict):
        changed = change(node)
        if changed is not None:
            return changed
        out: dict[str, Any] | None = None
        for key, value in node.items():
            new = _map(value, change)
            if new is not value:
                out = out if out is not None else dict(node)
                out[key] = new
        return out if out is not None else node
    if isinstance(node, list):
        items = [_map(value, change) for value in node]
        return items if any(new is not old for new, old in zip(items, node, strict=True)) else node
    return node


def _inlined(node: dict[str, Any], files: Mapping[str, Content]) -> dict[str, Any] | None:
    file_id = _file_id(node)
    content = files.get(file_id) if file_id is not None else None
    if content is None:
        return None
    if "fileData" in node:
        return {**_without(node, "fileData"), "inlineData": {"mimeType": content.media_type, "data": content.base64()}}
    kind = node["type"]
    if kind in ("input_image", "image") and not content.media_type.startswith("image/"):
        raise ir.invalid("file_id", f"file {file_id} is {content.media_type}, not an image")
    if kind == "file":
        rest = _without(node["file"], "file_id")
        return {**node, "file": {**rest, "filename": rest.get("filename") or content.filename,
                                 "file_data": content.data_url()}}
    if kind == "input_file":
        rest = _without(node, "file_id")
        return {**rest, "filename": rest.get("filename") or content.filename, "file_data": content.data_url()}
    if kind == "input_image":
        return {**_without(node, "file_id"), "image_url": content.data_url()}
    if content.media_type.startswith("text/") and kind == "document":
        source = {"type": "text", "media_type": "text/plain", "data": content.data.decode("utf-8", "replace")}
    else:
        source = {"type": "base64", "media_type": content.media_type, "data": content.base64()}
    return {**node, "source": source}


def _without(node: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != key}
