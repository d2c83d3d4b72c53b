"""Tool-call ids as Mistral's models take them: exactly nine letters and digits.

Mistral's API refuses any other (`Tool call id was toolu_01... but must be a-z, A-Z, 0-9, with a
length of 9`), and so do the chat templates of Mistral's open models served by vLLM or llama.cpp,
so a conversation of Claude Code, Codex or Gemini CLI fails on its second turn there. Each id of a
body written for such a model is replaced by nine base-62 digits of its SHA-256: the same for the
same id, so that a call and its result still pair and a prompt's prefix stays the same from turn
to turn; one that already is nine letters and digits (what Mistral minted) is kept. The answer's
ids are Mistral's own, which the client gets and sends back as they are.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_NINE = re.compile(r"[A-Za-z0-9]{9}")
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_FAMILY = ("mistral", "mixtral", "codestral", "devstral", "magistral", "ministral", "pixtral")


def wanted(model: str, url: str) -> bool:
    """Whether the model is one of Mistral's (by its name) or the upstream is Mistral's API."""
    name = model.lower()
    return any(family in name for family in _FAMILY) or "api.mistral.ai" in url


def nine(call_id: str) -> str:
    if _NINE.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8])
    digits = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        digits.append(_DIGITS[digit])
    return "".join(digits)


def renamed(body: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions body with every call's id, and every tool message's, as `nine` makes it."""
    for message in body.get("messages") or ():
        for call in message.get("tool_calls") or ():
            call["id"] = nine(call["id"])
        if message.get("role") == "tool" and isinstance(message.get("tool_call_id"), str):
            message["tool_call_id"] = nine(message["tool_call_id"])
    return body
