"""Reasoning effort and thinking budgets, the one mapping every dialect shares.

Effort to budget follows LiteLLM's default reasoning-effort budgets (low 1024, medium 2048, high
4096, xhigh 8192, max 16384), with `minimal` raised to 1024, the smallest `budget_tokens` Anthropic's
extended thinking accepts (Anthropic Messages API reference, `thinking`). Budget to effort is the
reverse rule, as the README's reasoning table gives it: 0 is none, up to 1024 low, up to 8192
medium, above that high.
"""

from __future__ import annotations

from interlingua.adapters import ir

BUDGET_OF_EFFORT = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
MIN_BUDGET = 1024


def effort_of_budget(budget: int) -> str:
    if budget <= 0:
        return "none"
    if budget <= 1024:
        return "low"
    return "medium" if budget <= 8192 else "high"


def effort(request: ir.ChatRequest) -> str | None:
    """The request's reasoning effort, from its effort or else its budget."""
    if request.reasoning_effort is not None:
        return request.reasoning_effort
    return effort_of_budget(request.reasoning_budget) if request.reasoning_budget is not None else None


def budget(request: ir.ChatRequest) -> int | None:
    """The request's thinking budget in tokens: 0 for no reasoning, None when it did not say."""
    if request.reasoning_budget is not None:
        return request.reasoning_budget
    if request.reasoning_effort is None:
        return None
    return BUDGET_OF_EFFORT.get(request.reasoning_effort, 0)
