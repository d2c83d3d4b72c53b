"""Assembly: the middleware stack around the dispatcher, built from a `Config`.

`create_app` returns a plain ASGI app. It handles the lifespan protocol when it is served alone;
an app that mounts it (Starlette's `Mount` does not pass lifespan on) calls `aclose()` from its
own shutdown instead. Nothing here needs a running event loop until the first request.
"""

from __future__ import annotations

import os
from typing import Any

from interlingua.adapters.catalog import Catalog
from interlingua.adapters.pricing import PriceTable
from interlingua.adapters.providers import KINDS, Provider
from interlingua.adapters.providers.seal import Seal, load_secret
from interlingua.adapters.state.local import LocalCounters
from interlingua.adapters.storage.ledger import Ledger
from interlingua.adapters.storage.reasoning import ReasoningStore
from interlingua.adapters.storage.responses import ResponseStore
from interlingua.app.config import Config, ProviderConfig, from_env, load
from interlingua.app.dispatcher import Dispatcher
from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.guard import GuardMiddleware
from interlingua.middleware.health import HealthMiddleware
from interlingua.middleware.limits import LimitsMiddleware
from interlingua.middleware.metering import MeteringMiddleware
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.reencode import ReencodeMiddleware
from interlingua.middleware.responses_state import ResponsesStateMiddleware
from interlingua.middleware.routing import RoutingMiddleware
from interlingua.middleware.state import Principal

LEDGER_FILE = "usage.sqlite3"
RESPONSES_FILE = "responses.sqlite3"
REASONING_FILE = "reasoning.sqlite3"
STATE_FILE = "state.sqlite3"
LOCAL = "local"


def make_provider(config: ProviderConfig, reasoning_store: ReasoningStore, seal: Seal | None = None) -> Provider:
    options = {"api": config.api} if config.type == "openai" else {}
    return KINDS[config.type](
        config.name,
        config.url,
        key=config.key,
        models=config.models,
        headers=dict(config.headers),
        timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        reasoning_store=reasoning_store,
        drop=config.drop,
        seal=seal,
        **options,
    )


class Gateway:
    """The whole gateway as one ASGI app."""

    def __init__(self, config: Config) -> None:
        self.config = config
        data_dir = config.server.data_dir
        self.reasoning = ReasoningStore(data_dir / REASONING_FILE)
        seal = Seal(load_secret(config.server.secret, data_dir))
        # The embedded provider is always there, unless the config gives its name to another.
        providers = {LOCAL: ProviderConfig(LOCAL, "local", ""), **config.providers}
        self.catalog = Catalog({n: make_provider(p, self.reasoning, seal) for n, p in providers.items()},
                               {n: a.targets for n, a in config.models.items()})
        self.ledger: Ledger | None = None
        if config.server.ledger:
            self.ledger = Ledger(config.server.data_dir / LEDGER_FILE)
            self.ledger.start()
        keys = {k.sha256: Principal(k.name, k.models, k.rpm, k.tpm, k.budget, k.budget_period)
                for k in config.keys.values()}
        app: Any = Dispatcher(self.catalog)
        app = ReencodeMiddleware(app, config.server.ping_seconds)
        app = RoutingMiddleware(app, self.catalog)
        self.responses = ResponseStore(config.server.data_dir / RESPONSES_FILE)
        app = ResponsesStateMiddleware(app, self.responses)
        self.counters = LocalCounters(data_dir / STATE_FILE)
        app = LimitsMiddleware(app, self.counters, PriceTable(config.prices))
        app = NormalisationMiddleware(app, config.server.max_body_bytes)
        app = MeteringMiddleware(app, self.ledger)
        app = AuthMiddleware(app, keys)
        probes = {"storage": self._storage_ready, "state": self.counters.ready}
        self.app = HealthMiddleware(GuardMiddleware(DialectMiddleware(app)), probes)

    async def _storage_ready(self) -> str | None:
        return None if os.access(self.config.server.data_dir, os.W_OK) else "the data directory is not writable"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        await self.catalog.aclose()
        await self.counters.aclose()
        self.responses.close()
        self.reasoning.close()
        if self.ledger is not None:
            self.ledger.close()


CONFIG_VARIABLE = "INTERLINGUA_CONFIG"


def create_app(config: Config | None = None) -> Gateway:
    """The gateway for `config`; with none, from the file `INTERLINGUA_CONFIG` names, else from the
    environment as `interlingua serve` does. The no-argument form is what a server's own command
    line calls (`uvicorn --factory interlingua:create_app`, gunicorn, and `serve --workers N`)."""
    if config is None:
        path = os.environ.get(CONFIG_VARIABLE)
        config = load(path) if path else from_env()
    return Gateway(config)
