"""Background mode of the OpenAI Responses API (`background: true`), run by the gateway for an
upstream of any dialect.

The client is answered at once with its Response `queued`; then, within the same ASGI call, the
upstream is asked as for any turn, with `background` left out (no upstream runs it on its own), so
the limits, the ledger and the metrics count the whole run as they count any request, and no
disconnect of the client reaches the layers inside. The Response is kept in the Responses store as
it moves: `in_progress` while the upstream is asked, then as the upstream's answer made it (under
the gateway's id) or `failed` with the error; `GET /v1/responses/{id}` reads it there from any
worker or replica. A cancel (`responses_state`) marks it `cancelled` in the store: the run reads
its status every `POLL_S` seconds and, cancelled or deleted, stops asking the upstream.

Streamed (`stream: true`), the client gets the stream as any stream while it stays; if it leaves,
the run goes on and the Response is kept all the same, under the stream's own id from its
`response.created` on. Resuming a stream (`GET ...?stream=true`) is not offered: a client polls.

Sits inside routing and fetching, so an unknown model or a refused key is answered at once, as
without `background`. Reads `state[BACKGROUND]`, which `responses_state` sets for such a turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import sse
from interlingua.adapters.dialects.openai_responses_request import new_id
from interlingua.adapters.dialects.openai_responses_response import response_object
from interlingua.adapters.dialects.openai_responses_stream import snapshots
from interlingua.adapters.storage.responses import Store
from interlingua.middleware.respond import send_json
from interlingua.middleware.state import BACKGROUND, REQUEST, BackgroundTurn, redecode, state_of

log = logging.getLogger("interlingua.background")

POLL_S = 0.5
# The events whose `response` is a snapshot worth keeping: the first, and the terminal ones.
_CREATED = b'"response.created"'
_SNAPSHOTS = (_CREATED, b'"response.completed"', b'"response.incomplete"', b'"response.failed"')
_ANSWERED = ("completed", "incomplete")
_OURS = ("id", "created_at", "previous_response_id", "conversation")  # the gateway's, not the upstream's
_CUT = {"message": "the stream ended before the response did"}
_STOPPED = {"code": "server_error", "message": "the gateway stopped before the response was complete"}


async def _idle() -> dict[str, Any]:
    """The inner layers' `receive`: the run outlives the client's connection, so it never ends."""
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable")


def _failed(response: dict[str, Any], error: Any) -> dict[str, Any]:
    error = error if isinstance(error, dict) else {}
    return {**response, "status": "failed", "output": response.get("output") or [],
            "error": {"code": error.get("code") or "server_error",
                      "message": error.get("message") or "the upstream's answer was not a Response"}}


class BackgroundMiddleware:
    def __init__(self, app: Any, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        turn = state.get(BACKGROUND) if scope["type"] == "http" else None
        if turn is None:
            await self.app(scope, receive, send)
            return
        request: ir.ChatRequest = state[REQUEST]
        native = {name: value for name, value in (request.native or {}).items() if name != "background"}
        redecode(scope, native)
        run = _Run(self.store, turn)
        if request.stream:
            await self._streamed(scope, send, run)
            return
        run.keep(response_object(new_id("resp"), request.model, time.time(), "queued", [], None, request)
                 | {"background": True})
        await send_json(send, run.response)
        run.keep(run.response | {"status": "in_progress"})
        answer = _Answer()
        if await self._run(scope, answer.send, run):
            await run.finish(answer.ended(run.response))

    async def _streamed(self, scope: dict[str, Any], send: Any, run: _Run) -> None:
        relay = _Relay(send, run)
        ended = await self._run(scope, relay.send, run)
        await relay.close()
        if ended and run.response:
            await run.finish(relay.final or _failed(run.response, _CUT))

    async def _run(self, scope: dict[str, Any], send: Callable[[dict[str, Any]], Any], run: _Run) -> bool:
        """Ask the upstream through the inner layers; False when a cancel or a delete stopped it."""
        work = asyncio.ensure_future(self.app(scope, _idle, send))
        try:
            while not (await asyncio.wait((work,), timeout=POLL_S))[0]:
                if run.response and await run.stopped():
                    work.cancel()
                    await asyncio.wait((work,))
                    return False
        except asyncio.CancelledError:  # the server is stopping
            if run.response:
                run.keep(_failed(run.response, _STOPPED))
            raise
        finally:
            work.cancel()
        if work.exception() is not None:
            log.error("background response %s failed", run.response.get("id"), exc_info=work.exception())
            if run.response:
                run.keep(_failed(run.response, None))
            return False
        return not (run.response and await run.stopped())  # a cancel since the last look stands


class _Run:
    """One background response, as the store keeps it."""

    __slots__ = ("store", "turn", "response")

    def __init__(self, store: Store, turn: BackgroundTurn) -> None:
        self.store = store
        self.turn = turn
        self.response: dict[str, Any] = {}

    def keep(self, response: dict[str, Any]) -> None:
        self.response = response
        self.store.put(self.turn.owner, response, self.turn.items, self.turn.previous)

    async def finish(self, response: dict[str, Any]) -> None:
        """Keep the run's last Response and, when it has an answer, tell whoever waits for it."""
        self.keep(response)
        if response.get("status") in _ANSWERED:
            for done in self.turn.done:
                await done(response)

    async def stopped(self) -> bool:
        try:
            now = await self.store.get(self.turn.owner, self.response["id"])
        except ir.GatewayError:  # the store is away: the run goes on
            return False
        return now is None or now.get("status") == "cancelled"


class _Answer:
    """A whole answer, kept rather than sent."""

    __slots__ = ("status", "chunks")

    def __init__(self) -> None:
        self.status = 0
        self.chunks: list[bytes] = []

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    def ended(self, response: dict[str, Any]) -> dict[str, Any]:
        """The upstream's Response under the gateway's id, or `response` failed with the error."""
        try:
            answer = orjson.loads(b"".join(self.chunks))
        except orjson.JSONDecodeError:
            answer = None
        if (self.status == 200 and isinstance(answer, dict) and answer.get("object") == "response"
                and isinstance(answer.get("output"), list)):
            return answer | {name: response[name] for name in _OURS if name in response} | {
                "background": True, "store": True}
        return _failed(response, answer.get("error") if isinstance(answer, dict) else None)


class _Relay:
    """A streamed answer on its way to the client while it stays, its snapshots kept."""

    __slots__ = ("send_client", "run", "splitter", "started", "closed", "final")

    def __init__(self, send_client: Any, run: _Run) -> None:
        self.send_client = send_client
        self.run = run
        self.splitter = sse.Splitter()
        self.started = self.closed = False
        self.final: dict[str, Any] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = message["status"] == 200
        elif message["type"] == "http.response.body":
            self.closed = not message.get("more_body", False)
            if self.started:
                self._scan(self.splitter.feed(message.get("body", b"")))
        await self._forward(message)

    async def close(self) -> None:
        """End the client's stream where a cancel cut it."""
        if self.started and not self.closed:
            self.closed = True
            await self._forward({"type": "http.response.body", "body": b"", "more_body": False})

    async def _forward(self, message: dict[str, Any]) -> None:
        if self.send_client is None:
            return
        try:
            await self.send_client(message)
        except OSError:  # the client left; the run goes on without it
            self.send_client = None

    def _scan(self, block: bytes) -> None:
        try:
            for kind, response in snapshots(block, _SNAPSHOTS):
                if not isinstance(response.get("id"), str):
                    continue
                response |= {"background": True, "store": True, "previous_response_id": self.run.turn.previous}
                if kind == _CREATED:
                    self.run.keep(response | {"status": "in_progress"})
                else:
                    self.final = response
        except ir.GatewayError:  # an event that is not JSON: the client has it as it came
            return
