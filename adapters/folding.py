"""An IR stream folded into the whole answer it tells, for a layer that must act on a streamed
answer once it has ended (the gateway's own tool loop) while the client reads it as it comes.

Only the first choice is kept: the streams folded here are Responses turns, which have one.
"""

from __future__ import annotations

from interlingua.adapters import ir
from interlingua.adapters.dialects import citations


class Fold:
    __slots__ = ("id", "model", "created", "parts", "reason", "usage", "logprobs", "_calls", "_reasoning")

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.parts: list[ir.Part] = []
        self.reason: ir.FinishReason | None = None
        self.usage: ir.Usage | None = None
        self.logprobs: list[ir.TokenLogprob] | None = None  # the text's, where the deltas carry them
        self._calls: dict[int, ir.ToolCall] = {}
        self._reasoning: ir.Reasoning | None = None  # the block still open

    def add(self, event: ir.StreamEvent) -> None:
        if getattr(event, "choice", 0):
            return
        if isinstance(event, ir.TextDelta):
            last = self.parts[-1] if self.parts else None
            if isinstance(last, ir.Text):
                last.text += event.text
            else:
                self.parts.append(ir.Text(event.text))
            if event.logprobs is not None:
                self.logprobs = self.logprobs if self.logprobs is not None else []
                self.logprobs.extend(event.logprobs)
        elif isinstance(event, ir.ReasoningDelta):
            self._reason_about(event)
        elif isinstance(event, ir.ToolCallDelta):
            call = self._calls.get(event.index)
            if call is None:
                call = self._calls[event.index] = ir.ToolCall(event.id or "", event.name or "", "", event.kind)
                self.parts.append(call)
            call.arguments += event.arguments
        elif isinstance(event, ir.CitationDelta):
            citations.place(self.parts, event.citations)
        elif isinstance(event, ir.RefusalDelta):
            self.parts.append(ir.Refusal(event.text))
        elif isinstance(event, ir.OpaqueBlock):
            self.parts.append(ir.Opaque(event.dialect, event.data))
        elif isinstance(event, ir.Finish):
            self.reason = event.reason
        elif isinstance(event, ir.UsageReport):
            self.usage = event.usage
        elif isinstance(event, ir.StreamStart):
            self.id, self.model, self.created = event.id, event.model, event.created
        if not isinstance(event, ir.ReasoningDelta):
            self._reasoning = None

    def _reason_about(self, event: ir.ReasoningDelta) -> None:
        """Reasoning text runs on in one block until a signature (or redacted state) closes it."""
        block = self._reasoning
        if block is None or event.redacted is not None:
            block = ir.Reasoning(provider=event.provider)
            self.parts.append(block)
        block.text += event.text
        block.provider = event.provider or block.provider
        if event.signature is not None or event.redacted is not None:
            block.signature, block.redacted = event.signature, event.redacted
            self._reasoning = None
        else:
            self._reasoning = block

    def message(self) -> ir.Message:
        return ir.Message("assistant", self.parts)

    def response(self) -> ir.ChatResponse:
        return ir.ChatResponse(self.id, self.model, self.created,
                               [ir.Choice(0, self.message(), self.reason, self.logprobs)], self.usage)
