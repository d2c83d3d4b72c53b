"""The operator's configuration: one TOML file, or the environment when there is none.

Validation is strict: an unknown key or a value of the wrong type is an error that names its full
path (`providers.openai.timeout`), so a typo never silently falls back to a default. `${VAR}` and
`${VAR:-default}` are expanded in every string; an unset variable without a default is an error,
except in a `key` of a provider, where it leaves the provider keyless (a local server needs none).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit

from interlingua.adapters.balancer import STRATEGIES
from interlingua.adapters.mcp.servers import HTTP, SSE, STDIO, McpServer
from interlingua.adapters.pricing import Price
from interlingua.adapters.providers import KINDS
from interlingua.adapters.providers.azure_openai import V1_PATH
from interlingua.adapters.research.agent import Settings as ResearchSettings


class ConfigError(ValueError):
    """A configuration mistake, with the key path that names it."""


@dataclass(slots=True, frozen=True)
class ProviderConfig:
    name: str
    type: str
    url: str
    key: str | None = None
    models: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 600.0
    connect_timeout: float = 10.0
    api: str = "chat"  # openai only: "chat" or "responses"
    drop: tuple[str, ...] = ()  # top-level fields of the upstream's request body to leave out
    context_window: Mapping[str, int] = field(default_factory=dict)  # tokens per model, for truncation
    max_texts: int = 1000  # passages one rerank request may hold
    max_chars: int = 1_000_000  # characters in them, all told
    research: ResearchSettings | None = None  # type research only: the agent's models and bounds
    deployments: Mapping[str, str] = field(default_factory=dict)  # azure-openai only: deployment -> its model


@dataclass(slots=True, frozen=True)
class AliasConfig:
    name: str
    targets: tuple[str, ...]
    strategy: str = "ordered"  # or "weighted", "least-busy" (adapters/balancer.py)
    weights: tuple[float, ...] = ()


@dataclass(slots=True, frozen=True)
class KeyConfig:
    name: str
    sha256: bytes
    models: tuple[str, ...] = ()  # glob patterns; empty means every model
    rpm: int | None = None
    tpm: int | None = None  # input plus output tokens per minute
    budget: float | None = None  # US dollars per `budget_period`
    budget_period: str = "month"
    mcp: tuple[str, ...] = ()  # glob patterns of MCP server names; empty means every server


@dataclass(slots=True, frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    max_body_mb: float = 32.0
    ledger: bool = True
    ping_seconds: float = 10.0
    secret: str | None = field(default=None, repr=False)  # seals reasoning state; None: <data_dir>/secret
    cors_origins: tuple[str, ...] = ()  # browser origins answered with CORS ("*": any)
    mcp_separator: str = "__"  # between a server's name and its tool's or prompt's, on /v1/mcp
    responses_days: float = 30.0  # stored Responses and Chat Completions are kept so long; 0: until deleted

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


UTILITY_DEFAULTS = {"extract": "local/documents", "segment": "local/documents"}
UTILITY_KEYS = ("extract", "segment", "summarize", "translate", "schema", "web_search")


@dataclass(slots=True, frozen=True)
class FetchConfig:
    """How the gateway fetches a utility's `url`: which non-public hosts or networks it may reach
    (none by default), and its size, time and redirect bounds; and whether it runs the clients' web
    fetch tools for models whose upstream has none (`middleware/hosted_web_fetch.py`)."""

    allow_hosts: tuple[str, ...] = ()
    allow_networks: tuple[str, ...] = ()
    max_mb: float = 50.0
    timeout: float = 30.0
    max_redirects: int = 5
    web_fetch: bool = False

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)


@dataclass(slots=True, frozen=True)
class DocumentsConfig:
    """The embedded backend's reader processes (`[documents]`): how many at once, and the memory
    (address space) each may use before the document it reads is refused with a 413."""

    readers: int | None = None  # None: the cores the process may use, at most 4 (`reader.READERS`)
    memory_mb: int | None = None  # None: 1,024 (`reader.MEMORY_MB`)


@dataclass(slots=True, frozen=True)
class TelemetryConfig:
    """Metrics, traces, logs and the usage page (`[telemetry]`)."""

    metrics: bool = True  # GET /metrics and the per-request counting behind it
    metrics_key: bytes | None = field(default=None, repr=False)  # sha256 of the bearer /metrics wants
    admin_key: bytes | None = field(default=None, repr=False)  # sha256 of the key /ui wants
    otlp_endpoint: str | None = None  # OTLP/HTTP collector, e.g. http://127.0.0.1:4318; None: no traces
    service_name: str = "interlingua"
    capture_content: bool = False  # prompts and completions in spans
    log_format: str = "text"  # "json": one JSON line per request, and every message as JSON


@dataclass(slots=True, frozen=True)
class Config:
    server: ServerConfig
    providers: Mapping[str, ProviderConfig]
    models: Mapping[str, AliasConfig]
    keys: Mapping[str, KeyConfig]
    source: str = "environment"
    # The model each document utility uses when a request names none, and the search model of the
    # web search the gateway runs for a chat turn ([utilities]).
    utilities: Mapping[str, str] = field(default_factory=lambda: dict(UTILITY_DEFAULTS))
    fetch: FetchConfig = field(default_factory=FetchConfig)
    documents: DocumentsConfig = field(default_factory=DocumentsConfig)
    mcp: Mapping[str, McpServer] = field(default_factory=dict)
    prices: Mapping[str, Price] = field(default_factory=dict)  # per million tokens, over the shipped table
    admin: bytes | None = field(default=None, repr=False)  # SHA-256 of the admin API's key; None: no admin API
    state_url: str | None = field(default=None, repr=False)  # redis://...: shared limit counters
    storage_url: str | None = field(default=None, repr=False)  # postgresql://...: the ledger
    telemetry: TelemetryConfig = TelemetryConfig()


MIN_SECRET = 16
BUDGET_PERIODS = ("day", "week", "month")
DEFAULT_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
                "gemini": "https://generativelanguage.googleapis.com", "deepl": "https://api.deepl.com",
                "tika": "http://127.0.0.1:9998", "docling": "http://127.0.0.1:5001",
                "tavily": "https://api.tavily.com", "exa": "https://api.exa.ai",
                "brave": "https://api.search.brave.com", "cohere": "https://api.cohere.com",
                "jina": "https://api.jina.ai/v1", "voyage": "https://api.voyageai.com/v1",
                "perplexity": "https://api.perplexity.ai"}

OPENAI_KINDS = frozenset({"openai", "azure-openai"})  # the kinds that speak OpenAI's API, `api` and all
_NO_URL = frozenset({"local", "research"})  # kinds that run in the gateway and reach no upstream of their own
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What no chat request can do without, whatever the upstream says it rejects.
_NEVER_DROPPED = frozenset({"model", "messages", "input", "contents", "stream"})


class _Unset(ConfigError):
    """An unset variable; a ConfigError, so one in an array or table is reported, not raised raw."""


def expand(text: str, env: Mapping[str, str], path: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise _Unset(f"{path}: environment variable {name} is not set")
            return default
        return value

    return _VAR.sub(sub, text)


class _Reader:
    """Walks one TOML table, checking types and remembering which keys were read."""

    def __init__(self, table: Any, path: str, env: Mapping[str, str]) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: must be a table")
        self.table, self.path, self.env = table, path, env
        self.seen: set[str] = set()

    def _get(self, key: str, kinds: tuple[type, ...], what: str) -> Any:
        self.seen.add(key)
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise ConfigError(f"{self.path}.{key}: must be {what}")
        return value

    @overload
    def string(self, key: str, default: str) -> str: ...
    @overload
    def string(self, key: str, default: str | None = None, optional_env: bool = False) -> str | None: ...
    def string(self, key: str, default: str | None = None, optional_env: bool = False) -> str | None:
        value = self._get(key, (str,), "a string")
        if value is None:
            return default
        try:
            return expand(value, self.env, f"{self.path}.{key}")
        except _Unset as exc:
            if optional_env:
                return None
            raise ConfigError(str(exc)) from None

    def number(self, key: str, default: float, minimum: float = 0.0, zero: bool = False) -> float:
        """A finite number above `minimum`, or equal to it as well when `zero` allows that."""
        value = self._get(key, (int, float), "a number")
        if value is None:
            return default
        if not math.isfinite(value) or value < minimum or value == minimum and not zero:
            bound = "at least" if zero else "greater than"
            raise ConfigError(f"{self.path}.{key}: must be a finite number {bound} {minimum}")
        return float(value)

    @overload
    def integer(self, key: str, default: int, low: int = 1, high: int = 2**31) -> int: ...
    @overload
    def integer(self, key: str, default: int | None, low: int = 1, high: int = 2**31) -> int | None: ...
    def integer(self, key: str, default: int | None, low: int = 1, high: int = 2**31) -> int | None:
        value = self._get(key, (int,), "an integer")
        if value is None:
            return default
        if not low <= value <= high:
            raise ConfigError(f"{self.path}.{key}: must be between {low} and {high}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, (bool,), "true or false")
        return default if value is None else value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key, (list,), "an array of strings")
        if value is None:
            return ()
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.path}.{key}: must be an array of strings")
        return tuple(expand(v, self.env, f"{self.path}.{key}") for v in value)

    def numbers(self, key: str) -> tuple[float, ...]:
        value = self._get(key, (list,), "an array of numbers")
        if value is None:
            return ()
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                   for v in value):
            raise ConfigError(f"{self.path}.{key}: must be an array of positive numbers")
        return tuple(float(v) for v in value)

    def table_of_strings(self, key: str) -> dict[str, str]:
        value = self._get(key, (dict,), "a table of strings")
        if value is None:
            return {}
        if not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{self.path}.{key}: must be a table of strings")
        return {k: expand(v, self.env, f"{self.path}.{key}.{k}") for k, v in value.items()}

    def table_of_integers(self, key: str, low: int = 1, high: int = 2**31) -> dict[str, int]:
        value = self._get(key, (dict,), "a table of integers")
        if value is None:
            return {}
        for name, number in value.items():
            if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
                raise ConfigError(f"{self.path}.{key}.{name}: must be an integer between {low} and {high}")
        return dict(value)

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            raise ConfigError(f"{self.path}.{unknown[0]}: unknown key")


def _tables(raw: Any, path: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a table")
    for name in raw:
        if not _NAME.fullmatch(name):
            raise ConfigError(f"{path}.{name}: names may use letters, digits, '.', '_' and '-'")
    return raw


def _server(raw: Any, env: Mapping[str, str]) -> ServerConfig:
    r = _Reader(raw if raw is not None else {}, "server", env)
    server = ServerConfig(
        host=r.string("host", "127.0.0.1"),
        port=r.integer("port", 8080, 1, 65535),
        data_dir=Path(r.string("data_dir", "data")),
        max_body_mb=r.number("max_body_mb", 32.0),
        ledger=r.boolean("ledger", True),
        ping_seconds=r.number("ping_seconds", 10.0),
        secret=r.string("secret"),
        cors_origins=r.strings("cors_origins"),
        mcp_separator=r.string("mcp_separator", "__"),
        responses_days=r.number("responses_days", 30.0, zero=True),
    )
    if not server.mcp_separator or not server.mcp_separator.isprintable():
        raise ConfigError("server.mcp_separator: must be printable text, not empty")
    if server.secret is not None and len(server.secret) < MIN_SECRET:
        raise ConfigError(f"server.secret: must be at least {MIN_SECRET} characters")
    r.done()
    return server


LOG_FORMATS = ("text", "json")


def _telemetry(raw: Any, env: Mapping[str, str]) -> TelemetryConfig:
    r = _Reader(raw if raw is not None else {}, "telemetry", env)
    endpoint = r.string("otlp_endpoint")
    keys = {name: r.string(name) for name in ("metrics_key", "admin_key")}
    telemetry = TelemetryConfig(
        metrics=r.boolean("metrics", True),
        metrics_key=hash_key(keys["metrics_key"]) if keys["metrics_key"] else None,
        admin_key=hash_key(keys["admin_key"]) if keys["admin_key"] else None,
        otlp_endpoint=endpoint or None,
        service_name=r.string("service_name", "interlingua"),
        capture_content=r.boolean("capture_content", False),
        log_format=r.string("log_format", "text"),
    )
    r.done()
    for name, key in keys.items():
        if key is not None and len(key) < 8:
            raise ConfigError(f"telemetry.{name}: must be at least 8 characters")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError("telemetry.otlp_endpoint: must start with http:// or https://")
    if telemetry.log_format not in LOG_FORMATS:
        raise ConfigError(f"telemetry.log_format: must be one of {', '.join(LOG_FORMATS)}")
    return telemetry


def _provider(name: str, raw: Any, env: Mapping[str, str]) -> ProviderConfig:
    path = f"providers.{name}"
    r = _Reader(raw, path, env)
    kind = r.string("type")
    if kind is None:
        raise ConfigError(f"{path}.type: is required (one of {', '.join(KINDS)})")
    if kind not in KINDS:
        raise ConfigError(f"{path}.type: unknown provider type {kind!r} (one of {', '.join(KINDS)})")
    url = r.string("url", DEFAULT_URLS.get(kind, "http://local.invalid" if kind in _NO_URL else None))
    if not url:
        raise ConfigError(f"{path}.url: is required for type {kind!r}")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{path}.url: must start with http:// or https://")
    if kind == "azure-openai":
        url = _azure_url(url)
    provider = ProviderConfig(
        name=name,
        type=kind,
        url=url,
        key=r.string("key", optional_env=True) or None,
        models=r.strings("models"),
        headers=r.table_of_strings("headers"),
        timeout=r.number("timeout", 600.0),
        connect_timeout=r.number("connect_timeout", 10.0),
        api=r.string("api", "chat"),
        drop=r.strings("drop"),
        context_window=r.table_of_integers("context_window"),
        max_texts=r.integer("max_texts", 1000),
        max_chars=r.integer("max_chars", 1_000_000),
        research=_research(r, path) if kind == "research" else None,
        deployments=r.table_of_strings("deployments") if kind == "azure-openai" else {},
    )
    r.done()
    if provider.deployments:  # each deployment routes here, as a model of `models` does
        provider = replace(provider, models=(*provider.models, *(d for d in provider.deployments
                                                                 if d not in provider.models)))
    for i, field_name in enumerate(provider.drop):
        if field_name in _NEVER_DROPPED or not _FIELD.fullmatch(field_name):
            raise ConfigError(f"{path}.drop[{i}]: {field_name!r} cannot be dropped (a top-level request field "
                              f"other than {', '.join(sorted(_NEVER_DROPPED))})")
    if provider.api not in ("chat", "responses") or (provider.api != "chat" and kind not in OPENAI_KINDS):
        raise ConfigError(f"{path}.api: must be chat or responses, and only for type openai or azure-openai")
    return provider


def _azure_url(url: str) -> str:
    """An Azure OpenAI resource's endpoint as the v1 API's base URL: given bare (as the portal and
    `AZURE_OPENAI_ENDPOINT` show it), the v1 path is added; any other path is kept as written."""
    parts = urlsplit(url)
    return url.rstrip("/") + V1_PATH if parts.path in ("", "/") else url


def _research(r: _Reader, path: str) -> ResearchSettings:
    """The research agent's keys: `chat` (required), `search`, and its bounds."""
    chat = r.string("chat")
    if not chat:
        raise ConfigError(f"{path}.chat: is required for type 'research' (the chat model the agent uses)")
    return ResearchSettings(chat=chat, search=r.string("search", "search"), max_rounds=r.integer("max_rounds", 3),
                            max_pages=r.integer("max_pages", 8), max_tokens=r.integer("max_tokens", 60_000),
                            max_seconds=r.number("max_seconds", 120.0), fetch_allow=r.strings("fetch_allow"))


def _alias(name: str, raw: Any, env: Mapping[str, str], providers: Mapping[str, ProviderConfig]) -> AliasConfig:
    path = f"models.{name}"
    r = _Reader(raw, path, env)
    targets = r.strings("targets")
    strategy = r.string("strategy", "ordered")
    weights = r.numbers("weights")
    r.done()
    if strategy not in STRATEGIES:
        raise ConfigError(f"{path}.strategy: must be one of {', '.join(STRATEGIES)}")
    if (strategy == "weighted") != bool(weights) or weights and len(weights) != len(targets):
        raise ConfigError(f"{path}.weights: give one positive weight per target, with strategy \"weighted\" only")
    if not targets:
        raise ConfigError(f"{path}.targets: must list at least one provider/model")
    for i, target in enumerate(targets):
        provider, sep, model = target.partition("/")
        if not sep or not model:
            raise ConfigError(f"{path}.targets[{i}]: {target!r} is not provider/model")
        if provider not in providers and provider != "local":  # the embedded provider is always there
            raise ConfigError(f"{path}.targets[{i}]: unknown provider {provider!r}")
    return AliasConfig(name, targets, strategy, weights)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(slots=True, frozen=True)
class KeyRights:
    """What a key may do, whether from the config or the admin API."""

    models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    budget: float | None = None
    budget_period: str = "month"


KEY_RIGHTS = ("models", "rpm", "tpm", "budget", "budget_period")


def _rights(r: _Reader) -> KeyRights:
    models, rpm, tpm = r.strings("models"), r.integer("rpm", None), r.integer("tpm", None)
    budget = r.number("budget", math.inf)
    period = r.string("budget_period", "month")
    if period not in BUDGET_PERIODS:
        raise ConfigError(f"{r.path}.budget_period: must be one of {', '.join(BUDGET_PERIODS)}")
    return KeyRights(models, rpm, tpm, None if budget == math.inf else budget, period)


def key_rights(raw: Any, path: str, base: KeyRights | None = None) -> KeyRights:
    """Rights from a JSON object (the admin API's body), strictly checked like the config's; with
    `base`, only the fields given change it, and a null clears a limit."""
    r = _Reader(raw, path, {})
    given = _rights(r)
    r.done()
    if base is None:
        return given
    return KeyRights(**{name: getattr(given if name in raw else base, name) for name in KEY_RIGHTS})


def _key(name: str, raw: Any, env: Mapping[str, str]) -> KeyConfig:
    path = f"keys.{name}"
    r = _Reader(raw, path, env)
    digest, plain = r.string("key_sha256"), r.string("key")
    rights, mcp = _rights(r), r.strings("mcp")
    r.done()
    if (digest is None) == (plain is None):
        raise ConfigError(f"{path}: give exactly one of key_sha256 or key")
    if plain is not None:
        if len(plain) < 8:
            raise ConfigError(f"{path}.key: must be at least 8 characters")
        sha = hash_key(plain)
    else:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", digest or ""):
            raise ConfigError(f"{path}.key_sha256: must be 64 hexadecimal digits")
        sha = bytes.fromhex(digest)  # type: ignore[arg-type]  # digest matched 64 hex digits above
    return KeyConfig(name, sha, rights.models, rights.rpm, rights.tpm, rights.budget, rights.budget_period, mcp)


def _mcp(name: str, raw: Any, env: Mapping[str, str]) -> McpServer:
    """One `[mcp.NAME]`: a `url` (Streamable HTTP, or legacy SSE with `transport = "sse"`) or a
    `command` the gateway starts (stdio)."""
    path = f"mcp.{name}"
    r = _Reader(raw, path, env)
    url, command = r.string("url"), r.string("command")
    transport = r.string("transport")
    tools = r.strings("tools") if "tools" in r.table else None
    r.seen.add("tools")
    server = McpServer(
        name=name, transport="", url=url or "", command=command or "", args=r.strings("args"),
        env=r.table_of_strings("env"), cwd=r.string("cwd"), headers=r.table_of_strings("headers"), tools=tools,
        timeout=r.number("timeout", 600.0), max_processes=r.integer("max_processes", 16),
        idle_timeout=r.number("idle_timeout", 600.0))
    r.done()
    if (url is None) == (command is None):
        raise ConfigError(f"{path}: give exactly one of url or command")
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}.url: must start with http:// or https://")
        if transport not in (None, HTTP, SSE):
            raise ConfigError(f"{path}.transport: must be {HTTP} or {SSE} for a url")
        kind = transport or HTTP
    else:
        if transport not in (None, STDIO):
            raise ConfigError(f"{path}.transport: must be {STDIO} (or left out) for a command")
        kind = STDIO
    if kind != STDIO and (server.args or server.env or server.cwd):
        raise ConfigError(f"{path}: args, env and cwd are for a command (stdio) only")
    return replace(server, transport=kind)


def _utilities(raw: Any, env: Mapping[str, str], providers: Mapping[str, ProviderConfig],
               aliases: Mapping[str, AliasConfig]) -> dict[str, str]:
    r = _Reader(raw if raw is not None else {}, "utilities", env)
    found = {name: model for name in UTILITY_KEYS if (model := r.string(name, UTILITY_DEFAULTS.get(name)))}
    r.done()
    for name, model in found.items():
        provider, sep, _ = model.partition("/")
        if model not in aliases and not (sep and provider in {"local", *providers}) and not any(
                model in p.models for p in providers.values()):
            raise ConfigError(f"utilities.{name}: {model!r} is no configured provider/model, alias or listed model")
    return found


def _fetch(raw: Any, env: Mapping[str, str]) -> FetchConfig:
    r = _Reader(raw if raw is not None else {}, "fetch", env)
    fetch = FetchConfig(
        allow_hosts=r.strings("allow_hosts"),
        allow_networks=r.strings("allow_networks"),
        max_mb=r.number("max_mb", 50.0),
        timeout=r.number("timeout", 30.0),
        max_redirects=r.integer("max_redirects", 5, 0, 50),
        web_fetch=r.boolean("web_fetch", False),
    )
    r.done()
    for i, network in enumerate(fetch.allow_networks):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"fetch.allow_networks[{i}]: {network!r} is not a network (CIDR, such as "
                              "10.0.0.0/8)") from None
    return fetch



def _documents(raw: Any, env: Mapping[str, str]) -> DocumentsConfig:
    r = _Reader(raw if raw is not None else {}, "documents", env)
    documents = DocumentsConfig(r.integer("readers", None, 1, 256), r.integer("memory_mb", None, 512, 1 << 20))
    r.done()
    return documents


def _admin(raw: Any, env: Mapping[str, str]) -> bytes | None:
    if raw is None:
        return None
    r = _Reader(raw, "admin", env)
    digest, plain = r.string("key_sha256"), r.string("key")
    r.done()
    if (digest is None) == (plain is None):
        raise ConfigError("admin: give exactly one of key_sha256 or key")
    if plain is not None:
        if len(plain) < 16:
            raise ConfigError("admin.key: must be at least 16 characters")
        return hash_key(plain)
    if not re.fullmatch(r"[0-9a-fA-F]{64}", digest or ""):
        raise ConfigError("admin.key_sha256: must be 64 hexadecimal digits")
    return bytes.fromhex(digest or "")


def _price(model: str, raw: Any, env: Mapping[str, str]) -> Price:
    path = f"prices.{model}"
    r = _Reader(raw, path, env)
    given = {name: r.number(name, math.nan, zero=True) for name in ("input", "cached_input", "output", "cache_write")}
    r.done()
    for name in ("input", "output"):
        if math.isnan(given[name]):
            raise ConfigError(f"{path}.{name}: is required (US dollars per million tokens)")
    # Cached input costs what input costs unless the operator names a discount.
    cached = given["input"] if math.isnan(given["cached_input"]) else given["cached_input"]
    return Price(given["input"], cached, given["output"], None if math.isnan(given["cache_write"]) else
                 given["cache_write"])


def _url(raw: Any, path: str, schemes: tuple[str, ...], env: Mapping[str, str]) -> str | None:
    if raw is None:
        return None
    r = _Reader(raw, path, env)
    url = r.string("url")
    r.done()
    if url is None or not url.startswith(schemes):
        raise ConfigError(f"{path}.url: must start with {' or '.join(schemes)}")
    return url


def parse(raw: Mapping[str, Any], env: Mapping[str, str], source: str) -> Config:
    known = {"server", "providers", "models", "keys", "utilities", "fetch", "documents", "mcp", "prices", "admin",
             "state", "storage", "telemetry"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{key}: unknown key (expected one of {', '.join(sorted(known))})")
    providers = {n: _provider(n, t, env) for n, t in _tables(raw.get("providers"), "providers").items()}
    models = {n: _alias(n, t, env, providers) for n, t in _tables(raw.get("models"), "models").items()}
    keys = {n: _key(n, t, env) for n, t in _tables(raw.get("keys"), "keys").items()}
    digests = [k.sha256 for k in keys.values()]
    if len(set(digests)) != len(digests):
        raise ConfigError("keys: two keys have the same secret")
    mcp = {n: _mcp(n, t, env) for n, t in _tables(raw.get("mcp"), "mcp").items()}
    prices = {m: _price(m, t, env) for m, t in _tables(raw.get("prices"), "prices").items()}
    admin = _admin(raw.get("admin"), env)
    state = _url(raw.get("state"), "state", ("redis://", "rediss://", "unix://"), env)
    storage = _url(raw.get("storage"), "storage", ("postgresql://", "postgres://"), env)
    return Config(_server(raw.get("server"), env), providers, models, keys, source,
                  _utilities(raw.get("utilities"), env, providers, models), _fetch(raw.get("fetch"), env),
                  _documents(raw.get("documents"), env), mcp, prices, admin, state, storage,
                  _telemetry(raw.get("telemetry"), env))


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    return parse(raw, os.environ if env is None else env, str(path))


def from_env(env: Mapping[str, str] | None = None) -> Config:
    """The configuration a bare `interlingua serve` gets: a provider per upstream key found."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {"providers": {}, "keys": {}}
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        raw["providers"]["openai"] = {"type": "openai", "url": "${OPENAI_BASE_URL:-https://api.openai.com/v1}",
                                      "key": "${OPENAI_API_KEY}"}
    if env.get("ANTHROPIC_API_KEY"):
        raw["providers"]["anthropic"] = {"type": "anthropic", "key": "${ANTHROPIC_API_KEY}",
                                         "url": "${ANTHROPIC_BASE_URL:-https://api.anthropic.com}"}
    if env.get("AZURE_OPENAI_ENDPOINT") and env.get("AZURE_OPENAI_API_KEY"):
        raw["providers"]["azure"] = {"type": "azure-openai", "url": "${AZURE_OPENAI_ENDPOINT}",
                                     "key": "${AZURE_OPENAI_API_KEY}"}
    if env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY"):
        var = "GEMINI_API_KEY" if env.get("GEMINI_API_KEY") else "GOOGLE_API_KEY"
        raw["providers"]["gemini"] = {"type": "gemini", "key": "${" + var + "}"}
    if env.get("INTERLINGUA_API_KEY"):
        raw["keys"]["default"] = {"key": "${INTERLINGUA_API_KEY}"}
    if env.get("INTERLINGUA_ADMIN_KEY"):
        raw["admin"] = {"key": "${INTERLINGUA_ADMIN_KEY}"}
    if env.get("INTERLINGUA_DATA_DIR"):
        raw.setdefault("server", {})["data_dir"] = "${INTERLINGUA_DATA_DIR}"
    if env.get("INTERLINGUA_SECRET"):
        raw.setdefault("server", {})["secret"] = "${INTERLINGUA_SECRET}"
    return parse(raw, env, "environment")

