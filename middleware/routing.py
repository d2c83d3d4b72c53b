"""Routing: the requested model to an ordered list of upstream targets, within the key's rights.

An unknown model is a 404 and a model the key may not use a 403, both in the client's dialect; a
name that is not printable text (it goes on in URLs and headers) is a 400.
A key's patterns match the name the client asked for, or every target that name resolves to, so
`openai/*` also admits an alias or bare name served only by `openai`.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters.catalog import Catalog
from interlingua.adapters.ir import GatewayError, invalid
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import OPERATION, PARAMS, PRINCIPAL, REQUEST, TARGETS, state_of


class RoutingMiddleware:
    def __init__(self, app: Any, catalog: Catalog) -> None:
        self.app = app
        self.catalog = catalog

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        request = state.get(REQUEST)
        model = getattr(request, "model", None) or (state.get(PARAMS) or {}).get("model")
        if scope["type"] != "http" or not model:
            await self.app(scope, receive, send)
            return
        if not model.isprintable():
            await send_error(scope, send, invalid("model", "must be printable text"))
            return
        targets = self.catalog.route(model)
        operation = state.get(OPERATION)
        needed = operation.capability if operation is not None else None
        if targets is not None and needed is not None:
            capable = [t for t in targets if needed in t.provider.capabilities(t.model)]
            if not capable:
                error = GatewayError("invalid_request", f"model {model!r} does not support {needed}", param="model",
                                     code="model_not_capable")
                await send_error(scope, send, error)
                return
            targets = capable
        if targets is None:
            error = GatewayError("not_found", f"model {model!r} does not exist", param="model",
                                 code="model_not_found")
            await send_error(scope, send, error)
            return
        principal = state.get(PRINCIPAL)
        if principal is not None and not principal.allows(model, [t.label for t in targets]):
            error = GatewayError("permission", f"this key may not use model {model!r}", param="model",
                                 code="model_not_permitted")
            await send_error(scope, send, error)
            return
        state[TARGETS] = targets
        await self.app(scope, receive, send)
