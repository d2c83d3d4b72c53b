"""Assembly: the middleware stack around the dispatcher, built from a `Config`.

`create_app` returns a plain ASGI app. It handles the lifespan protocol when it is served alone;
an app that mounts it (Starlette's `Mount` does not pass lifespan on) calls `aclose()` from its
own shutdown instead. Nothing here needs a running event loop until the first request.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from interlingua.adapters.catalog import Catalog
from interlingua.adapters.providers import KINDS, Provider
from interlingua.adapters.providers.seal import Seal, load_secret
from interlingua.adapters.storage.ledger import Ledger
from interlingua.adapters.storage.reasoning import ReasoningStore
from interlingua.adapters.storage.responses import ResponseStore
from interlingua.adapters.telemetry import Tracer
from interlingua.app.config import Config, ProviderConfig, TelemetryConfig
from interlingua.app.dispatcher import Dispatcher
from interlingua.app.operator import OperatorEndpoints
from interlingua.app.usage_api import UsagePage
from interlingua.middleware.access_log import AccessLog
from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.guard import GuardMiddleware
from interlingua.middleware.metering import MeteringMiddleware
from interlingua.middleware.metrics import Metrics
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.observe import ObserveMiddleware
from interlingua.middleware.reencode import ReencodeMiddleware
from interlingua.middleware.responses_state import ResponsesStateMiddleware
from interlingua.middleware.routing import RoutingMiddleware
from interlingua.middleware.state import Principal

LEDGER_FILE = "usage.sqlite3"
RESPONSES_FILE = "responses.sqlite3"
REASONING_FILE = "reasoning.sqlite3"
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
    """The whole gateway as one ASGI app; `span_exporter` (tests) takes the spans instead of OTLP."""

    def __init__(self, config: Config, span_exporter: Any = None) -> None:
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
        keys = {k.sha256: Principal(k.name, k.models, k.rpm) for k in config.keys.values()}
        app: Any = Dispatcher(self.catalog)
        app = ReencodeMiddleware(app, config.server.ping_seconds)
        app = RoutingMiddleware(app, self.catalog)
        self.responses = ResponseStore(config.server.data_dir / RESPONSES_FILE)
        app = ResponsesStateMiddleware(app, self.responses)
        app = NormalisationMiddleware(app, config.server.max_body_bytes)
        app = MeteringMiddleware(app, self.ledger)
        app = AuthMiddleware(app, keys)
        app = GuardMiddleware(DialectMiddleware(app))
        self.app = self._observed(app, config.telemetry, span_exporter)

    def _observed(self, app: Any, telemetry: TelemetryConfig, span_exporter: Any) -> Any:
        """The observing layer around the stack, and the operator's endpoints around that."""
        self.metrics: Metrics | None = None
        if telemetry.metrics:
            names = [*self.catalog.aliases, *self.catalog.listed]
            labels = [label for name in names for label in self.catalog.labels(name)]
            self.metrics = Metrics(models=[*names, *labels], upstreams=labels,
                multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
            if self.ledger is not None:
                self.ledger.on_write = self.metrics.ledger
        self.tracer: Tracer | None = None
        if telemetry.otlp_endpoint or span_exporter is not None:
            self.tracer = Tracer(telemetry.otlp_endpoint, service_name=telemetry.service_name,
                                 capture_content=telemetry.capture_content, exporter=span_exporter)
        self.log = AccessLog() if telemetry.log_format == "json" else None
        app = ObserveMiddleware(app, self.metrics, self.log, self.tracer)
        page = UsagePage(self.config.server.data_dir / LEDGER_FILE)
        return OperatorEndpoints(app, self.metrics, page, metrics_key=telemetry.metrics_key,
                                 admin_key=telemetry.admin_key, open_gateway=not self.config.keys)

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
        self.responses.close()
        self.reasoning.close()
        if self.ledger is not None:
            self.ledger.close()
        if self.tracer is not None:  # in a thread: the export it waits for may need this loop's receiver
            await asyncio.to_thread(self.tracer.shutdown)
        if self.metrics is not None:
            self.metrics.close()
        if self.log is not None:
            self.log.flush()


def create_app(config: Config, span_exporter: Any = None) -> Gateway:
    return Gateway(config, span_exporter)
