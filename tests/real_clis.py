"""Claude Code, Codex CLI and Gemini CLI, installed from npm at pinned versions and run headless
through the gateway against a scripted fake upstream (tests/test_real_clis.py).

Why: the recorded requests in tests/fixtures/clients show what a CLI sends, never whether it can
read what the gateway answers. Only the CLI itself can tell that a translated tool call is one it
runs, that the result it sends back reaches the upstream paired with the call, and that the last
answer is printed. Versions are pinned so that a CLI release changes nothing until a pin moves.

The CLIs are installed by the tests, once, into a cache shared by every clone on the machine
(`cache_dir()`); a later run finds the `.installed` stamp and runs no npm at all. Each run gets a
fresh home, config and working directory, and an environment that reaches nothing but loopback:
the proxies point at a closed local port, telemetry and update checks are off, and no variable
of the calling environment (real API keys included) is passed on but PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.fakes import openai_upstream as fo
from tests.fakes import responses_upstream as fr
from tests.fakes.openai_upstream import refused_port
from tests.harness import anthropic_provider, gateway, gemini_provider, provider

Json = dict[str, Any]
Dialect = Literal["chat", "responses", "anthropic", "gemini"]
DIALECTS: tuple[Dialect, ...] = ("chat", "responses", "anthropic", "gemini")

#: Seconds one CLI run may take before it is killed: a hung CLI fails its case, not the stage.
RUN_TIMEOUT = 90.0
#: CLI runs at a time: a run is CPU (Node, or a 400 MB binary, starting) then waiting on the gateway,
#: so a few at once keep 2 cores busy without starving the in-process gateways.
CONCURRENCY = 4
#: What the file the task asks for must hold, and what the fake's last answer says.
CONTENT = "written through the gateway\n"
FILENAME = "hello.txt"
DONE = "DONE"
PROMPT = f"Create the file {FILENAME} containing one line: {CONTENT.strip()}"
#: The gateway key the CLIs present; the gateway has none configured, so any key is accepted.
KEY = "sk-interlingua-test"


@dataclass(frozen=True, slots=True)
class Cli:
    """One CLI as npm publishes it, and the model name it asks the gateway for."""

    name: str
    package: str
    version: str
    command: str  # its executable in node_modules/.bin
    scripts: bool  # whether npm runs install scripts (see CLIS)
    model: str
    tool_models: tuple[str, ...] = ()  # the models its own tools ask (Gemini CLI's web search and fetch)


#: Claude Code's postinstall only copies its native binary, from the platform package npm
#: installs as an optional dependency, over a placeholder. Gemini CLI's optional native modules
#: (keytar, node-pty) would be compiled by node-gyp, which downloads Node's headers from
#: nodejs.org on a machine without them; headless runs need neither, so no scripts run there.
CLIS = {
    cli.name: cli
    for cli in (
        Cli("claude", "@anthropic-ai/claude-code", "2.1.332", "claude", True, "claude-sonnet-4-6"),
        Cli("codex", "@openai/codex", "0.171.0", "codex", False, "gpt-5.5"),
        Cli("gemini", "@google/gemini-cli", "0.61.0", "gemini", False, "gemini-2.5-pro",
            ("gemini-3-flash-preview",)),  # its "web-search" and "web-fetch" model configs
    )
}


def cache_dir() -> Path:
    """Where installed CLIs live: outside the worktree, so fresh clones on the machine share them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "interlingua" / "clis"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`: two test runs on the machine must not install at once."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(cli: Cli) -> Path:
    """The CLI's executable, installed from npm into `cache_dir()` unless an earlier run did."""
    target = cache_dir() / f"{cli.package}@{cli.version}"
    executable = target / "node_modules" / ".bin" / cli.command
    stamp = target / ".installed"
    if stamp.exists():
        return executable
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.with_name(target.name + ".lock")):
        if stamp.exists():  # another run installed it while this one waited
            return executable
        # Install beside the target and move it in whole, so an interrupted install is never used.
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        command = ["npm", "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--loglevel=error",
                   f"{cli.package}@{cli.version}"]
        if not cli.scripts:
            command.append("--ignore-scripts")
        env = {**os.environ, "npm_config_update_notifier": "false"}
        done = subprocess.run(command, cwd=target.parent, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        staging.rename(target)
        stamp.write_text(f"{cli.package}@{cli.version}\n")
    return executable


def offline_env(home: Path) -> dict[str, str]:
    """The environment every CLI starts from: a private home, and any request that is not to
    loopback sent to a closed local port, so it fails at once instead of leaving the machine."""
    closed = f"http://127.0.0.1:{refused_port()}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "NO_UPDATE_NOTIFIER": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = closed
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def _claude(home: Path, url: str, model: str) -> tuple[list[str], dict[str, str]]:
    env = {
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,  # background requests use the one model the gateway routes
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "CLAUDE_CODE_MAX_RETRIES": "0",  # a refused request fails the run now, not after minutes of backoff
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    }
    # acceptEdits lets the Write tool run unasked; --dangerously-skip-permissions is refused as root.
    return ["-p", PROMPT, "--permission-mode", "acceptEdits"], env


def _codex(home: Path, url: str, model: str) -> tuple[list[str], dict[str, str]]:
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(f"""\
model = "{model}"
model_provider = "interlingua"
check_for_update_on_startup = false

[model_providers.interlingua]
name = "Interlingua"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "INTERLINGUA_KEY"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
metrics_exporter = "none"

# On by default, these fetch from github.com (curated plugins) and chatgpt.com (apps) at startup.
[features]
plugins = false
remote_plugin = false
apps = false
""")
    env = {"CODEX_HOME": str(codex_home), "INTERLINGUA_KEY": KEY}
    # --strict-config: a key this version no longer knows is an error, not a silently ignored setting.
    argv = ["exec", "--strict-config", "--skip-git-repo-check", "--ephemeral", "--sandbox", "workspace-write",
            "--color", "never", PROMPT]
    return argv, env


def _gemini(home: Path, url: str, model: str) -> tuple[list[str], dict[str, str]]:
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False, "maxAttempts": 1,
                    "retryFetchErrors": False},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
    }
    (home / ".gemini").mkdir()
    (home / ".gemini" / "settings.json").write_bytes(orjson.dumps(settings))
    env = {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": KEY}
    return ["-p", PROMPT, "--yolo", "-m", model], env


_SETUPS = {"claude": _claude, "codex": _codex, "gemini": _gemini}


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The call the fake makes first, in the CLI's own tool vocabulary (as its first request
    declares it): `arguments` is a JSON object, or for a freeform tool the raw `input` text."""

    name: str
    arguments: Json | str

    @property
    def custom(self) -> bool:
        return isinstance(self.arguments, str)


def tool_use(cli: str, workdir: Path, filename: str = FILENAME) -> ToolUse:
    """The one tool call that does the task: Claude Code's `Write`, Gemini CLI's `write_file`
    (both want an absolute path), Codex's freeform `apply_patch` (paths relative to its cwd)."""
    if cli == "codex":
        return ToolUse("apply_patch", f"*** Begin Patch\n*** Add File: {filename}\n+{CONTENT}*** End Patch\n")
    name = "Write" if cli == "claude" else "write_file"
    return ToolUse(name, {"file_path": str(workdir / filename), "content": CONTENT})


#: The id the fake gives its call in each dialect (Gemini's are 8 lowercase letters and digits).
CALL_IDS: dict[Dialect, str] = {"chat": "call_write1", "responses": "call_write1", "anthropic": "toolu_write1",
                                "gemini": "write001"}


def _json_arguments(use: ToolUse) -> Json:
    """Arguments for a dialect without freeform tools: the raw text under `input`, OpenAI's name
    for a custom tool's text, which the gateway declares and unwraps (`adapters/dialects/tools.py`)."""
    return {"input": use.arguments} if isinstance(use.arguments, str) else use.arguments


def script(dialect: Dialect, use: ToolUse) -> tuple[Any, Any]:
    """The fake's two answers, as a reasoning model gives them: thinking and the tool call, then DONE."""
    return calls(dialect, [(use, CALL_IDS[dialect])]), _done(dialect)


def calls(dialect: Dialect, uses: list[tuple[ToolUse, str]]) -> Any:
    """An answer of thinking and the tool calls `uses` (each with its id), made in parallel."""
    thought = "I will create the file."
    if dialect == "chat":
        return fo.tool_calls(*(fo.custom_call(use.name, use.arguments, id=call_id) if isinstance(use.arguments, str)
                               else fo.call(use.name, orjson.dumps(use.arguments).decode(), id=call_id)
                               for use, call_id in uses), reasoning=[thought])
    if dialect == "responses":
        return fr.reply(fr.reasoning(thought), *(
            fr.custom_call(use.name, use.arguments, call_id=call_id) if isinstance(use.arguments, str)
            else fr.call(use.name, orjson.dumps(use.arguments).decode(), call_id=call_id) for use, call_id in uses))
    if dialect == "anthropic":
        return fa.reply(fa.thinking(thought), *(fa.call(use.name, orjson.dumps(_json_arguments(use)).decode(),
                                                        id=call_id) for use, call_id in uses))
    return fg.reply(fg.thought(thought), *(fg.call(use.name, _json_arguments(use), id=call_id)
                                           for use, call_id in uses))


def _done(dialect: Dialect) -> Any:
    return {"chat": fo.text, "responses": fr.text, "anthropic": fa.text, "gemini": fg.text}[dialect](DONE)


def _fake(dialect: Dialect) -> Any:
    return {"chat": fo.FakeOpenAI, "responses": fr.FakeResponses, "anthropic": fa.FakeAnthropic,
            "gemini": fg.FakeGemini}[dialect]()


def _provider(dialect: Dialect, url: str) -> Json:
    if dialect == "anthropic":
        return anthropic_provider(url)
    if dialect == "gemini":
        return gemini_provider(url)
    return provider(url, api="responses") if dialect == "responses" else provider(url)


_GENERATE_SUFFIXES = ("/chat/completions", "/v1/responses", "/v1/messages", ":generateContent",
                      ":streamGenerateContent")


@dataclass(slots=True)
class Run:
    """What one CLI run left: its exit status (None when killed at the timeout), its output,
    its working directory, and the JSON bodies of the generation requests the upstream received."""

    cli: str
    dialect: Dialect
    status: int | None
    stdout: str
    stderr: str
    workdir: Path
    requests: list[Json]
    use: ToolUse

    def report(self) -> str:
        """The end of what the CLI printed, for assertion messages."""
        return f"exit {self.status}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-3000:]}"


async def run(cli: Cli, executable: Path, dialect: Dialect, root: Path, first: tuple[Any, ...] = (),
              args: tuple[str, ...] = (), codex_settings: str = "", **more: Json) -> Run:
    """Run `cli` once on the task, through a fresh gateway in front of a fresh fake `dialect` upstream;
    `first`: the fake's answers before the task's own, `args`: the CLI's arguments besides,
    `codex_settings`: top-level lines for Codex's config.toml, `more`: the gateway's config tables
    besides."""
    home, workdir = root / "home", root / "work"
    workdir.mkdir(parents=True, exist_ok=True)  # a test may have put files there for the task
    env = offline_env(home)
    use = tool_use(cli.name, workdir)
    async with _fake(dialect) as fake:
        fake.script(*first, *script(dialect, use))
        tables: Json = {"providers": {"up": _provider(dialect, fake.url), **more.pop("providers", {})},
                        "models": {m: {"targets": ["up/upstream-model"]} for m in (cli.model, *cli.tool_models)},
                        **more}
        async with gateway(root / "data", **tables) as (_, url):
            argv, own = _SETUPS[cli.name](home, url, cli.model)
            if codex_settings:  # top-level keys go before the first table
                config = home / ".codex" / "config.toml"
                config.write_text(config.read_text().replace("\n[", f"\n{codex_settings}\n\n[", 1))
            process = await asyncio.create_subprocess_exec(
                str(executable), *argv, *args, cwd=workdir, env={**env, **own}, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)  # its own process group, so a timeout also ends the CLI's children
            try:
                out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
                status: int | None = process.returncode
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                out, err = await process.communicate()
                status = None
        requests = [r.json for r in fake.requests if r.method == "POST" and r.path.endswith(_GENERATE_SUFFIXES)]
    return Run(cli.name, dialect, status, out.decode(errors="replace"), err.decode(errors="replace"), workdir,
               requests, use)


Case = tuple[str, Dialect]


async def run_all(cases: list[Case], executables: dict[str, Path], root: Path) -> dict[Case, Run | BaseException]:
    """Every case, `CONCURRENCY` at a time; a case whose harness raised maps to the exception."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str, dialect: Dialect) -> Run:
        async with gate:
            return await run(CLIS[name], executables[name], dialect, root / f"{name}-{dialect}")

    results = await asyncio.gather(*(one(*case) for case in cases), return_exceptions=True)
    return dict(zip(cases, results, strict=True))


def declared_tools(dialect: Dialect, body: Json) -> dict[str, set[str] | None]:
    """Tool name -> its parameter names as a request declares them; None for a freeform tool."""
    tools: dict[str, set[str] | None] = {}
    for tool in body.get("tools") or ():
        if dialect == "chat":
            if tool.get("type") == "custom":
                tools[tool["custom"]["name"]] = None
            else:
                tools[tool["function"]["name"]] = set((tool["function"].get("parameters") or {}).get("properties", {}))
        elif dialect == "responses":
            if tool.get("type") == "custom":
                tools[tool["name"]] = None
            elif tool.get("type") == "function":
                tools[tool["name"]] = set((tool.get("parameters") or {}).get("properties", {}))
        elif dialect == "anthropic":
            if "name" in tool and "input_schema" in tool:
                tools[tool["name"]] = set(tool["input_schema"].get("properties", {}))
        else:
            for function in tool.get("functionDeclarations") or tool.get("function_declarations") or ():
                schema = function.get("parametersJsonSchema") or function.get("parameters") or {}
                tools[function["name"]] = set(schema.get("properties", {}))
    return tools


def paired_result(dialect: Dialect, body: Json, call_id: str) -> Any:
    """What a request sends back for tool call `call_id`: the result that follows the assistant
    turn holding that call, matched by id; None when the call or its result is missing."""
    if dialect == "chat":
        messages = body.get("messages", [])
        made = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"
                     and any(c.get("id") == call_id for c in m.get("tool_calls") or ())), None)
        answers = [m for m in messages[made:] if m.get("role") == "tool" and m.get("tool_call_id") == call_id] \
            if made is not None else []
        return answers[0].get("content") if answers else None
    if dialect == "responses":
        items = body.get("input", [])
        made = next((i for i, item in enumerate(items) if item.get("type") in ("function_call", "custom_tool_call")
                     and item.get("call_id") == call_id), None)
        answers = [item for item in items[made:] if str(item.get("type")).endswith("_call_output")
                   and item.get("call_id") == call_id] if made is not None else []
        return answers[0].get("output") if answers else None
    if dialect == "anthropic":
        messages = body.get("messages", [])
        for i, message in enumerate(messages[:-1]):
            blocks = message.get("content") if isinstance(message.get("content"), list) else []
            if message.get("role") == "assistant" and any(b.get("id") == call_id for b in blocks):
                following = messages[i + 1].get("content")
                results = [b for b in following if isinstance(b, dict) and b.get("type") == "tool_result"
                           and b.get("tool_use_id") == call_id] if isinstance(following, list) else []
                return results[0].get("content") if results else None
        return None
    contents = body.get("contents", [])
    for i, content in enumerate(contents[:-1]):
        calls = [p["functionCall"] for p in content.get("parts", []) if "functionCall" in p]
        if content.get("role") == "model" and any(c.get("id") == call_id for c in calls):
            results = [p["functionResponse"] for p in contents[i + 1].get("parts", []) if "functionResponse" in p]
            return next((r.get("response") for r in results if r.get("id") == call_id), None)
    return None


def carried_reasoning(dialect: Dialect, body: Json, call_id: str) -> Json | None:
    """The reasoning a request sends back with tool call `call_id`, in the upstream's own form: the
    signed thinking block of the assistant turn that made it (Anthropic), the reasoning item with
    its `encrypted_content` before it (Responses), the `thoughtSignature` on its part (Gemini).
    None when it is missing. A Chat upstream's reasoning is not sent back."""
    if dialect == "anthropic":
        for message in body.get("messages", []):
            blocks = message.get("content") if isinstance(message.get("content"), list) else []
            if message.get("role") == "assistant" and any(b.get("id") == call_id for b in blocks):
                return next((b for b in blocks if b.get("type") == "thinking" and b.get("signature")), None)
        return None
    if dialect == "responses":
        items = body.get("input", [])
        made = next((i for i, item in enumerate(items) if item.get("call_id") == call_id), None)
        before = items[:made] if made is not None else []
        return next((item for item in reversed(before) if item.get("type") == "reasoning"
                     and item.get("encrypted_content")), None)
    if dialect == "gemini":
        for content in body.get("contents", []):
            for part in content.get("parts", []):
                if part.get("functionCall", {}).get("id") == call_id and part.get("thoughtSignature"):
                    return part
    return None
