"""Verbosity for upstreams without the knob: emulated by a line of system instruction.

OpenAI's `verbosity` (Chat) and `text.verbosity` (Responses) ask for shorter or longer answers.
Anthropic and Gemini have no such parameter, and dropping it would hand a client that asked for
`low` the model's full-length default, so their encoders add this instruction to the system
prompt instead. `medium` is every model's default and adds nothing.
"""

from __future__ import annotations

from interlingua.adapters import ir

_INSTRUCTIONS = {
    "low": "Be concise: answer as briefly as the request allows, without preamble or recap.",
    "high": "Be thorough: answer in full detail, explaining your reasoning and covering edge cases.",
}


def instruction(request: ir.ChatRequest) -> str | None:
    """The system line standing in for the request's verbosity, if it asks for anything but the default."""
    return _INSTRUCTIONS.get(request.verbosity or "medium")
