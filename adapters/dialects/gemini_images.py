"""Gemini's image models (gemini-2.5-flash-image, gemini-3-pro-image-preview) behind the images
requests, upstream side; the Gemini provider routes image requests here.

An `ir.ImageRequest` becomes a `:generateContent` request that asks for images as well as text
(`responseModalities: ["TEXT", "IMAGE"]`), the reference images of an edit as `inlineData` parts
before the prompt; the answer's `inlineData` image parts become an `ir.ImageResponse`, which the
client's codec renders. The codec does no I/O: the provider reads the uploads and passes their bytes.
Gemini takes no mask and streams no images the way OpenAI's events do, so both are refused.
"""

from __future__ import annotations

import base64
import math
import time
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects import forms
from interlingua.adapters.dialects.gemini import FILTERED, decode_usage, g

# The aspect ratios Gemini's image models draw; OpenAI's `size` is mapped to the nearest.
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def _ratio(text: str) -> float:
    width, _, height = text.partition(":")
    return int(width) / int(height)


def aspect_ratio(size: str | None) -> str | None:
    """OpenAI's `size` (`1536x1024`) as the nearest aspect ratio Gemini draws (`3:2`); `auto`, or
    none, leaves it to the model."""
    width, _, height = (size or "").partition("x")
    w, h = f.natural(width), f.natural(height)
    if not (w and h):
        return None
    wanted = math.log(w / h)
    return min(ASPECT_RATIOS, key=lambda r: abs(math.log(_ratio(r)) - wanted))


def references(req: ir.ImageRequest) -> list[ir.Upload]:
    """The uploads to send as reference images, in order, for the provider to read."""
    if req.stream:
        raise ir.invalid("stream", "is not supported by Gemini image models")
    if req.edit and not req.files:
        raise ir.invalid("image", "must be uploaded (multipart/form-data) for a Gemini image model")
    if any(u.name == "mask" for u in req.files or ()):
        raise ir.invalid("mask", "is not supported by Gemini image models: say in the prompt what to change")
    return [u for u in req.files or () if forms.is_image(u.head)]  # a form's other uploads are no references


def encode_image_request(req: ir.ImageRequest, files: list[bytes]) -> dict[str, Any]:
    """The `:generateContent` body; `files` are the bytes of `references(req)`, in order."""
    parts: list[dict[str, Any]] = [
        {"inlineData": {"mimeType": forms.image_type(upload.head), "data": base64.b64encode(data).decode()}}
        for upload, data in zip(references(req), files, strict=True)]
    parts.append({"text": req.prompt})
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if req.n and req.n > 1:
        config["candidateCount"] = req.n
    ratio = aspect_ratio(req.size)
    if ratio:
        config["imageConfig"] = {"aspectRatio": ratio}
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


def decode_image_response(body: Any) -> ir.ImageResponse:
    """The images of every candidate, in order; thought images (a Gemini 3 model's drafts) are left
    out. An answer without images is an error that tells what the model said instead."""
    body = f.obj(body, "response")
    images: list[ir.Image] = []
    said: list[str] = []
    refused = (g(body, "promptFeedback") or {}).get("blockReason")
    for candidate in body.get("candidates") or ():
        if candidate.get("finishReason") in FILTERED:
            refused = candidate["finishReason"]
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue
            inline = g(part, "inlineData")
            kind = g(inline, "mimeType") if isinstance(inline, dict) else None
            if isinstance(kind, str) and kind.startswith("image/") and isinstance(inline.get("data"), str):
                images.append(ir.Image(data=inline["data"], media_type=kind))
            elif isinstance(part.get("text"), str):
                said.append(part["text"])
    if not images:
        text = "".join(said).strip()
        if refused:
            raise ir.GatewayError("invalid_request", f"the image model refused the prompt ({refused})"
                                  + (f": {text}" if text else ""), code="content_policy_violation")
        raise ir.GatewayError("upstream", "the image model answered no image" + (f": {text}" if text else ""))
    usage = decode_usage(g(body, "usageMetadata")) or ir.Usage()
    usage.images = len(images)
    return ir.ImageResponse(images, created=int(time.time()), usage=usage)
