"""The operator's configuration: one TOML file, or the environment when there is none.

Validation is strict: an unknown key or a value of the wrong type is an error that names its full
path (`providers.openai.timeout`), so a typo never silently falls back to a default. `${VAR}` and
`${VAR:-default}` are expanded in every string; an unset variable without a default is an error,
except in a `key` of a provider, where it leaves the provider keyless (a local server needs none).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from interlingua.adapters.providers import KINDS


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


@dataclass(slots=True, frozen=True)
class AliasConfig:
    name: str
    targets: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class KeyConfig:
    name: str
    sha256: bytes
    models: tuple[str, ...] = ()  # glob patterns; empty means every model
    rpm: int | None = None


@dataclass(slots=True, frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    max_body_mb: float = 32.0
    ledger: bool = True
    ping_seconds: float = 10.0
    secret: str | None = field(default=None, repr=False)  # seals reasoning state; None: <data_dir>/secret

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


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
    telemetry: TelemetryConfig = TelemetryConfig()


MIN_SECRET = 16
DEFAULT_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
                "gemini": "https://generativelanguage.googleapis.com"}

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

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        value = self._get(key, (int, float), "a number")
        if value is None:
            return default
        if not math.isfinite(value) or value <= minimum:
            raise ConfigError(f"{self.path}.{key}: must be a finite number greater than {minimum}")
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

    def table_of_strings(self, key: str) -> dict[str, str]:
        value = self._get(key, (dict,), "a table of strings")
        if value is None:
            return {}
        if not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{self.path}.{key}: must be a table of strings")
        return {k: expand(v, self.env, f"{self.path}.{key}.{k}") for k, v in value.items()}

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
    )
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
    url = r.string("url", DEFAULT_URLS.get(kind, "http://local.invalid" if kind == "local" else None))
    if not url:
        raise ConfigError(f"{path}.url: is required for type {kind!r}")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{path}.url: must start with http:// or https://")
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
    )
    r.done()
    for i, field_name in enumerate(provider.drop):
        if field_name in _NEVER_DROPPED or not _FIELD.fullmatch(field_name):
            raise ConfigError(f"{path}.drop[{i}]: {field_name!r} cannot be dropped (a top-level request field "
                              f"other than {', '.join(sorted(_NEVER_DROPPED))})")
    if provider.api not in ("chat", "responses") or (provider.api != "chat" and kind != "openai"):
        raise ConfigError(f"{path}.api: must be chat or responses, and only for type openai")
    return provider


def _alias(name: str, raw: Any, env: Mapping[str, str], providers: Mapping[str, ProviderConfig]) -> AliasConfig:
    path = f"models.{name}"
    r = _Reader(raw, path, env)
    targets = r.strings("targets")
    r.done()
    if not targets:
        raise ConfigError(f"{path}.targets: must list at least one provider/model")
    for i, target in enumerate(targets):
        provider, sep, model = target.partition("/")
        if not sep or not model:
            raise ConfigError(f"{path}.targets[{i}]: {target!r} is not provider/model")
        if provider not in providers:
            raise ConfigError(f"{path}.targets[{i}]: unknown provider {provider!r}")
    return AliasConfig(name, targets)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _key(name: str, raw: Any, env: Mapping[str, str]) -> KeyConfig:
    path = f"keys.{name}"
    r = _Reader(raw, path, env)
    digest, plain = r.string("key_sha256"), r.string("key")
    models, rpm = r.strings("models"), r.integer("rpm", None)
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
    return KeyConfig(name, sha, models, rpm)


def parse(raw: Mapping[str, Any], env: Mapping[str, str], source: str) -> Config:
    known = {"server", "providers", "models", "keys", "telemetry"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{key}: unknown key (expected one of {', '.join(sorted(known))})")
    providers = {n: _provider(n, t, env) for n, t in _tables(raw.get("providers"), "providers").items()}
    models = {n: _alias(n, t, env, providers) for n, t in _tables(raw.get("models"), "models").items()}
    keys = {n: _key(n, t, env) for n, t in _tables(raw.get("keys"), "keys").items()}
    digests = [k.sha256 for k in keys.values()]
    if len(set(digests)) != len(digests):
        raise ConfigError("keys: two keys have the same secret")
    return Config(_server(raw.get("server"), env), providers, models, keys, source,
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
    if env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY"):
        var = "GEMINI_API_KEY" if env.get("GEMINI_API_KEY") else "GOOGLE_API_KEY"
        raw["providers"]["gemini"] = {"type": "gemini", "key": "${" + var + "}"}
    if env.get("INTERLINGUA_API_KEY"):
        raw["keys"]["default"] = {"key": "${INTERLINGUA_API_KEY}"}
    if env.get("INTERLINGUA_DATA_DIR"):
        raw.setdefault("server", {})["data_dir"] = "${INTERLINGUA_DATA_DIR}"
    if env.get("INTERLINGUA_SECRET"):
        raw.setdefault("server", {})["secret"] = "${INTERLINGUA_SECRET}"
    return parse(raw, env, "environment")

