"""The keys each layer reads and writes in `scope["state"]`, and the extension messages.

Every middleware talks to the others only through these keys and messages, so each can be mounted
alone: a key that is missing means the layer that sets it is not in the stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

DIALECT = "interlingua.dialect"  # the client's codec (adapters.dialects.base.ClientDialect); set by dialect
OPERATION = "interlingua.operation"  # the adapters.operations.Operation asked for; set by dialect
PARAMS = "interlingua.params"  # path parameters such as the model id; set by dialect
PRINCIPAL = "interlingua.principal"  # the authenticated key (app-level Principal); set by auth
REQUEST = "interlingua.request"  # the IR request; set by normalisation (a fetched `url` becomes its file in fetch)
# The turn as the client sent it, where a layer running hosted tools (remote MCP) asks the layers
# below with its own request a round at a time; set by that layer.
CLIENT_REQUEST = "interlingua.client_request"
TARGETS = "interlingua.targets"  # ordered list of providers.Target; set by routing
TARGET = "interlingua.target"  # the Target that answered; set by the dispatcher
USAGE = "interlingua.usage"  # ir.Usage observed so far; set by the dispatcher
# The ir.GatewayError an answer ended with; set by the dispatcher. After the first byte the HTTP
# status is already 200, so this is how metering learns that a stream ended in an error.
FAILURE = "interlingua.failure"

# Extension messages the inner layers send outward; stream re-encoding turns them into HTTP.
RESULT = "interlingua.result"  # {"result": ir object}: a whole, non-streamed answer
EVENTS = "interlingua.events"  # {"events": [ir.StreamEvent]}: one upstream read's worth; starts the stream
END = "interlingua.end"  # {}: the stream is over
ERROR = "interlingua.error"  # {"error": ir.GatewayError}: before or after the first byte


def state_of(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    """The request's state dict, created if an outer server or app has not made one."""
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state

DISCONNECTED = "interlingua.disconnected"  # True once the client went away; set by the dispatcher
# The limits' Admission of a limited request, to ask its tpm for more (limits.admit_more); set by limits
ADMISSION = "interlingua.admission"
# A background Responses turn (BackgroundTurn); set by responses_state for the background layer
BACKGROUND = "interlingua.background"
# A stored Responses turn's own input items (a list), their ids made once: the Responses store and
# a conversation keep the same ids; set by responses_state
TURN = "interlingua.turn"
COST = "interlingua.cost"  # US dollars the answer cost, from the price table; set by limits
REQUEST_ID = "interlingua.request_id"  # the request's id (str), echoed in x-request-id; set by observe
RECORD = "interlingua.record"  # the ledger's UsageRecord for the request; set by metering
# Each upstream target tried, in order, as (label, error or None); set by the dispatcher. All but the
# last are fallbacks.
ATTEMPTS = "interlingua.attempts"
TRACE = "interlingua.trace"  # the request's adapters.telemetry.RequestTrace when tracing is on; set by observe


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling: a configured key's name and what it may use ("" and no limits when open)."""

    name: str
    models: tuple[str, ...] = ()  # glob patterns; empty means every model
    rpm: int | None = None
    tpm: int | None = None  # input plus output tokens per minute
    budget: float | None = None  # US dollars per budget_period ("day", "week" or "month")
    budget_period: str = "month"
    mcp: tuple[str, ...] = ()  # glob patterns of MCP server names; empty means every server

    def allows_server(self, server: str) -> bool:
        """Whether the key may use the MCP server `server`."""
        return not self.mcp or any(fnmatchcase(server, p) for p in self.mcp)

    @property
    def limited(self) -> bool:
        return bool(self.rpm or self.tpm or self.budget is not None)

    def allows(self, model: str, targets: Sequence[str] = ()) -> bool:
        """Whether the key may use `model`: by its own name, or because it may use every target."""
        if not self.models or self._matches(model):
            return True
        return bool(targets) and all(self._matches(t) for t in targets)

    def _matches(self, name: str) -> bool:
        return any(fnmatchcase(name, p) for p in self.models)


OPEN = Principal("")


def redecode(scope: dict[str, Any], body: Any) -> None:
    """The request decoded again from `body`, in its client's dialect, with its headers and route
    parameters: for the layers that put stored content (history, files, a cache) into a turn, or
    take a field out, before the layers inside read it."""
    state = scope["state"]
    state[REQUEST] = state[DIALECT].decode_request(state[OPERATION], body, dict(scope["headers"]),
                                                   state.get(PARAMS) or {})


def owner_of(state: Mapping[str, Any]) -> str | None:
    """Whose stored responses and conversations a request may see: its key's (by name, so a
    rotated key keeps them); None with no key (an open gateway, or no auth layer), which sees all."""
    principal: Principal | None = state.get(PRINCIPAL)
    return principal.name or None if principal is not None else None


@dataclass(slots=True)
class BackgroundTurn:
    """A background Responses turn, as the Responses store keeps it while it runs."""

    items: list[Any]  # its own input items
    previous: str | None  # the response it continues
    owner: str | None  # the key it belongs to (`owner_of`)
    # Called with its final Response once it is complete (or incomplete): the conversations layer's
    done: list[Callable[[dict[str, Any]], Awaitable[None]]] = field(default_factory=list)
