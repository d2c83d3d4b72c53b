"""Dialect detection: which wire dialect the client speaks, and which operation it asks for.

Decided from method, path and headers alone, before the body is read, so every later error can
be rendered in the client's own shape. A path no codec knows passes through untouched, so the
stack can sit in front of someone else's routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlingua.adapters.dialects import CODECS
from interlingua.adapters.dialects.base import ClientDialect
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, state_of


def route_path(scope: dict[str, Any]) -> str:
    """The path below the mount point, as Starlette's Mount leaves `path` whole."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] or "/" if root and path.startswith(root) else path


class DialectMiddleware:
    def __init__(self, app: Any, codecs: Sequence[ClientDialect[Any]] = CODECS) -> None:
        self.app = app
        self.codecs = tuple(codecs)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path, method = route_path(scope), scope["method"]
            headers = dict(scope["headers"])
            for codec in self.codecs:
                route = codec.match(method, path, headers, scope.get("query_string", b""))
                if route is not None:
                    state = state_of(scope)
                    state[DIALECT] = codec
                    state[OPERATION] = route.operation
                    state[PARAMS] = route.params
                    break
        await self.app(scope, receive, send)
