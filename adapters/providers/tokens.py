"""A local, offline token count for upstreams that have no counting endpoint.

The text of every message, tool call, tool result, system prompt and tool definition is counted
with the tokenizer of the model's family where `quicktok` bundles it (OpenAI's o200k and cl100k,
Llama 3, Qwen), else with o200k; each message adds OpenAI's framing overhead of 4 tokens, and
each image or file a flat 1,000 (their real cost depends on pixels and pages the gateway does not
decode). The README states how far this is from exact counts.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
import quicktok

from interlingua.adapters import ir

MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3
MEDIA_TOKENS = 1000
# How base64 media is held in the dialects' JSON: data URLs (OpenAI's image_url, input_file), and
# `data` members (Anthropic's base64 sources, Gemini's inline data, OpenAI's input_audio), as
# JavaScript and Python encoders space them.
_MEDIA_MARKERS = (b";base64,", b'"data":"', b'"data": "')
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
MIN_MEDIA_BYTES = 256


@cache
def tokenizer(model: str) -> Any:
    name = model.rsplit("/", 1)[-1].lower()
    for prefix, encoding in sorted(quicktok.MODEL_TO_ENCODING.items(), key=lambda kv: -len(kv[0])):
        if name.startswith(prefix):
            return quicktok.get_encoding(encoding)
    return quicktok.get_encoding("o200k_base")


def _texts(parts: list[ir.Part], out: list[str]) -> int:
    media = 0
    for part in parts:
        if isinstance(part, (ir.Text, ir.Refusal)):
            out.append(part.text)
        elif isinstance(part, ir.Reasoning):
            out.append(part.text)
        elif isinstance(part, ir.ToolCall):
            out.extend((part.name, part.arguments))
        elif isinstance(part, ir.ToolResult):
            media += _texts(part.content, out)
        elif isinstance(part, (ir.Image, ir.File, ir.Audio)):
            media += 1
    return media


def _count(model: str, texts: list[str]) -> int:
    return int(quicktok.count_batch(tokenizer(model), texts).sum()) if texts else 0


def estimate_parts(model: str, parts: list[ir.Part]) -> int:
    """The tokens of some content alone, without message framing: what clearing it frees."""
    texts: list[str] = []
    media = _texts(parts, texts)
    return _count(model, texts) + MEDIA_TOKENS * media


def estimate_message(model: str, message: ir.Message) -> int:
    return estimate_parts(model, message.parts) + MESSAGE_OVERHEAD


def estimate_text(model: str, text: str) -> int:
    return _count(model, [text])


def inline_media(body: bytes) -> tuple[int, int]:
    """The bytes and the number of base64 media strings (of at least `MIN_MEDIA_BYTES`) in a JSON
    body, found in its bytes: decoding a 200 KB turn to look would cost 600 µs, and this costs 380
    (each `find` about 130), so callers use it only where a plain estimate fell short."""
    size = count = 0
    for marker in _MEDIA_MARKERS:
        at = body.find(marker)
        while at >= 0:
            start = at + len(marker)
            end = body.find(b'"', start)
            if end < 0:
                break
            if end - start >= MIN_MEDIA_BYTES and not body[start:end].translate(None, _BASE64):
                size += end - start
                count += 1
            at = body.find(marker, end)
    return size, count


def estimate_tokens(request: ir.ChatRequest) -> int:
    texts: list[str] = []
    media = 0
    for message in request.messages:
        media += _texts(message.parts, texts)
    for tool in request.tools or ():
        texts.append(orjson.dumps({"name": tool.name, "description": tool.description,
                                   "parameters": tool.parameters}).decode())
    counted = _count(request.model, texts)
    return counted + MESSAGE_OVERHEAD * len(request.messages) + REPLY_PRIMING + MEDIA_TOKENS * media
