"""Opaque reasoning state kept by the gateway for clients whose dialect cannot carry it.

A reasoning model's tool loop needs its signed thinking sent back with the tool call it led to.
An OpenAI Chat client has no field for that, so when such a client is served by a provider that
mints signatures, the provider remembers the signed reasoning under the turn's tool-call ids and
puts it back when the conversation returns with those ids. Entries are bound to the provider kind
that minted them and nothing is ever restored into a request for another kind. In-memory and
bounded (least recently used entries go first): a restarted or second worker forgets, and the
upstream then answers as it would to a client that dropped its thinking.
"""

from __future__ import annotations

from collections import OrderedDict

from interlingua.adapters import ir


class ReasoningStore:
    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[str, list[ir.Reasoning]]] = OrderedDict()

    def remember(self, provider: str, call_ids: list[str], parts: list[ir.Reasoning]) -> None:
        signed = [p for p in parts if p.signature or p.redacted]
        if not signed:
            return
        for call_id in call_ids:
            self._entries[call_id] = (provider, signed)
            self._entries.move_to_end(call_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def recall(self, provider: str, call_id: str) -> list[ir.Reasoning] | None:
        entry = self._entries.get(call_id)
        if entry is None or entry[0] != provider:
            return None
        self._entries.move_to_end(call_id)
        return entry[1]
