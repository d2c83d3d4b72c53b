"""Routing: the requested model to an ordered list of upstream targets, within the key's rights.

An unknown model is a 404 and a model the key may not use a 403, both in the client's dialect; a
name that is not printable text (it goes on in URLs and headers) is a 400.
A key's patterns match the name the client asked for, or every target that name resolves to, so
`openai/*` also admits an alias or bare name served only by `openai`.

An operation whose `model` is optional (`defaulted`: the document utilities) without one routes
to the default that `defaults` names for it (the config's [utilities]), keyed by the request's
`operation` where it has one (extraction into a schema is `schema`), else it is a 400 that says
how to configure one. A chat model serves an operation marked `by_chat` as well as a model that
has the operation's capability.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlingua.adapters.catalog import Catalog
from interlingua.adapters.ir import GatewayError, invalid
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import OPERATION, PARAMS, PRINCIPAL, REQUEST, TARGETS, state_of


class RoutingMiddleware:
    def __init__(self, app: Any, catalog: Catalog, defaults: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.catalog = catalog
        self.defaults = dict(defaults or {})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        request = state.get(REQUEST)
        model = getattr(request, "model", None) or (state.get(PARAMS) or {}).get("model")
        operation = state.get(OPERATION)
        if scope["type"] == "http" and not model and operation is not None and operation.defaulted:
            name = getattr(request, "operation", None) or operation.name
            model = self.defaults.get(name)
            if model is None:
                await send_error(scope, send, invalid("model", f"is required here, as no default model is configured "
                                                      f"for {name}: give `model`, or set `{name} = \"provider/model\"`"
                                                      " under [utilities] in the config"))
                return
        if scope["type"] != "http" or not model:
            await self.app(scope, receive, send)
            return
        if not model.isprintable():
            await send_error(scope, send, invalid("model", "must be printable text"))
            return
        targets = self.catalog.route(model)
        needed = operation.capability if operation is not None else None
        if targets is not None and needed is not None:
            by_chat = operation is not None and operation.by_chat
            capable = [t for t in targets if needed in t.capabilities or (by_chat and "chat" in t.capabilities)]
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
