"""The operator's config: TOML parsing, `${VAR}` expansion, strict validation, and `from_env`."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest

from interlingua.app.config import (
    AliasConfig,
    Config,
    ConfigError,
    KeyConfig,
    ProviderConfig,
    ServerConfig,
    from_env,
    hash_key,
    load,
    parse,
)

TEAM_KEY = "sk-team-a-0123456789"
OPS_SHA = hashlib.sha256(b"ops-secret-key").hexdigest()

FULL = f"""
[server]
host = "0.0.0.0"
port = 9090
data_dir = "/var/lib/interlingua"
max_body_mb = 1.5
ledger = false

[providers.openai]
type = "openai"
key = "${{OPENAI_API_KEY}}"
models = ["gpt-5-mini", "gpt-4o"]
headers = {{ OpenAI-Organization = "org-1", X-Env = "${{STAGE:-dev}}" }}
timeout = 30
connect_timeout = 2.5

[providers.ollama]
type = "openai"
url = "http://127.0.0.1:11434/v1"

[models.fast]
targets = ["ollama/llama3", "openai/gpt-5-mini", "openai/gpt-4o"]

[models.smart]
targets = ["openai/gpt-4o"]

[keys.team-a]
key = "${{TEAM_A_KEY}}"
models = ["fast", "openai/*"]
rpm = 60

[keys.ops]
key_sha256 = "{OPS_SHA.upper()}"
"""

KIND_NAMES = ("one of openai, azure-openai, anthropic, gemini, local, tika, docling, azure-document-intelligence, "
              "deepl, searxng, tavily, exa, brave, cohere, jina, voyage, tei, research, perplexity")


def cfg(text: str, env: Mapping[str, str] | None = None) -> Config:
    """Parse TOML text with an explicit environment (empty unless given)."""
    return parse(tomllib.loads(text), {} if env is None else env, "test")


def error(text: str, env: Mapping[str, str] | None = None) -> str:
    """The ConfigError message that parsing `text` raises."""
    with pytest.raises(ConfigError) as info:
        cfg(text, env)
    return str(info.value)


P = '[providers.p]\ntype = "openai"\n'  # a minimal valid provider, for tests that need one


# --- parsing -------------------------------------------------------------------------------------


def test_full_example_parses_every_section() -> None:
    """Providers, aliases, keys and server come through with the right types and values."""
    config = cfg(FULL, {"OPENAI_API_KEY": "sk-upstream", "TEAM_A_KEY": TEAM_KEY})
    assert config.source == "test"
    assert list(config.providers) == ["openai", "ollama"]
    assert config.providers["openai"] == ProviderConfig(
        name="openai",
        type="openai",
        url="https://api.openai.com/v1",  # the default for type openai
        key="sk-upstream",
        models=("gpt-5-mini", "gpt-4o"),
        headers={"OpenAI-Organization": "org-1", "X-Env": "dev"},
        timeout=30.0,
        connect_timeout=2.5,
    )
    ollama = config.providers["ollama"]
    assert (ollama.url, ollama.key, ollama.models, dict(ollama.headers)) == (
        "http://127.0.0.1:11434/v1", None, (), {})
    assert (ollama.timeout, ollama.connect_timeout) == (600.0, 10.0)
    assert isinstance(config.providers["openai"].timeout, float)

    assert config.models == {
        "fast": AliasConfig("fast", ("ollama/llama3", "openai/gpt-5-mini", "openai/gpt-4o")),
        "smart": AliasConfig("smart", ("openai/gpt-4o",)),
    }
    assert config.keys["team-a"] == KeyConfig(
        "team-a", hashlib.sha256(TEAM_KEY.encode()).digest(), ("fast", "openai/*"), 60)
    assert config.keys["ops"] == KeyConfig("ops", bytes.fromhex(OPS_SHA), (), None)

    assert config.server == ServerConfig(
        host="0.0.0.0", port=9090, data_dir=Path("/var/lib/interlingua"), max_body_mb=1.5, ledger=False)
    assert config.server.max_body_bytes == int(1.5 * 1024 * 1024)


def test_empty_config_has_defaults() -> None:
    """An empty file is valid: loopback server defaults, no providers, aliases or keys."""
    config = cfg("")
    assert config.server == ServerConfig()
    assert (config.server.host, config.server.port, config.server.data_dir) == ("127.0.0.1", 8080, Path("data"))
    assert config.server.max_body_bytes == 32 * 1024 * 1024 and config.server.ledger is True
    assert (dict(config.providers), dict(config.models), dict(config.keys)) == ({}, {}, {})


def test_hash_key_is_sha256() -> None:
    assert hash_key("abc") == hashlib.sha256(b"abc").digest()


def test_load_reads_a_file_with_explicit_env(tmp_path: Path) -> None:
    """`load` parses the file, expands from the given mapping, and records the path as source."""
    path = tmp_path / "interlingua.toml"
    path.write_text(FULL)
    config = load(path, env={"OPENAI_API_KEY": "sk-x", "TEAM_A_KEY": TEAM_KEY, "STAGE": "prod"})
    assert config.source == str(path)
    assert config.providers["openai"].key == "sk-x"
    assert config.providers["openai"].headers["X-Env"] == "prod"


def test_load_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[server]\nhost = "${IL_TEST_HOST}"\n')
    monkeypatch.setenv("IL_TEST_HOST", "10.1.2.3")
    assert load(path).server.host == "10.1.2.3"


# --- ${VAR} expansion ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [
        ("${H}", {"H": "h.example"}, "h.example"),
        ("${H:-fallback}", {}, "fallback"),
        ("${H:-fallback}", {"H": ""}, "fallback"),  # like the shell, :- also covers empty
        ("${H:-fallback}", {"H": "set"}, "set"),
        ("${H:-}", {}, ""),
        ("${H}", {"H": ""}, ""),
        ("pre-${A}-${B:-b}-post", {"A": "a"}, "pre-a-b-post"),
        ("${A}", {"A": "${B}", "B": "nested"}, "${B}"),  # a value is not expanded again
        ("$A and {A} and $${A}", {"A": "x"}, "$A and {A} and $x"),
    ],
)
def test_expansion(template: str, env: dict[str, str], expected: str) -> None:
    assert cfg(f'[server]\nhost = "{template}"\n', env).server.host == expected


def test_expansion_in_arrays_and_tables() -> None:
    """Arrays (models, targets) and header tables are expanded too."""
    config = cfg(
        P + 'models = ["${M}"]\nheaders = { X-A = "${HA:-d}" }\n[models.a]\ntargets = ["p/${M}"]\n',
        {"M": "gpt-x"},
    )
    assert config.providers["p"].models == ("gpt-x",)
    assert config.providers["p"].headers == {"X-A": "d"}
    assert config.models["a"].targets == ("p/gpt-x",)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('[server]\nhost = "${NOPE}"\n', "server.host"),
        ('[server]\ndata_dir = "/srv/${NOPE}"\n', "server.data_dir"),
        ('[providers.p]\ntype = "openai"\nurl = "${NOPE}"\n', "providers.p.url"),
        ('[providers.p]\ntype = "${NOPE}"\n', "providers.p.type"),
        (P + 'models = ["a", "${NOPE}"]\n', "providers.p.models"),
        (P + 'headers = { X-Secret = "${NOPE}" }\n', "providers.p.headers.X-Secret"),
        (P + '[models.a]\ntargets = ["p/${NOPE}"]\n', "models.a.targets"),
        ('[keys.k]\nkey = "${NOPE}"\n', "keys.k.key"),
        ('[keys.k]\nkey_sha256 = "${NOPE}"\n', "keys.k.key_sha256"),
        ('[keys.k]\nkey = "12345678"\nmodels = ["${NOPE}"]\n', "keys.k.models"),
    ],
)
def test_unset_variable_is_an_error_naming_the_path(text: str, path: str) -> None:
    """Everywhere except a provider's key, an unset variable with no default is a ConfigError."""
    assert error(text) == f"{path}: environment variable NOPE is not set"


@pytest.mark.parametrize("template", ["${NOPE}", "Bearer ${NOPE}", "${EMPTY}", "${NOPE:-}"])
def test_provider_key_with_unset_variable_is_none(template: str) -> None:
    """A provider key that expands to nothing leaves the provider keyless rather than failing."""
    config = cfg(P + f'key = "{template}"\n', {"EMPTY": ""})
    assert config.providers["p"].key is None


def test_provider_key_literal_and_default() -> None:
    assert cfg(P + 'key = "sk-literal"\n').providers["p"].key == "sk-literal"
    assert cfg(P + 'key = "${K:-sk-default}"\n').providers["p"].key == "sk-default"


# --- strict validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # unknown keys, at every level
        ("foo = 1\n", "foo: unknown key (expected one of admin, documents, fetch, keys, mcp, models, prices, "
                      "providers, server, state, storage, telemetry, utilities)"),
        ('[provider.p]\ntype = "openai"\n', "provider: unknown key"),
        ("[server]\nprot = 1\n", "server.prot: unknown key"),
        (P + "timout = 5\n", "providers.p.timout: unknown key"),
        (P + '[models.a]\ntarget = ["p/m"]\n', "models.a.target: unknown key"),
        ('[keys.k]\nkey = "12345678"\nrmp = 5\n', "keys.k.rmp: unknown key"),
        # tables that are not tables
        ("server = 1\n", "server: must be a table"),
        ('providers = "openai"\n', "providers: must be a table"),
        ("models = []\n", "models: must be a table"),
        ('[providers]\np = "openai"\n', "providers.p: must be a table"),
        ('[keys]\nk = "12345678"\n', "keys.k: must be a table"),
        # wrong types
        (P + 'timeout = "30"\n', "providers.p.timeout: must be a number"),
        (P + "timeout = true\n", "providers.p.timeout: must be a number"),
        (P + "connect_timeout = [1]\n", "providers.p.connect_timeout: must be a number"),
        (P + "timeout = 0\n", "providers.p.timeout: must be a finite number greater than 0.0"),
        (P + "timeout = -1.5\n", "providers.p.timeout: must be a finite number greater than 0.0"),
        (P + "timeout = nan\n", "providers.p.timeout: must be a finite number greater than 0.0"),
        ("[server]\nmax_body_mb = inf\n", "server.max_body_mb: must be a finite number greater than 0.0"),
        ('[server]\nport = "8080"\n', "server.port: must be an integer"),
        ("[server]\nport = true\n", "server.port: must be an integer"),
        ("[server]\nport = 8080.0\n", "server.port: must be an integer"),
        ("[server]\nport = 0\n", "server.port: must be between 1 and 65535"),
        ("[server]\nport = 65536\n", "server.port: must be between 1 and 65535"),
        ("[server]\nhost = 127\n", "server.host: must be a string"),
        ('[server]\nledger = "yes"\n', "server.ledger: must be true or false"),
        ("[server]\nledger = 1\n", "server.ledger: must be true or false"),
        ('[keys.k]\nkey = "12345678"\nrpm = true\n', "keys.k.rpm: must be an integer"),
        ('[keys.k]\nkey = "12345678"\nrpm = "60"\n', "keys.k.rpm: must be an integer"),
        ('[keys.k]\nkey = "12345678"\nrpm = 0\n', "keys.k.rpm: must be between 1 and"),
        ('[keys.k]\nkey = 12345678\n', "keys.k.key: must be a string"),
        ('[keys.k]\nkey = "12345678"\nmodels = "fast"\n', "keys.k.models: must be an array of strings"),
        (P + 'models = "gpt"\n', "providers.p.models: must be an array of strings"),
        (P + 'models = ["gpt", 4]\n', "providers.p.models: must be an array of strings"),
        (P + 'headers = "X-A: 1"\n', "providers.p.headers: must be a table of strings"),
        (P + "headers = { X-A = 1 }\n", "providers.p.headers: must be a table of strings"),
        (P + 'key = ["sk"]\n', "providers.p.key: must be a string"),
        # providers
        ('[providers.p]\nurl = "http://x"\n', f"providers.p.type: is required ({KIND_NAMES})"),
        ('[providers.p]\ntype = "nope"\n', f"providers.p.type: unknown provider type 'nope' ({KIND_NAMES})"),
        ("[providers.p]\ntype = 1\n", "providers.p.type: must be a string"),
        (P + 'url = "ftp://example.com"\n', "providers.p.url: must start with http:// or https://"),
        (P + 'url = "example.com/v1"\n', "providers.p.url: must start with http:// or https://"),
        (P + 'url = ""\n', "providers.p.url: is required for type 'openai'"),
        # aliases
        (P + '[models.a]\ntargets = ["gpt-4o"]\n', "models.a.targets[0]: 'gpt-4o' is not provider/model"),
        (P + '[models.a]\ntargets = ["p/m", "p/"]\n', "models.a.targets[1]: 'p/' is not provider/model"),
        (P + '[models.a]\ntargets = ["p/m", "q/m"]\n', "models.a.targets[1]: unknown provider 'q'"),
        ('[models.a]\ntargets = ["p/m"]\n', "models.a.targets[0]: unknown provider 'p'"),
        (P + "[models.a]\ntargets = []\n", "models.a.targets: must list at least one provider/model"),
        (P + "[models.a]\n", "models.a.targets: must list at least one provider/model"),
        (P + '[models.a]\ntargets = "p/m"\n', "models.a.targets: must be an array of strings"),
        # gateway keys
        (f'[keys.k]\nkey = "12345678"\nkey_sha256 = "{OPS_SHA}"\n', "keys.k: give exactly one of key_sha256 or key"),
        ('[keys.k]\nmodels = ["*"]\n', "keys.k: give exactly one of key_sha256 or key"),
        ('[keys.k]\nkey = "1234567"\n', "keys.k.key: must be at least 8 characters"),
        (f'[keys.k]\nkey_sha256 = "{OPS_SHA[:-1]}"\n', "keys.k.key_sha256: must be 64 hexadecimal digits"),
        (f'[keys.k]\nkey_sha256 = "{OPS_SHA}0"\n', "keys.k.key_sha256: must be 64 hexadecimal digits"),
        (f'[keys.k]\nkey_sha256 = "{"g" * 64}"\n', "keys.k.key_sha256: must be 64 hexadecimal digits"),
        ('[keys.a]\nkey = "same-secret"\n[keys.b]\nkey = "same-secret"\n', "keys: two keys have the same secret"),
        (f'[keys.a]\nkey = "ops-secret-key"\n[keys.b]\nkey_sha256 = "{OPS_SHA}"\n',
         "keys: two keys have the same secret"),
        # names
        ('[providers."my provider"]\ntype = "openai"\n', "providers.my provider: names may use letters"),
        ('[providers."a/b"]\ntype = "openai"\n', "providers.a/b: names may use letters"),
        ('[providers."p\\n"]\ntype = "openai"\n', "providers.p\n: names may use letters"),
        ('[models."-fast"]\ntargets = ["p/m"]\n', "models.-fast: names may use letters"),
        ('[keys.""]\nkey = "12345678"\n', "keys.: names may use letters"),
        ("[server]\nresponses_days = -1\n", "server.responses_days: must be a finite number at least 0.0"),
        # the document readers
        ("[documents]\nreaders = 0\n", "documents.readers: must be between 1 and 256"),
        ("[documents]\nmemory_mb = 256\n", "documents.memory_mb: must be between 512 and 1048576"),
        ('[documents]\nmemory_mb = "1G"\n', "documents.memory_mb: must be an integer"),
        ("[documents]\nmemory = 512\n", "documents.memory: unknown key"),
    ],
)
def test_validation_error_names_the_key_path(text: str, message: str) -> None:
    assert error(text).startswith(message)


def test_document_readers_default_to_the_readers_own() -> None:
    assert (cfg("").documents.readers, cfg("").documents.memory_mb) == (None, None)
    given = cfg("[documents]\nreaders = 3\nmemory_mb = 2048\n").documents
    assert (given.readers, given.memory_mb) == (3, 2048)


def test_valid_names_are_accepted() -> None:
    config = cfg('[providers."Open_AI.v2-eu"]\ntype = "openai"\n[models.9x]\ntargets = ["Open_AI.v2-eu/m"]\n')
    assert list(config.providers) == ["Open_AI.v2-eu"] and list(config.models) == ["9x"]


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- loading files -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="no such file") as info:
        load(path, {})
    assert str(info.value).startswith(str(path))


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[providers.p\ntype = 'openai'\n")
    with pytest.raises(ConfigError) as info:
        load(path, {})
    assert str(info.value).startswith(f"{path}: ")
    assert "line 1" in str(info.value)


def test_unreadable_paths_are_config_errors(tmp_path: Path) -> None:
    """A directory or a file that is not UTF-8 is reported, not raised as a raw OS/codec error."""
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path))}: "):
        load(tmp_path, {})
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b"[server]\nhost = '\xff'\n")
    with pytest.raises(ConfigError, match="^.*latin1.toml: "):
        load(binary, {})


# --- from_env ------------------------------------------------------------------------------------


def test_from_env_nothing_set() -> None:
    config = from_env({})
    assert config.source == "environment"
    assert (dict(config.providers), dict(config.models), dict(config.keys)) == ({}, {}, {})
    assert config.server == ServerConfig()


def test_from_env_openai_key_only() -> None:
    config = from_env({"OPENAI_API_KEY": "sk-env"})
    assert list(config.providers) == ["openai"]
    provider = config.providers["openai"]
    assert (provider.type, provider.url, provider.key) == ("openai", "https://api.openai.com/v1", "sk-env")
    assert dict(config.keys) == {}


def test_from_env_openai_base_url_only() -> None:
    """A base URL alone (a local server) gives a keyless provider there."""
    provider = from_env({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}).providers["openai"]
    assert (provider.url, provider.key) == ("http://127.0.0.1:11434/v1", None)


def test_from_env_openai_key_and_url() -> None:
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "https://proxy.example/v1", "UNRELATED": "x"}
    provider = from_env(env).providers["openai"]
    assert (provider.url, provider.key) == ("https://proxy.example/v1", "sk-env")


def test_from_env_empty_base_url_falls_back_to_default() -> None:
    provider = from_env({"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": ""}).providers["openai"]
    assert provider.url == "https://api.openai.com/v1"


def test_from_env_bad_base_url_is_an_error() -> None:
    with pytest.raises(ConfigError, match="providers.openai.url"):
        from_env({"OPENAI_BASE_URL": "localhost:8000"})


def test_from_env_gateway_key() -> None:
    config = from_env({"INTERLINGUA_API_KEY": "gateway-secret"})
    assert dict(config.providers) == {}
    assert list(config.keys) == ["default"]
    key = config.keys["default"]
    assert key.sha256 == hashlib.sha256(b"gateway-secret").digest()
    assert (key.models, key.rpm) == ((), None)


def test_from_env_short_gateway_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="keys.default.key: must be at least 8"):
        from_env({"INTERLINGUA_API_KEY": "short"})


def test_from_env_data_dir() -> None:
    assert from_env({"INTERLINGUA_DATA_DIR": "/tmp/il"}).server.data_dir == Path("/tmp/il")


def test_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "INTERLINGUA_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-os")
    monkeypatch.setenv("INTERLINGUA_API_KEY", "os-gateway-key")
    config = from_env()
    assert config.providers["openai"].key == "sk-from-os"
    assert config.keys["default"].sha256 == hash_key("os-gateway-key")


# --- MCP servers ---------------------------------------------------------------------------------


def test_mcp_servers_and_key_patterns() -> None:
    config = cfg("""
[mcp.docs]
url = "http://127.0.0.1:9000/mcp"
headers = { Authorization = "Bearer ${DOCS_TOKEN}" }
tools = ["search", "fetch"]
timeout = 30

[mcp.old]
url = "http://127.0.0.1:9001/sse"
transport = "sse"

[mcp.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
env = { LOG = "1" }
cwd = "/srv"
max_processes = 4
idle_timeout = 60

[keys.k]
key = "12345678"
mcp = ["docs", "f*"]
""", {"DOCS_TOKEN": "up-token"})
    docs, old, files = config.mcp["docs"], config.mcp["old"], config.mcp["files"]
    assert (docs.transport, docs.headers, docs.tools, docs.timeout) == (
        "streamable-http", {"Authorization": "Bearer up-token"}, ("search", "fetch"), 30.0)
    assert (old.transport, old.tools) == ("sse", None)
    assert (files.transport, files.command, files.args, files.env, files.cwd, files.max_processes,
            files.idle_timeout) == ("stdio", "npx", ("-y", "@modelcontextprotocol/server-filesystem", "/srv"),
                                    {"LOG": "1"}, "/srv", 4, 60.0)
    assert config.keys["k"].mcp == ("docs", "f*")
    assert "up-token" not in repr(docs)


@pytest.mark.parametrize(("text", "message"), [
    ("[mcp.x]\n", "mcp.x: give exactly one of url or command"),
    ('[mcp.x]\nurl = "http://h/mcp"\ncommand = "c"\n', "mcp.x: give exactly one of url or command"),
    ('[mcp.x]\nurl = "ftp://h/mcp"\n', "mcp.x.url: must start with http:// or https://"),
    ('[mcp.x]\nurl = "http://h/mcp"\ntransport = "stdio"\n', "mcp.x.transport: must be streamable-http or sse"),
    ('[mcp.x]\ncommand = "c"\ntransport = "sse"\n', "mcp.x.transport: must be stdio"),
    ('[mcp.x]\nurl = "http://h/mcp"\nargs = ["a"]\n', "mcp.x: args, env and cwd are for a command"),
    ('[mcp.x]\ncommand = "c"\ntools = "add"\n', "mcp.x.tools: must be an array of strings"),
    ('[mcp.x]\ncommand = "c"\nmax_processes = 0\n', "mcp.x.max_processes: must be between"),
    ('[mcp.x]\ncommand = "c"\ntool = ["a"]\n', "mcp.x.tool: unknown key"),
])
def test_mcp_validation(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        cfg(text)
