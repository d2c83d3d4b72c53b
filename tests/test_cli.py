"""The `interlingua` command: `check`, `serve` (without ever starting a server) and `usage`."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from interlingua.adapters.storage.ledger import Ledger, UsageRecord
from interlingua.app.cli import is_loopback, main
from interlingua.app.factory import LEDGER_FILE, Gateway
from tests.support import unset_env

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_SECRET = "sk-upstream-SECRET-0123456789"
GATEWAY_SECRET = "gw-team-a-SECRET-42"

GOOD = """
[server]
ledger = false

[providers.openai]
type = "openai"
key = "${IL_TEST_UPSTREAM_KEY}"
models = ["gpt-5-mini", "fast"]

[providers.ollama]
type = "openai"
url = "http://127.0.0.1:11434/v1"
models = ["llama3"]

[models.fast]
targets = ["ollama/llama3", "openai/gpt-5-mini"]

[keys.team-a]
key = "${IL_TEST_GATEWAY_KEY}"
models = ["fast", "openai/*"]
rpm = 60

[keys.ops]
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real upstream or gateway settings."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "INTERLINGUA_API_KEY", "INTERLINGUA_DATA_DIR",
                 "PROMETHEUS_MULTIPROC_DIR"):  # `serve --workers` sets the last: no later test's gateway may see it
        unset_env(monkeypatch, name)
    monkeypatch.setenv("IL_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
    monkeypatch.setenv("IL_TEST_GATEWAY_KEY", GATEWAY_SECRET)


def write(tmp_path: Path, text: str, name: str = "interlingua.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def data_dir_config(tmp_path: Path, extra: str = "") -> Path:
    """A keyless config whose ledger lives in `tmp_path/data` (a TOML literal string, no escapes)."""
    return write(tmp_path, f"[server]\nledger = false\ndata_dir = '{tmp_path / 'data'}'\n{extra}")


# --- check ---------------------------------------------------------------------------------------


def test_check_prints_resolved_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` says ok, lists providers, aliases with targets, bare listed models and keys."""
    path = write(tmp_path, GOOD)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        f"{path}: ok",
        "provider openai: openai https://api.openai.com/v1 (with key), openai/* routable",
        "provider ollama: openai http://127.0.0.1:11434/v1 (no key), ollama/* routable",
        "model fast -> ollama/llama3, openai/gpt-5-mini",
        # "fast" is also listed by openai, but the alias wins, so it is not printed twice
        "model gpt-5-mini -> openai/gpt-5-mini",
        "model llama3 -> ollama/llama3",
        "key team-a: models fast, openai/*, 60 rpm",
        "key ops: models *",
    ]


def test_check_never_prints_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    for secret in (UPSTREAM_SECRET, GATEWAY_SECRET, "SECRET"):
        assert secret not in out and secret not in err


def test_check_keyless_provider_when_variable_unset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IL_TEST_UPSTREAM_KEY")
    assert main(["check", str(write(tmp_path, GOOD))]) == 0
    assert "provider openai: openai https://api.openai.com/v1 (no key)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('[providers.openai]\ntype = "openai"\ntimeout = "fast"\n', "providers.openai.timeout"),
        ('[providers.openai]\ntype = "openai"\nmodels = ["${IL_TEST_UNSET}"]\n', "providers.openai.models"),
        ('[models.fast]\ntargets = ["nowhere/x"]\n', "models.fast.targets[0]"),
        ("[server]\nbogus = 1\n", "server.bogus"),
        ("[server\n", "line 1"),
    ],
)
def test_check_bad_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, path: str
) -> None:
    """A bad config is one line on stderr naming the key path; nothing on stdout, exit 2."""
    assert main(["check", str(write(tmp_path, text))]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("interlingua: config error: ")
    assert path in err
    assert "Traceback" not in err


def test_check_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "absent.toml")]) == 2
    assert "config error:" in (err := capsys.readouterr().err) and "no such file" in err


# --- serve ---------------------------------------------------------------------------------------


class FakeRun:
    """Stands in for `uvicorn.run`: records its call, and closes the app's ledger thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, app: Any, **kwargs: Any) -> None:
        self.calls.append((app, kwargs))
        if isinstance(app, Gateway) and app.ledger is not None:
            app.ledger.close()


def forbid_run(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("uvicorn.run must not be called")


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    run = FakeRun()
    monkeypatch.setattr(uvicorn, "run", run)
    return run


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_serve_refuses_public_host_without_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setattr(uvicorn, "run", forbid_run)
    assert main(["serve", "--config", str(data_dir_config(tmp_path)), "--host", host]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"refusing to listen on {host} with no gateway keys" in err
    assert "--open" in err


def test_serve_refuses_from_environment_without_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --config the environment config applies, and it has no keys unless INTERLINGUA_API_KEY."""
    monkeypatch.setattr(uvicorn, "run", forbid_run)
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_SECRET)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing" in err and UPSTREAM_SECRET not in err


def test_serve_refuses_public_host_from_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-loopback `server.host` in the file is refused just like `--host`."""
    monkeypatch.setattr(uvicorn, "run", forbid_run)
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\nledger = false\n')
    assert main(["serve", "--config", str(path)]) == 2
    assert "refusing to listen on 0.0.0.0" in capsys.readouterr().err


def test_no_command_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_run: FakeRun) -> None:
    """Bare `interlingua` (and so `python -m interlingua`) serves, configured from the environment."""
    monkeypatch.setenv("INTERLINGUA_DATA_DIR", str(tmp_path))
    assert main([]) == 0
    ((app, kwargs),) = fake_run.calls
    assert isinstance(app, Gateway) and (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 8080)


def test_serve_open_starts_uvicorn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_run: FakeRun
) -> None:
    path = data_dir_config(tmp_path)
    assert main(["serve", "--config", str(path), "--host", "0.0.0.0", "--port", "9123", "--open"]) == 0
    [(app, kwargs)] = fake_run.calls
    assert isinstance(app, Gateway)
    assert kwargs["host"] == "0.0.0.0" and kwargs["port"] == 9123
    assert kwargs["access_log"] is False
    assert kwargs["lifespan"] == "on"
    err = capsys.readouterr().err
    assert "open" in err and "listening on http://0.0.0.0:9123" in err


def test_serve_json_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_run: FakeRun) -> None:
    """`--log-format json`: the startup message is a JSON line too; one process keeps its metrics in memory."""
    logger = logging.getLogger("interlingua")
    kept = logger.handlers[:], logger.level, logger.propagate
    try:
        assert main(["serve", "--config", str(data_dir_config(tmp_path)), "--log-format", "json"]) == 0
    finally:
        logger.handlers[:], logger.level, logger.propagate = kept
    [(app, _)] = fake_run.calls
    assert isinstance(app, Gateway) and app.metrics is not None and app.metrics.multiprocess_dir is None
    (line,) = capsys.readouterr().err.splitlines()
    message = json.loads(line)
    assert message["level"] == "info" and message["logger"] == "interlingua"
    assert "listening on http://127.0.0.1:8080" in message["msg"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_loopback_without_keys_is_allowed(tmp_path: Path, fake_run: FakeRun, host: str) -> None:
    assert main(["serve", "--config", str(data_dir_config(tmp_path)), "--host", host]) == 0
    [(_, kwargs)] = fake_run.calls
    assert kwargs["host"] == host and kwargs["port"] == 8080 and kwargs["access_log"] is False


def test_serve_defaults_from_environment(tmp_path: Path, fake_run: FakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare `serve` listens on 127.0.0.1:8080 with the environment's providers."""
    monkeypatch.setenv("INTERLINGUA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_SECRET)
    assert main(["serve"]) == 0
    [(app, kwargs)] = fake_run.calls
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 8080)
    assert list(app.config.providers) == ["openai"]


def test_serve_workers_hand_uvicorn_the_factory(tmp_path: Path, fake_run: FakeRun,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With --workers, uvicorn gets the import string of the no-argument factory, which each worker
    calls, and the config's absolute path in INTERLINGUA_CONFIG; the sealing secret exists first."""
    monkeypatch.delenv("INTERLINGUA_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    data_dir_config(tmp_path)
    assert main(["serve", "--config", "interlingua.toml", "--workers", "3"]) == 0
    [(app, kwargs)] = fake_run.calls
    assert app == "interlingua:create_app" and kwargs["factory"] is True and kwargs["workers"] == 3
    assert os.environ["INTERLINGUA_CONFIG"] == str(tmp_path / "interlingua.toml")
    assert (tmp_path / "data" / "secret").stat().st_size > 16


def test_serve_workers_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--workers", "0"])
    assert "--workers: must be at least 1" in capsys.readouterr().err


def test_serve_uses_config_host_and_port(tmp_path: Path, fake_run: FakeRun) -> None:
    """With gateway keys a public host needs no --open; host and port come from [server]."""
    path = write(tmp_path, GOOD.replace("ledger = false", 'ledger = false\nhost = "0.0.0.0"\nport = 9555'))
    assert main(["serve", "--config", str(path)]) == 0
    [(app, kwargs)] = fake_run.calls
    assert (kwargs["host"], kwargs["port"]) == ("0.0.0.0", 9555)
    assert set(app.config.keys) == {"team-a", "ops"}


def test_serve_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn, "run", forbid_run)
    path = write(tmp_path, "[server]\nport = 0\n")
    assert main(["serve", "--config", str(path)]) == 2
    assert "config error: server.port: must be between 1 and 65535" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("::", False),
     ("10.0.0.1", False), ("localhost.example.com", False), ("", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --- usage ---------------------------------------------------------------------------------------


def usage_record(key: str, model: str, status: int = 200, input_tokens: int = 10, output_tokens: int = 5,
                 total_ms: float = 100.0) -> UsageRecord:
    return UsageRecord(
        ts=1_700_000_000.0, key=key, model=model, upstream=f"openai/{model}", dialect="openai_chat",
        operation="chat", status=status, input_tokens=input_tokens, cached_tokens=0,
        output_tokens=output_tokens, reasoning_tokens=0, ttfb_ms=50.0, total_ms=total_ms, stream=False,
        estimated=False,
    )


def test_usage_empty_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--config", str(data_dir_config(tmp_path))]) == 0
    assert capsys.readouterr().out == "no usage recorded\n"
    assert not (tmp_path / "data" / LEDGER_FILE).exists()  # reading never creates the ledger


def test_usage_prints_totals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_dir_config(tmp_path)
    ledger = Ledger(tmp_path / "data" / LEDGER_FILE)
    ledger.start()
    ledger.record(usage_record("alice", "gpt-4o", input_tokens=10, output_tokens=5, total_ms=100.0))
    ledger.record(usage_record("alice", "gpt-4o", status=502, input_tokens=20, output_tokens=7, total_ms=300.0))
    ledger.record(usage_record("", "gpt-5-mini", input_tokens=3, output_tokens=1))
    ledger.close()

    assert main(["usage", "--config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["KEY", "MODEL", "REQUESTS", "ERRORS"]
    rows = [line.split() for line in lines[1:]]
    # key, model, requests, errors, input, cached, output, reasoning, chars, audio s, images, pages, cost, avg ttfb,
    # avg total
    assert rows == [
        ["-", "gpt-5-mini", "1", "0", "3", "0", "1", "0", "0", "0.0", "0", "0", "0.0000", "50.0", "100.0"],
        ["alice", "gpt-4o", "2", "1", "30", "0", "12", "0", "0", "0.0", "0", "0", "0.0000", "50.0", "200.0"],
    ]


def test_usage_from_environment_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --config, `usage` reads the ledger in INTERLINGUA_DATA_DIR."""
    monkeypatch.setenv("INTERLINGUA_DATA_DIR", str(tmp_path))
    ledger = Ledger(tmp_path / LEDGER_FILE)
    ledger.record(usage_record("bob", "gpt-4o"))
    ledger.close()  # never started: close() drains the queue itself
    assert main(["usage"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["bob", "gpt-4o", "1"]


def test_usage_filters_groups_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_dir_config(tmp_path)
    ledger = Ledger(tmp_path / "data" / LEDGER_FILE)
    day = 86400.0
    for ts, key, model, tokens in ((day * 19_700, "alice", "gpt-4o", 10), (day * 19_700 + 3600, "bob", "gpt-4o", 20),
                                   (day * 19_701, "alice", "claude", 40), (day * 19_702, "alice", "gpt-4o", 80)):
        record = usage_record(key, model, input_tokens=tokens)
        record.ts = ts
        ledger.record(record)
    ledger.close()
    config = ["--config", str(path)]

    assert main(["usage", *config, "--by", "day", "--format", "json"]) == 0
    by_day = json.loads(capsys.readouterr().out)
    assert [(r["day"], r["requests"], r["input_tokens"]) for r in by_day] == [
        ("2023-12-09", 2, 30), ("2023-12-10", 1, 40), ("2023-12-11", 1, 80)]

    assert main(["usage", *config, "--by", "model", "--since", "2023-12-09T01:00", "--until", "2023-12-11",
                 "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(r["model"], r["requests"], r["input_tokens"]) for r in rows] == [("claude", "1", "40"),
                                                                              ("gpt-4o", "1", "20")]

    assert main(["usage", *config, "--by", "key", "--by", "day", "--since", "2023-12-10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["KEY", "DAY", "REQUESTS"]
    assert [line.split()[:4] for line in lines[1:]] == [["alice", "2023-12-10", "1", "0"],
                                                         ["alice", "2023-12-11", "1", "0"]]


def test_usage_refuses_a_bad_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["usage", "--config", str(data_dir_config(tmp_path)), "--since", "yesterday"])
    assert "'yesterday' is not a date, a date and time, or an age such as 24h" in capsys.readouterr().err


def test_usage_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--config", str(write(tmp_path, "[server]\ndata_dir = 5\n"))]) == 2
    assert "config error: server.data_dir: must be a string" in capsys.readouterr().err


# --- python -m interlingua -------------------------------------------------------------------------------


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m interlingua ARGS` from the repository root, with this test's environment."""
    return subprocess.run([sys.executable, "-m", "interlingua", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=60)


def test_python_m_app_check(tmp_path: Path) -> None:
    good = run_module("check", str(write(tmp_path, GOOD)))
    assert good.returncode == 0, good.stderr
    assert f"{tmp_path / 'interlingua.toml'}: ok" in good.stdout
    assert "model fast -> ollama/llama3, openai/gpt-5-mini" in good.stdout
    assert UPSTREAM_SECRET not in good.stdout + good.stderr

    bad = run_module("check", str(write(tmp_path, "[keys.k]\nkey = 'short'\n", "bad.toml")))
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip() == "interlingua: config error: keys.k.key: must be at least 8 characters"


def test_check_lists_mcp_servers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, """
[mcp.docs]
url = "http://127.0.0.1:9000/mcp"
headers = { Authorization = "Bearer up-secret-token" }
tools = ["search"]

[mcp.files]
command = "mcp-files"
args = ["/srv"]

[keys.k]
key = "12345678"
mcp = ["docs"]
""")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "key k: models *, mcp docs" in out
    assert "mcp docs: streamable-http http://127.0.0.1:9000/mcp, tools search, /v1/mcp/docs" in out
    assert "mcp files: stdio mcp-files /srv, /v1/mcp/files" in out
    assert "up-secret-token" not in out
