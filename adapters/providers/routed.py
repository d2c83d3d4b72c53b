"""A model the gateway asks for itself (the research agent's chat and search, the web search it runs
for a chat turn), routed as a client's request is: its alias's targets, each in turn until one
answers, as the dispatcher falls back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from interlingua.adapters import ir
from interlingua.adapters.providers.base import Target

T = TypeVar("T")
Routes = Callable[[str], list[Target] | None]  # the catalog's `resolve`


def targets(routes: Routes, model: str, capability: str, asker: str) -> list[Target]:
    found = [t for t in routes(model) or () if capability in t.capabilities]
    if not found:
        raise ir.GatewayError("invalid_request", f"{asker}: {model!r} is no {capability} model", param="model")
    return found


async def first(targets: list[Target], call: Callable[[Target], Awaitable[T]]) -> T:
    """`call` on each target in turn until one answers; a failure no other target would mend ends it."""
    error: ir.GatewayError | None = None
    for target in targets:
        try:
            return await call(target)
        except ir.GatewayError as exc:
            error = exc
            if not exc.retryable:
                break
    raise error or ir.GatewayError("unavailable", "no upstream answered")


async def search(routes: Routes, request: ir.SearchRequest, asker: str) -> ir.SearchResults:
    """`request` of its model's search providers, the first that answers."""
    async def call(target: Target) -> ir.SearchResults:
        return await target.provider.search(request, target.model)

    return await first(targets(routes, request.model, "search", asker), call)
