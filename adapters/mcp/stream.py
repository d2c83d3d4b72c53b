"""Reading an MCP answer on its way to the client, only where the gateway must.

Most answers pass untouched. Two need a look: with a tool allow-list, a `tools/list` result must
lose the tools the key may not see (any message whose result holds a `tools` array: only
`tools/list` answers so), and a `tools/call`'s JSON-RPC outcome goes to the ledger. Both work on
whole SSE events, keeping their `id:` lines (resumption) and `event:` names as they came.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from interlingua.adapters.dialects import sse
from interlingua.adapters.mcp import jsonrpc

JSON_CAP = 1 << 20  # a JSON answer larger than this is forwarded unread: no filter, outcome unknown
# A JSON answer is one message: it is held whole only to filter a tool list (which must be rewritten);
# for the ledger alone it is forwarded as it arrives and a copy read at the end.


def filter_tools(payload: bytes, allowed: Iterable[str]) -> bytes:
    """`payload` (one JSON-RPC message) without the tools outside `allowed`; as it was otherwise."""
    if b'"tools"' not in payload:
        return payload
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    result = message.get("result") if isinstance(message, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return payload
    tools: list[Any] = result["tools"]
    keep = set(allowed)
    result["tools"] = [t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"] in keep]
    return orjson.dumps(message)


class Tap:
    """Filters (`allowed` set) and/or watches (`watch`) one answer; `outcome` is the JSON-RPC error
    code of the last response seen (0 for a result), for the ledger."""

    __slots__ = ("sse", "allowed", "watch", "outcome", "_splitter", "_held", "_size")

    def __init__(self, sse_stream: bool, allowed: tuple[str, ...] | None, watch: bool) -> None:
        self.sse = sse_stream
        self.allowed = allowed
        self.watch = watch
        self.outcome: int | None = None
        self._splitter = sse.Splitter()
        self._held: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> bytes:
        if self.sse:
            return self._events(self._splitter.feed(chunk))
        if self._size > JSON_CAP:
            return chunk
        self._held.append(chunk)
        self._size += len(chunk)
        if self.allowed is None:  # only watched: forwarded as it comes, a copy kept to read at the end
            return chunk
        if self._size <= JSON_CAP:
            return b""
        held, self._held = b"".join(self._held), []
        return held  # too large to read: forwarded as it came

    def close(self) -> bytes:
        if self.sse:
            return self._events(self._splitter.flush())
        body, self._held = b"".join(self._held), []
        if self._size > JSON_CAP:
            return b""
        out = self._message(body)
        return b"" if self.allowed is None else out

    def _message(self, payload: bytes) -> bytes:
        if self.watch and (self.outcome is None or self.outcome == 0):
            code = jsonrpc.outcome(payload)
            if code is not None:
                self.outcome = code
        return filter_tools(payload, self.allowed) if self.allowed is not None else payload

    def _events(self, block: bytes) -> bytes:
        if not block:
            return b""
        out: list[bytes] = []
        for raw in block.split(b"\n\n"):
            if not raw.strip(b"\r\n"):
                continue
            out.append(self._event(raw))
        return b"".join(out)

    def _event(self, raw: bytes) -> bytes:
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        data = [line[6:] if line[5:6] == b" " else line[5:] for line in lines if line.startswith(b"data:")]
        if not data:
            return raw + b"\n\n"
        payload = b"\n".join(data)
        changed = self._message(payload)
        if changed is payload:
            return raw + b"\n\n"
        rest = [line for line in lines if not line.startswith(b"data:")]
        return b"\n".join([*rest, b"data: " + changed]) + b"\n\n"
