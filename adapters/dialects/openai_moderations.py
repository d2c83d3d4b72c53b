"""OpenAI moderations (`POST /v1/moderations`, OpenAI's Moderations API reference), the request
side: its body checked as the reference has it. The answer is the upstream's, passed on as it came:
no other dialect has moderations, and no other upstream answers them, so nothing is translated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f

DEFAULT_MODEL = "omni-moderation-latest"  # what the API uses when the request names no model
_PARTS = ("text", "image_url")


@dataclass(slots=True)
class ModerationRequest:
    model: str
    native: dict[str, Any]  # the client's body, sent on with the model changed
    dialect: str


def decode_moderation_request(body: Any, dialect: str) -> ModerationRequest:
    body = f.obj(body, "body")
    raw = f.req(body, "input")
    if isinstance(raw, list) and raw:
        strings = isinstance(raw[0], str)
        for i, item in enumerate(raw):
            if isinstance(item, str) is not strings:
                raise ir.invalid(f"input[{i}]", "an array holds strings, or text and image_url parts, not both")
            if not strings:
                _part(item, f"input[{i}]")
    elif not isinstance(raw, str):
        raise ir.invalid("input", "must be a string, an array of strings, or an array of text and image_url parts")
    return ModerationRequest(f.string(body, "model") or DEFAULT_MODEL, body, dialect)


def _part(raw: Any, path: str) -> None:
    part = f.obj(raw, path)
    kind = f.choice(part, "type", _PARTS, path + ".")
    if kind == "text":
        f.string(part, "text", path + ".", required=True)
    elif kind == "image_url":
        f.string(f.obj(f.req(part, "image_url", path + "."), path + ".image_url"), "url", path + ".image_url.",
                 required=True)
    else:
        raise ir.invalid(path + ".type", "is required")
