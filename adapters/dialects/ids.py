"""Tool-call ids that are valid in every dialect, and their way back.

Anthropic accepts only `^[a-zA-Z0-9_-]+$`; other upstreams mint ids outside that set (`fn:0`,
`functions.get_weather:1`). A foreign id is carried as `b64_` plus its URL-safe base64, which uses
only those characters, and decoded when it comes back, so each side sees the ids it minted.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_PREFIX = "b64_"
# In what the gateway writes in Claude's words and Claude cannot take back (a web search's pair of
# blocks, a citation's index): the prefix of its sealed values (`providers/seal.py`), so that the
# one look for those in a body finds these too.
MARK = "ilgSEAL1"


def safe_id(call_id: str) -> str:
    if _SAFE.fullmatch(call_id) and not call_id.startswith(_PREFIX):
        return call_id
    return _PREFIX + base64.urlsafe_b64encode(call_id.encode()).rstrip(b"=").decode()


def original_id(call_id: str) -> str:
    if not call_id.startswith(_PREFIX):
        return call_id
    data = call_id[len(_PREFIX):]
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return call_id


def new_call_id() -> str:
    """An id for a tool call whose upstream gave none (Gemini's, often; some OpenAI-compatible servers')."""
    return "call_" + secrets.token_hex(12)
