"""Session ids bound to the gateway key that opened them, without a table.

An upstream's `Mcp-Session-Id` goes to the client with a tag: an HMAC, under the gateway's secret,
of the key's name, the server and the upstream id. A request that presents it is checked against
its own key, so another key presenting a stolen id is refused (404, as for an unknown session)
without the gateway remembering anything: this holds across restarts, workers and replicas, and a
session the upstream forgets costs no memory here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_TAG_BYTES = 12


class SessionSeal:
    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _tag(self, owner: str, server: str, upstream_id: str) -> str:
        mac = hmac.new(self._secret, b"\0".join((b"mcp-session", owner.encode(), server.encode(),
                                                 upstream_id.encode())), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:_TAG_BYTES]).decode().rstrip("=")

    def wrap(self, owner: str, server: str, upstream_id: str) -> str:
        """The id the client sees: the upstream's, a dot, the tag (all visible ASCII, as MCP requires)."""
        return f"{upstream_id}.{self._tag(owner, server, upstream_id)}"

    def unwrap(self, owner: str, server: str, presented: str) -> str | None:
        """The upstream's id, or None if `presented` was not issued to `owner` for `server`."""
        upstream_id, dot, tag = presented.rpartition(".")
        if not dot or not hmac.compare_digest(tag.encode(), self._tag(owner, server, upstream_id).encode()):
            return None
        return upstream_id
