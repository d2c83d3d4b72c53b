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


def estimate_tokens(request: ir.ChatRequest) -> int:
    texts: list[str] = []
    media = 0
    for message in request.messages:
        media += _texts(message.parts, texts)
    for tool in request.tools or ():
        texts.append(orjson.dumps({"name": tool.name, "description": tool.description,
                                   "parameters": tool.parameters}).decode())
    counted = int(quicktok.count_batch(tokenizer(request.model), texts).sum()) if texts else 0
    return counted + MESSAGE_OVERHEAD * len(request.messages) + REPLY_PRIMING + MEDIA_TOKENS * media
