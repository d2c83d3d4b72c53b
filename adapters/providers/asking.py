"""Asking a chat model for something on the gateway's own behalf: a summary of old turns
(compaction), a summary, a translation, a JSON object that fits a schema. One non-streamed chat
call through the provider's own chat path, in no client's dialect, so it always comes back as IR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlingua.adapters import ir
from interlingua.adapters.replies import Result

if TYPE_CHECKING:
    from interlingua.adapters.providers.base import Provider

DIALECT = "interlingua"  # no client's: the provider always translates, never passes through


async def ask(provider: Provider, model: str, instruction: str, text: str, *, max_tokens: int | None = None,
              response_format: ir.ResponseFormat | None = None) -> tuple[str, ir.Usage | None]:
    """The model's text answer to `instruction` (as the system message) about `text`, and its usage."""
    messages = [ir.Message("system", [ir.Text(instruction)]), ir.Message("user", [ir.Text(text)])]
    request = ir.ChatRequest(model=model, dialect=DIALECT, max_tokens=max_tokens, response_format=response_format,
                             messages=messages)
    reply = await provider.chat(request, model)
    if not isinstance(reply, Result):  # a request in no client's dialect, not streamed: always IR
        raise TypeError(f"a chat answer came back as {type(reply).__name__}")
    answer = "".join(p.text for c in reply.result.choices for p in c.message.parts if isinstance(p, ir.Text))
    return answer, reply.result.usage
