"""Assembly: the middleware stack around the dispatcher, built from a `Config`.

`create_app` returns a plain ASGI app. It handles the lifespan protocol when it is served alone;
an app that mounts it (Starlette's `Mount` does not pass lifespan on) calls `aclose()` from its
own shutdown instead. Nothing here needs a running event loop until the first request.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters.catalog import Catalog
from interlingua.adapters.fetching import Fetcher
from interlingua.adapters.providers import KINDS, Provider
from interlingua.adapters.providers.research import ResearchProvider
from interlingua.adapters.providers.seal import Seal, load_secret
from interlingua.adapters.storage.ledger import Ledger
from interlingua.adapters.storage.reasoning import ReasoningStore
from interlingua.adapters.storage.responses import ResponseStore
from interlingua.app.config import Config, ProviderConfig
from interlingua.app.dispatcher import Dispatcher
from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.cors import CorsMiddleware
from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.fetch import FetchMiddleware
from interlingua.middleware.guard import GuardMiddleware
from interlingua.middleware.mcp import McpMiddleware
from interlingua.middleware.metering import MeteringMiddleware
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.reencode import ReencodeMiddleware
from interlingua.middleware.responses_state import ResponsesStateMiddleware
from interlingua.middleware.routing import RoutingMiddleware
from interlingua.middleware.state import Principal

LEDGER_FILE = "usage.sqlite3"
RESPONSES_FILE = "responses.sqlite3"
REASONING_FILE = "reasoning.sqlite3"
LOCAL = "local"


def make_provider(config: ProviderConfig, reasoning_store: ReasoningStore, seal: Seal | None = None) -> Provider:
    options: dict[str, Any] = {"api": config.api} if config.type == "openai" else {}
    if config.research is not None:
        options["research"] = config.research
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
        context_windows=dict(config.context_window),
        max_texts=config.max_texts,
        max_chars=config.max_chars,
        **options,
    )


class Gateway:
    """The whole gateway as one ASGI app."""

    def __init__(self, config: Config) -> None:
        self.config = config
        data_dir = config.server.data_dir
        self.reasoning = ReasoningStore(data_dir / REASONING_FILE)
        secret = load_secret(config.server.secret, data_dir)
        seal = Seal(secret)
        # The embedded provider is always there, unless the config gives its name to another.
        providers = {LOCAL: ProviderConfig(LOCAL, "local", ""), **config.providers}
        self.catalog = Catalog({n: make_provider(p, self.reasoning, seal) for n, p in providers.items()},
                               {n: a.targets for n, a in config.models.items()})
        for provider in self.catalog.providers.values():
            if isinstance(provider, ResearchProvider):  # the agent routes its own models through the catalog
                provider.bind(self.catalog.resolve)
        self.ledger: Ledger | None = None
        if config.server.ledger:
            self.ledger = Ledger(config.server.data_dir / LEDGER_FILE)
            self.ledger.start()
        keys = {k.sha256: Principal(k.name, k.models, k.rpm, k.mcp) for k in config.keys.values()}
        fetch = config.fetch
        self.fetcher = Fetcher(allow_hosts=fetch.allow_hosts, allow_networks=fetch.allow_networks,
                               max_bytes=fetch.max_bytes, timeout=fetch.timeout, max_redirects=fetch.max_redirects)
        app: Any = Dispatcher(self.catalog)
        app = ReencodeMiddleware(app, config.server.ping_seconds)
        app = FetchMiddleware(app, self.fetcher)
        app = RoutingMiddleware(app, self.catalog, config.utilities)
        self.responses = ResponseStore(config.server.data_dir / RESPONSES_FILE)
        app = ResponsesStateMiddleware(app, self.responses)
        app = NormalisationMiddleware(app, config.server.max_body_bytes)
        self.mcp = McpMiddleware(app, config.mcp, secret.encode(), config.server.max_body_bytes,
                                 config.server.mcp_separator)
        app = MeteringMiddleware(self.mcp, self.ledger)
        app = AuthMiddleware(app, keys)
        app = DialectMiddleware(app)
        if config.server.cors_origins:
            app = CorsMiddleware(app, config.server.cors_origins)
        self.app = GuardMiddleware(app)

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
        await self.mcp.aclose()
        await self.catalog.aclose()
        await self.fetcher.aclose()
        self.responses.close()
        self.reasoning.close()
        if self.ledger is not None:
            self.ledger.close()


def create_app(config: Config) -> Gateway:
    return Gateway(config)
