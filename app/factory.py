"""Assembly: the middleware stack around the dispatcher, built from a `Config`.

`create_app` returns a plain ASGI app. It handles the lifespan protocol when it is served alone;
an app that mounts it (Starlette's `Mount` does not pass lifespan on) calls `aclose()` from its
own shutdown instead. Nothing here needs a running event loop until the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from interlingua.adapters.balancer import Policy
from interlingua.adapters.catalog import Catalog
from interlingua.adapters.documents import reader
from interlingua.adapters.fetching import Fetcher
from interlingua.adapters.local import minilm
from interlingua.adapters.mcp.http import Upstreams
from interlingua.adapters.pricing import PriceTable
from interlingua.adapters.providers import KINDS, Provider
from interlingua.adapters.providers.research import ResearchProvider
from interlingua.adapters.providers.seal import Seal, load_secret
from interlingua.adapters.state import Counters
from interlingua.adapters.state.local import LocalCounters
from interlingua.adapters.state.owned import OwnedCounters
from interlingua.adapters.storage.batches import Batches, BatchStore
from interlingua.adapters.storage.caches import Caches, CacheStore
from interlingua.adapters.storage.completions import Completions, CompletionStore
from interlingua.adapters.storage.conversations import Conversations, ConversationStore
from interlingua.adapters.storage.files import Files, FileStore
from interlingua.adapters.storage.keys import Keys, KeyStore
from interlingua.adapters.storage.ledger import Ledger
from interlingua.adapters.storage.reasoning import ReasoningStore
from interlingua.adapters.storage.responses import ResponseStore, Store
from interlingua.adapters.storage.vector_stores import VectorStores, VectorStoreStore
from interlingua.adapters.telemetry import Tracer
from interlingua.app import collector
from interlingua.app.admin import AdminMiddleware
from interlingua.app.config import OPENAI_KINDS, Config, ConfigError, ProviderConfig, from_env, load
from interlingua.app.dispatcher import Dispatcher
from interlingua.app.operator import OperatorEndpoints
from interlingua.app.usage_api import UsagePage
from interlingua.middleware.access_log import AccessLog, use_json_logs
from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.background import BackgroundMiddleware
from interlingua.middleware.batches import BatchesMiddleware, BatchRunner
from interlingua.middleware.caches import CachesMiddleware
from interlingua.middleware.completions import StoredCompletionsMiddleware
from interlingua.middleware.conversations import ConversationsMiddleware
from interlingua.middleware.cors import CorsMiddleware
from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.fetch import FetchMiddleware
from interlingua.middleware.file_search import FileSearchMiddleware
from interlingua.middleware.file_search_stores import FileSearchStoresMiddleware
from interlingua.middleware.files import FilesMiddleware
from interlingua.middleware.guard import GuardMiddleware
from interlingua.middleware.health import HealthMiddleware, Probe
from interlingua.middleware.hosted_mcp import HostedMcpMiddleware
from interlingua.middleware.hosted_web_fetch import HostedWebFetchMiddleware
from interlingua.middleware.hosted_web_search import HostedWebSearchMiddleware
from interlingua.middleware.limits import LimitsMiddleware
from interlingua.middleware.mcp import McpMiddleware
from interlingua.middleware.metering import MeteringMiddleware
from interlingua.middleware.metrics import Metrics
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.observe import ObserveMiddleware
from interlingua.middleware.prefetch import PrefetchMiddleware
from interlingua.middleware.reencode import ReencodeMiddleware
from interlingua.middleware.responses_state import ResponsesStateMiddleware
from interlingua.middleware.routing import RoutingMiddleware
from interlingua.middleware.state import OPEN, Principal
from interlingua.middleware.vector_indexer import VectorIndexer
from interlingua.middleware.vector_stores import VectorStoresMiddleware

if TYPE_CHECKING:
    from interlingua.adapters.state.reasoning import SharedReasoningStore
    from interlingua.adapters.storage.pg_ledger import PgLedger

LEDGER_FILE = "usage.sqlite3"
RESPONSES_FILE = "responses.sqlite3"
FILES_FILE = "files.sqlite3"
VECTORS_FILE = "vectors.sqlite3"
REASONING_FILE = "reasoning.sqlite3"
STATE_FILE = "state.sqlite3"
KEYS_FILE = "keys.sqlite3"
LOCAL = "local"
log = logging.getLogger("interlingua")


def make_provider(config: ProviderConfig, reasoning_store: ReasoningStore, seal: Seal | None = None) -> Provider:
    options: dict[str, Any] = {"api": config.api} if config.type in OPENAI_KINDS else {}
    if config.research is not None:
        options["research"] = config.research
    if config.deployments:
        options["deployments"] = dict(config.deployments)
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


@dataclass(slots=True, eq=False)
class _Stack:
    """What one config builds: the middleware stack and its providers, with the requests in it, so
    that a reload can retire it once the last of them is done (its stdio MCP servers with it)."""

    config: Config
    catalog: Catalog
    mcp: McpMiddleware
    app: Any
    internal: Any  # the stack below its auth, for requests the gateway makes as a key (a batch's lines)
    active: int = 0
    retired: bool = False

    async def aclose(self) -> None:
        await self.mcp.aclose()
        await self.catalog.aclose()


# Server settings that a reload cannot change in a running process.
_RESTART_ONLY = ("host", "port", "data_dir", "ledger", "secret", "responses_days")


class Gateway:
    """The whole gateway as one ASGI app; `span_exporter` (tests) takes the spans instead of OTLP;
    `single_process` says that no other process shares its data directory's limit counters
    (`interlingua serve` with one worker), so it counts them in memory; `owns_process` that it may
    tune the process's garbage collector (`collector`) once its start-up is done.

    The stores (ledger, Responses, reasoning, limit counters) and the observing layer (metrics,
    traces, logs, the operator's endpoints, health) live as long as the process; the stack, its
    keys, limits, prices and providers are rebuilt by `reload()` (SIGHUP when served with
    lifespan). A reload swaps the stack for new requests while those in flight finish on the old
    one, whose upstream connections are closed after the last of them.
    """

    def __init__(self, config: Config, span_exporter: Any = None, single_process: bool = False,
                 owns_process: bool = False) -> None:
        data_dir = config.server.data_dir
        self.owns_process = owns_process
        self._warm: list[Callable[[], Awaitable[None]]] = []  # connections to make at start-up
        self.shared_reasoning: SharedReasoningStore | None = None
        if config.state_url:
            from interlingua.adapters.state.reasoning import SharedReasoningStore  # the `redis` extra

            self.reasoning: ReasoningStore = SharedReasoningStore(config.state_url)
            self.shared_reasoning = self.reasoning
        else:
            self.reasoning = ReasoningStore(data_dir / REASONING_FILE)
        self.secret = load_secret(config.server.secret, data_dir)
        self.seal = Seal(self.secret)
        self.ledger: Ledger | PgLedger | None = None
        storage: Probe = self._storage_ready
        if config.server.ledger and config.storage_url:
            from interlingua.adapters.storage.pg_ledger import PgLedger  # the `postgres` extra

            self.ledger = PgLedger(config.storage_url)
            storage = self.ledger.ready
        elif config.server.ledger:
            self.ledger = Ledger(data_dir / LEDGER_FILE)
            self.ledger.start()
        # Stored state: in PostgreSQL with `[storage] url`, shared by replicas (and connected at
        # start-up), else in the data directory's SQLite files.
        days = config.server.responses_days
        self.responses: Store
        self.conversations: Conversations
        self.completions: Completions
        self.caches: Caches
        self.files: Files
        vector_stores: VectorStores
        batches: Batches
        self.keys: Keys
        if config.storage_url:
            from interlingua.adapters.storage import (  # the `postgres` extra
                pg_batches,
                pg_caches,
                pg_completions,
                pg_conversations,
                pg_files,
                pg_keys,
                pg_responses,
                pg_vector_stores,
            )

            url = config.storage_url
            shared = (pg_responses.PgResponseStore(url, days), pg_conversations.PgConversationStore(url),
                      pg_completions.PgCompletionStore(url, days), pg_caches.PgCacheStore(url),
                      pg_files.PgFileStore(url), pg_vector_stores.PgVectorStoreStore(url), pg_batches.PgBatchStore(url),
                      pg_keys.PgKeyStore(url))
            (self.responses, self.conversations, self.completions, self.caches, self.files, vector_stores, batches,
             self.keys) = shared
            self._warm += [store.warm for store in shared]
        else:
            self.responses = ResponseStore(data_dir / RESPONSES_FILE, days)
            self.conversations = ConversationStore(data_dir / RESPONSES_FILE)
            self.completions = CompletionStore(data_dir / RESPONSES_FILE, days)
            self.caches = CacheStore(data_dir / FILES_FILE)
            self.files = FileStore(data_dir / FILES_FILE)
            vector_stores = VectorStoreStore(data_dir / VECTORS_FILE)
            batches = BatchStore(data_dir / FILES_FILE)
            self.keys = KeyStore(data_dir / KEYS_FILE)
        self.batches = BatchRunner(batches, self.files, self._internal, self._principal_of)
        self.indexer = VectorIndexer(vector_stores, self.files, minilm.shared())
        self.counters: Counters
        if config.state_url:
            from interlingua.adapters.state.redis_counters import RedisCounters  # the `redis` extra

            self.counters = RedisCounters(config.state_url)
        else:
            # One process alone counts in memory; otherwise every process shares the file.
            state = data_dir / STATE_FILE
            self.counters = OwnedCounters(state) if single_process else LocalCounters(state)
        fetch = config.fetch  # the fetcher's pool lives as long as the process: [fetch] needs a restart
        self.fetcher = Fetcher(allow_hosts=fetch.allow_hosts, allow_networks=fetch.allow_networks,
                               max_bytes=fetch.max_bytes, timeout=fetch.timeout, max_redirects=fetch.max_redirects)
        self.mcp_servers = Upstreams()  # the remote MCP servers Responses turns name, reached under [fetch]'s rules
        self._probes = {"storage": storage, "state": self.counters.ready}
        self._stack = self._build(config)
        self._retiring: set[asyncio.Task[None]] = set()
        self.front = self._observed(config, span_exporter)

    @property
    def config(self) -> Config:
        return self._stack.config

    @property
    def catalog(self) -> Catalog:
        return self._stack.catalog

    @property
    def mcp(self) -> McpMiddleware:
        return self._stack.mcp

    def _build(self, config: Config) -> _Stack:
        reader.configure(config.documents.readers, config.documents.memory_mb)  # the process's, as the fetcher
        # The embedded provider is always there, unless the config gives its name to another.
        providers = {LOCAL: ProviderConfig(LOCAL, "local", ""), **config.providers}
        catalog = Catalog({n: make_provider(p, self.reasoning, self.seal) for n, p in providers.items()},
                          {n: a.targets for n, a in config.models.items()},
                          {n: Policy(a.strategy, a.weights) for n, a in config.models.items()})
        for provider in catalog.providers.values():
            if isinstance(provider, ResearchProvider):  # the agent routes its own models through the catalog
                provider.bind(catalog.resolve)
        keys = {k.sha256: Principal(k.name, k.models, k.rpm, k.tpm, k.budget, k.budget_period, k.mcp)
                for k in config.keys.values()}
        app: Any = Dispatcher(catalog)
        app = FileSearchMiddleware(app, self.indexer)
        app = HostedWebFetchMiddleware(app, self.fetcher, config.fetch.web_fetch)
        app = HostedWebSearchMiddleware(app, catalog.resolve, config.utilities.get("web_search"))
        app = HostedMcpMiddleware(app, self.fetcher, self.mcp_servers)
        app = ReencodeMiddleware(app, config.server.ping_seconds)
        app = FilesMiddleware(app, self.files, config.server.max_body_bytes)
        app = VectorStoresMiddleware(app, self.indexer)
        app = FileSearchStoresMiddleware(app, self.indexer, config.server.max_body_bytes)
        app = CachesMiddleware(app, self.caches)
        app = BackgroundMiddleware(app, self.responses)
        app = FetchMiddleware(app, self.fetcher)
        app = RoutingMiddleware(app, catalog, config.utilities)
        if self.shared_reasoning is not None:
            app = PrefetchMiddleware(app, self.shared_reasoning)
        app = ConversationsMiddleware(app, self.conversations)
        app = ResponsesStateMiddleware(app, self.responses)
        app = StoredCompletionsMiddleware(app, self.completions)
        app = LimitsMiddleware(app, self.counters, PriceTable(config.prices))
        app = NormalisationMiddleware(app, config.server.max_body_bytes)
        mcp = McpMiddleware(app, config.mcp, self.secret.encode(), config.server.max_body_bytes,
                            config.server.mcp_separator)
        metered = MeteringMiddleware(mcp, self.ledger)
        app = BatchesMiddleware(metered, self.batches, config.server.max_body_bytes)
        app = DialectMiddleware(AuthMiddleware(app, keys, self.keys if config.admin else None))
        if config.admin:
            app = AdminMiddleware(app, self.keys, config.admin, config.keys)
        if config.server.cors_origins:
            app = CorsMiddleware(app, config.server.cors_origins)
        return _Stack(config, catalog, mcp, GuardMiddleware(app), GuardMiddleware(DialectMiddleware(metered)))

    def reload(self) -> bool:
        """Read the config again from where it came from and serve it from the next request on.
        A config that does not validate is refused, with the reason logged, and the old one stays."""
        old = self._stack
        try:
            config = from_env() if old.config.source == "environment" else load(old.config.source)
        except ConfigError as exc:
            log.error("config reload refused, the running config stays: %s", exc)
            return False
        for name in _RESTART_ONLY:
            if getattr(config.server, name) != getattr(old.config.server, name):
                log.warning("config reload: server.%s changes only with a restart", name)
        for table in ("fetch", "telemetry"):
            if getattr(config, table) != getattr(old.config, table):
                log.warning("config reload: [%s] changes only with a restart", table)
        self._stack = self._build(config)
        if self.metrics is not None:
            self.metrics.know(*_label_values(self._stack.catalog))
        old.retired = True
        if old.active == 0:
            self._retire(old)
        log.warning("config reloaded from %s", config.source)
        return True

    def _retire(self, stack: _Stack) -> None:
        task = asyncio.get_running_loop().create_task(stack.aclose())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _storage_ready(self) -> str | None:
        return None if os.access(self.config.server.data_dir, os.W_OK) else "the data directory is not writable"

    def _observed(self, config: Config, span_exporter: Any) -> Any:
        """The observing layer around the current stack, the operator's endpoints and health around that."""
        telemetry = config.telemetry
        self.metrics: Metrics | None = None
        if telemetry.metrics:
            models, upstreams = _label_values(self.catalog)
            self.metrics = Metrics(models=models, upstreams=upstreams,
                                   multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
            if isinstance(self.ledger, Ledger):
                self.ledger.on_write = self.metrics.ledger
        self.tracer: Tracer | None = None
        if telemetry.otlp_endpoint or span_exporter is not None:
            self.tracer = Tracer(telemetry.otlp_endpoint, service_name=telemetry.service_name,
                                 capture_content=telemetry.capture_content, exporter=span_exporter)
        self.log = AccessLog() if telemetry.log_format == "json" else None
        app: Any = ObserveMiddleware(self._serve, self.metrics, self.log, self.tracer)
        self._observed_internal = ObserveMiddleware(self._serve_internal, self.metrics, self.log, self.tracer)
        page = UsagePage(config.server.data_dir / LEDGER_FILE, config.storage_url if config.server.ledger else None)
        app = OperatorEndpoints(app, self.metrics, page, metrics_key=telemetry.metrics_key,
                                admin_key=telemetry.admin_key or config.admin, open_gateway=not config.keys)
        return HealthMiddleware(app, self._probes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.front(scope, receive, send)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any, internal: bool = False) -> None:
        """The current stack answers; a retired one is closed after its last request."""
        stack = self._stack
        stack.active += 1
        try:
            await (stack.internal if internal else stack.app)(scope, receive, send)
        finally:
            stack.active -= 1
            if stack.retired and stack.active == 0:
                self._retire(stack)

    async def _internal(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A request the gateway makes itself as the key in `scope`'s state (a batch's line):
        observed as a client's is (metrics, log line, trace), then the stack below its auth."""
        await self._observed_internal(scope, receive, send)

    async def _serve_internal(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._serve(scope, receive, send, internal=True)

    async def _principal_of(self, name: str | None) -> Principal | None:
        """The key named `name` as it is now, config's or managed; None once it is gone."""
        if name is None:
            return OPEN
        for key in self.config.keys.values():
            if key.name == name:
                return Principal(key.name, key.models, key.rpm, key.tpm, key.budget, key.budget_period, key.mcp)
        managed = await self.keys.get(name)
        return None if managed is None else Principal(managed.name, managed.models, managed.rpm, managed.tpm,
                                                      managed.budget, managed.budget_period)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # no signals here
                    loop.add_signal_handler(signal.SIGHUP, self.reload)
                await asyncio.gather(*(warm() for warm in self._warm))
                self.batches.start()  # batches a stopped process left running are taken up
                self.indexer.start()  # and files a stopped process was indexing
                if self.owns_process:
                    collector.tune()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signal.SIGHUP)
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        await self.batches.aclose()  # first: a line cut by the stack closing would be kept as failed
        await self._stack.aclose()
        await self.fetcher.aclose()
        await self.mcp_servers.aclose()
        if self._retiring:
            await asyncio.gather(*self._retiring)
        await self.counters.aclose()
        await self.responses.aclose()
        await self.conversations.aclose()
        await self.completions.aclose()
        await self.batches.store.aclose()
        await self.indexer.aclose()
        await self.indexer.store.aclose()
        await self.files.aclose()
        await self.caches.aclose()
        await self.reasoning.aclose()
        await self.keys.aclose()
        if isinstance(self.ledger, Ledger):
            self.ledger.close()
        elif self.ledger is not None:
            await self.ledger.aclose()
        if self.tracer is not None:  # in a thread: the export it waits for may need this loop's receiver
            await asyncio.to_thread(self.tracer.shutdown)
        if self.metrics is not None:
            self.metrics.close()
        if self.log is not None:
            self.log.flush()


def _label_values(catalog: Catalog) -> tuple[list[str], list[str]]:
    """The model names and upstream labels that metrics may use as label values: what the config names."""
    names = [*catalog.aliases, *catalog.listed]
    labels = [label for name in names for label in catalog.labels(name)]
    return [*names, *labels], labels


CONFIG_VARIABLE = "INTERLINGUA_CONFIG"
LOG_FORMAT_VARIABLE = "INTERLINGUA_LOG_FORMAT"


def create_app(config: Config | None = None, span_exporter: Any = None, single_process: bool = False,
               owns_process: bool = False) -> Gateway:
    """The gateway for `config`; with none, from the file `INTERLINGUA_CONFIG` names, else from the
    environment as `interlingua serve` does. The no-argument form is what a server's own command
    line calls (`uvicorn --factory interlingua:create_app`, gunicorn, and `serve --workers N`); it
    also sets up the process's logging and its garbage collector, as `serve` does for one process
    (`owns_process`). Only a caller that knows its process is the data directory's one gateway
    passes `single_process`."""
    if config is None:
        path = os.environ.get(CONFIG_VARIABLE)
        config = load(path) if path else from_env()
        log_format = os.environ.get(LOG_FORMAT_VARIABLE)
        if log_format:
            config = replace(config, telemetry=replace(config.telemetry, log_format=log_format))
        if config.telemetry.log_format == "json":
            use_json_logs()
        owns_process = True
    return Gateway(config, span_exporter, single_process, owns_process)
