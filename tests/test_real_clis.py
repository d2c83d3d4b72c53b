"""The real CLIs in the suite: Claude Code, Codex CLI and Gemini CLI, each run headless through
the gateway on a fake upstream of every dialect, on a task that needs one tool call.

Why: replayed requests cannot catch a gateway answer that a CLI fails to read, a tool call it
does not recognise, or a tool result that reaches the upstream unpaired. Here the fake upstream
answers first with a tool call that creates a file, in the CLI's own tool vocabulary, then, once
the result arrives, with "DONE"; the file, the exit status, the output and the second upstream
request must all show the loop went round. How the CLIs are installed, configured and kept off
the network is in tests/real_clis.py.

The 12 runs start together in one session fixture (a few at a time) and each test reads its own
result. A combination that fails today because of a gateway bug is a strict xfail naming the
bug, so the stage turns red when the bug is fixed and the marker must go.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import real_clis
from tests.real_clis import CALL_IDS, CLIS, CONTENT, DIALECTS, DONE, FILENAME, Case, Dialect, Run

#: Combinations the gateway breaks today, with what was observed. Each is a strict xfail.
GATEWAY_BUGS: dict[tuple[str, Dialect], str] = {}


def _case(cli: str, dialect: Dialect) -> Any:
    bug = GATEWAY_BUGS.get((cli, dialect))
    # raises=AssertionError: only a failed check is the known bug; an error in the harness is not.
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=bug)] if bug else []
    return pytest.param(cli, dialect, id=f"{cli}-{dialect}", marks=marks)


CASES = [_case(cli, dialect) for cli in CLIS for dialect in DIALECTS]


@pytest.fixture(scope="session")
def executables() -> dict[str, Path]:
    """The three CLIs, installed in parallel the first time (see real_clis.install)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.fail("Node.js and npm are needed to install the real CLIs (Debian: apt-get install nodejs npm)")
    with ThreadPoolExecutor(len(CLIS)) as pool:
        return dict(zip(CLIS, pool.map(real_clis.install, CLIS.values()), strict=True))


@pytest.fixture(scope="session")
def runs(request: pytest.FixtureRequest, executables: dict[str, Path],
         tmp_path_factory: pytest.TempPathFactory) -> dict[Case, Run | BaseException]:
    """Every selected case of this module, run concurrently once; so `-k claude` runs only Claude's."""
    cases = sorted({(item.callspec.params["cli"], item.callspec.params["dialect"])
                    for item in request.session.items
                    if item.path == Path(__file__) and hasattr(item, "callspec")
                    and "dialect" in item.callspec.params})
    root = tmp_path_factory.mktemp("real-clis")
    return asyncio.run(real_clis.run_all(cases, executables, root))


@pytest.mark.parametrize("cli", list(CLIS))
def test_each_cli_starts_offline_at_its_pinned_version(executables: dict[str, Path], cli: str,
                                                        tmp_path: Path) -> None:
    env = real_clis.offline_env(tmp_path)
    done = subprocess.run([str(executables[cli]), "--version"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert CLIS[cli].version in done.stdout


@pytest.mark.parametrize(("cli", "dialect"), CASES)
def test_cli_runs_a_tool_call_through_the_gateway(runs: dict[Case, Run | BaseException], cli: str,
                                                   dialect: Dialect) -> None:
    run = runs[cli, dialect]
    if isinstance(run, BaseException):
        # Not an AssertionError, so never taken for the expected failure of a known gateway bug.
        raise RuntimeError(f"the harness failed on {cli} with a {dialect} upstream") from run
    call_id = CALL_IDS[dialect]

    assert len(run.requests) >= 1, run.report()
    declared = real_clis.declared_tools(dialect, run.requests[0])
    assert run.use.name in declared, f"{run.use.name} not declared upstream: {sorted(declared)}"
    if not run.use.custom:  # a freeform tool has no parameters of its own to compare
        assert set(run.use.arguments) <= (declared[run.use.name] or set()), declared[run.use.name]

    assert run.status == 0, run.report()
    assert DONE in run.stdout, run.report()
    written = run.workdir / FILENAME
    assert written.is_file(), run.report()
    assert written.read_text() == CONTENT
    assert len(run.requests) == 2, run.report()
    # Every CLI's result for the call names the file it made, so this is the result of that call.
    result = real_clis.paired_result(dialect, run.requests[1], call_id)
    assert FILENAME in str(result), run.requests[1]
    if dialect != "chat":  # the model's reasoning went back with its call, as its upstream asks
        assert real_clis.carried_reasoning(dialect, run.requests[1], call_id), run.requests[1]


def _went_round(run: Run, requests: int) -> None:
    """A run with a web tool's turns went on to the task: the file written, DONE, and the upstream
    asked `requests` times."""
    assert run.status == 0 and DONE in run.stdout, run.report()
    assert (run.workdir / FILENAME).read_text() == CONTENT
    assert len(run.requests) == requests, run.report()


def test_codex_searches_the_web_through_a_chat_model(executables: dict[str, Path], tmp_path: Path) -> None:
    """Codex declares OpenAI's hosted `web_search`; on a Chat model the gateway runs it through its
    search provider (`[utilities] web_search`): the model's search, then its patch, then DONE."""
    from tests.fakes import openai_upstream as fo
    from tests.fakes.search_upstream import FakeSearch

    async def scenario() -> Run:
        async with FakeSearch("searxng") as web:
            searched = fo.tool_calls(fo.call("web_search", '{"query": "python asyncio"}', id="call_search1"))
            done = await real_clis.run(CLIS["codex"], executables["codex"], "chat", tmp_path, (searched,),
                                       providers={"web": {"type": "searxng", "url": web.url}},
                                       utilities={"web_search": "web/default"})
            assert len(web.requests) == 1 and web.requests[0][2]["q"] == "python asyncio"
            return done

    run = asyncio.run(scenario())
    _went_round(run, 3)
    assert "web_search" in real_clis.declared_tools("chat", run.requests[0])  # in the hosted tool's place
    found = real_clis.paired_result("chat", run.requests[1], "call_search1")
    assert "https://docs.python.org/3/library/asyncio.html" in str(found)
    assert FILENAME in str(real_clis.paired_result("chat", run.requests[2], CALL_IDS["chat"]))
    # Codex read the search item the gateway streamed, and showed it
    assert "web search: python asyncio" in run.stderr, run.report()


def test_claude_code_searches_the_web_through_a_gpt_model(executables: dict[str, Path], tmp_path: Path) -> None:
    """Claude Code's WebSearch tool (loaded through its ToolSearch) asks the model for Anthropic's
    `web_search_20250305`; on a Responses model that is OpenAI's `web_search`, and the search item
    and cited text it answers come back as Claude's search blocks and citations, which Claude Code
    reads into the links and summary it gives the main turn: the search, then the file, then DONE."""
    from tests.fakes import responses_upstream as fr

    page, said = "https://www.yr.no/en/forecast/bergen", "It rains in Bergen today."
    first = (fr.reply(fr.call("ToolSearch", '{"query": "select:WebSearch", "max_results": 1}', call_id="call_tools1")),
             fr.reply(fr.call("WebSearch", '{"query": "bergen weather"}', call_id="call_search1")),
             fr.reply(fr.web_search("bergen weather", page),
                      fr.say(said, annotations=(fr.url_citation(page, "Yr: Bergen", 0, len(said)),))))
    run = asyncio.run(real_clis.run(CLIS["claude"], executables["claude"], "responses", tmp_path, first,
                                    args=("--allowedTools", "WebSearch")))
    _went_round(run, 5)  # ToolSearch, WebSearch, the search itself, Write, DONE
    assert [t.get("type") for t in run.requests[2].get("tools") or ()] == ["web_search"]
    found = str(real_clis.paired_result("responses", run.requests[3], "call_search1"))
    assert page in found and said in found, found  # what Claude Code read from the search blocks and text


def test_gemini_cli_searches_the_web_through_claude(executables: dict[str, Path], tmp_path: Path) -> None:
    """Gemini CLI's google_web_search asks its web-search model for `googleSearch`; on Claude that is
    `web_search_20250305`, and Claude's search blocks and cited text come back as the grounding
    Gemini CLI reads: its pages become the sources list, and each citation a marker it puts at the
    support's end, counted in UTF-8 bytes (the text before it has a letter of two)."""
    from tests.fakes import anthropic_upstream as fa

    page = "https://www.yr.no/en/forecast/bergen"
    first = (fa.reply(fa.thinking("I will search."), fa.call("google_web_search", '{"query": "bergen weather"}',
                                                            id="toolu_search1")),
             fa.reply(*fa.web_search("bergen weather", (page, "Yr: Bergen")), fa.say("Været i Bergen: "),
                      fa.say("det regner i dag.", citations=(fa.cited(page, "Yr: Bergen", "Regn"),)),
                      fa.say(" Ta med paraply.")))
    run = asyncio.run(real_clis.run(CLIS["gemini"], executables["gemini"], "anthropic", tmp_path, first))
    _went_round(run, 4)  # the search call, the search itself, write_file, DONE
    assert run.requests[1]["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
    found = str(real_clis.paired_result("anthropic", run.requests[2], "toolu_search1"))
    assert "Været i Bergen: det regner i dag.[1] Ta med paraply." in found, found  # counted in chars, "dag[1]."
    assert f"[1] Yr: Bergen ({page})" in found, found


def test_codex_searches_the_web_through_claude(executables: dict[str, Path], tmp_path: Path) -> None:
    """Codex's hosted `web_search` on Claude is Claude's `web_search_20250305`: Claude searches within
    its answer, and its search blocks and cited text reach Codex as a `web_search_call` it shows
    and a message; the patch in the same answer runs, then the task's own."""
    from tests.fakes import anthropic_upstream as fa

    page = "https://docs.python.org/3/library/asyncio.html"
    patch = "*** Begin Patch\n*** Add File: notes.txt\n+asyncio\n*** End Patch\n"
    first = fa.reply(fa.thinking("Search first."), *fa.web_search("python asyncio", (page, "asyncio docs")),
                     fa.say("Use asyncio.run.", citations=(fa.cited(page, "asyncio docs", "asyncio.run"),)),
                     fa.call("apply_patch", orjson.dumps({"input": patch}).decode(), id="toolu_notes1"))
    run = asyncio.run(real_clis.run(CLIS["codex"], executables["codex"], "anthropic", tmp_path, (first,)))
    _went_round(run, 3)  # the search and a patch, the task's patch, DONE
    assert {"type": "web_search_20250305", "name": "web_search"} in run.requests[0]["tools"]
    assert "web search: python asyncio" in run.stderr, run.report()
    assert (run.workdir / "notes.txt").read_text() == "asyncio\n"
    assert "notes.txt" in str(real_clis.paired_result("anthropic", run.requests[1], "toolu_notes1"))


def test_gemini_cli_searches_the_web_through_a_gpt_model(executables: dict[str, Path], tmp_path: Path) -> None:
    """Gemini CLI's google_web_search asks its web-search model for `googleSearch`; on a Responses
    model that is OpenAI's `web_search`, and its search item and `url_citation` come back as the
    grounding Gemini CLI reads into a cited answer and its sources."""
    from tests.fakes import responses_upstream as fr

    page, said = "https://www.yr.no/en/forecast/bergen", "It rains in Bergen today."
    first = (fr.reply(fr.reasoning("I will search."),
                      fr.call("google_web_search", '{"query": "bergen weather"}', call_id="call_search1")),
             fr.reply(fr.web_search("bergen weather", page),
                      fr.say(said, annotations=(fr.url_citation(page, "Yr: Bergen", 0, len(said)),))))
    run = asyncio.run(real_clis.run(CLIS["gemini"], executables["gemini"], "responses", tmp_path, first))
    _went_round(run, 4)  # the search call, the search itself, write_file, DONE
    assert run.requests[1]["tools"] == [{"type": "web_search"}]
    found = str(real_clis.paired_result("responses", run.requests[2], "call_search1"))
    assert f"{said}[1]" in found and f"[1] Yr: Bergen ({page})" in found, found


@pytest.mark.parametrize("cli", ["claude", "gemini"])
def test_a_cli_searches_the_web_through_a_chat_model_by_the_gateways_search(executables: dict[str, Path], cli: str,
                                                                            tmp_path: Path) -> None:
    """Claude Code's WebSearch and Gemini CLI's google_web_search each ask a model for their API's
    search tool; a Chat model (vLLM, Ollama) has none, so the gateway gives it a `web_search`
    function and runs it through its search provider, and the CLI reads the pages it found in its
    own API's form: Claude's search blocks (the links Claude Code lists), Gemini's grounding (the
    sources Gemini CLI lists)."""
    from tests.fakes import openai_upstream as fo
    from tests.fakes.search_upstream import FakeSearch

    calls = [fo.tool_calls(fo.call("WebSearch", '{"query": "python asyncio"}', id="call_search1"))]
    if cli == "claude":  # its WebSearch is loaded through ToolSearch first
        calls.insert(0, fo.tool_calls(fo.call("ToolSearch", '{"query": "select:WebSearch", "max_results": 1}',
                                              id="call_tools1")))
    else:
        calls = [fo.tool_calls(fo.call("google_web_search", '{"query": "python asyncio"}', id="call_search1"))]
    searched = (fo.tool_calls(fo.call("web_search", '{"query": "python asyncio"}', id="call_ws1")),
                fo.text("Use asyncio.run."))

    async def scenario() -> Run:
        async with FakeSearch("searxng") as web:
            done = await real_clis.run(CLIS[cli], executables[cli], "chat", tmp_path, (*calls, *searched),
                                       args=("--allowedTools", "WebSearch") if cli == "claude" else (),
                                       providers={"web": {"type": "searxng", "url": web.url}},
                                       utilities={"web_search": "web/default"})
            assert len(web.requests) == 1 and web.requests[0][2]["q"] == "python asyncio"
            return done

    run = asyncio.run(scenario())
    _went_round(run, len(calls) + 4)  # the CLI's calls, the search model's two turns, write, DONE
    searching = run.requests[len(calls)]
    assert [t["function"]["name"] for t in searching["tools"]] == ["web_search"]
    found = str(real_clis.paired_result("chat", run.requests[len(calls) + 2], "call_search1"))
    assert "Use asyncio.run." in found and "https://docs.python.org/3/library/asyncio.html" in found, found


_ASYNCIO = "https://docs.python.org/3/library/asyncio.html"
_SAID = "Use asyncio.run for the entry point."
#: Gemini's own search, as its answer's `groundingMetadata` tells it.
_GROUNDED = {"webSearchQueries": ["python asyncio"], "groundingChunks": [{"web": {"uri": _ASYNCIO,
                                                                                 "title": "asyncio docs"}}],
             "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": len(_SAID), "text": _SAID},
                                    "groundingChunkIndices": [0]}]}


def test_codex_searches_the_web_through_gemini(executables: dict[str, Path], tmp_path: Path) -> None:
    """Codex's hosted `web_search` on Gemini is `googleSearch`: Gemini's grounding reaches Codex as a
    `web_search_call` it shows, with the patch of the same answer, then the task's own."""
    from tests.fakes import gemini_upstream as fg

    patch = "*** Begin Patch\n*** Add File: notes.txt\n+asyncio\n*** End Patch\n"
    first = fg.reply(fg.say(_SAID), fg.call("apply_patch", {"input": patch}, id="notes001"), grounding=_GROUNDED)
    run = asyncio.run(real_clis.run(CLIS["codex"], executables["codex"], "gemini", tmp_path, (first,)))
    _went_round(run, 3)  # the search and a patch, the task's patch, DONE
    assert {"googleSearch": {}} in run.requests[0]["tools"]
    assert "web search: python asyncio" in run.stderr, run.report()
    assert (run.workdir / "notes.txt").read_text() == "asyncio\n"


def test_claude_code_searches_the_web_through_gemini(executables: dict[str, Path], tmp_path: Path) -> None:
    """Claude Code's WebSearch asks for `web_search_20250305`; on Gemini that is `googleSearch`, and
    the grounding comes back as Claude's search blocks, whose pages Claude Code lists as links."""
    from tests.fakes import gemini_upstream as fg

    first = (fg.reply(fg.call("ToolSearch", {"query": "select:WebSearch", "max_results": 1}, id="tools001")),
             fg.reply(fg.call("WebSearch", {"query": "python asyncio"}, id="search01")),
             fg.reply(fg.say(_SAID), grounding=_GROUNDED))
    run = asyncio.run(real_clis.run(CLIS["claude"], executables["claude"], "gemini", tmp_path, first,
                                    args=("--allowedTools", "WebSearch")))
    _went_round(run, 5)  # ToolSearch, WebSearch, the search itself, Write, DONE
    assert run.requests[2]["tools"] == [{"googleSearch": {}}]
    found = str(real_clis.paired_result("gemini", run.requests[3], "search01"))
    assert _SAID in found and f'"url":"{_ASYNCIO}"' in found, found


def test_gemini_cli_fetches_a_page_through_claude(executables: dict[str, Path], tmp_path: Path) -> None:
    """Gemini CLI's web_fetch asks its web-fetch model for `urlContext`; on Claude that is
    `web_fetch_20250910`, so Claude reads the page, and its answer is what the tool gives the main
    turn (before, Claude was given no fetch and answered from memory)."""
    from tests.fakes import anthropic_upstream as fa

    page = "https://93.184.215.14/forecast/bergen"  # an address Gemini CLI deems public without a DNS lookup
    said = "Bergen: rain all day, 11 degrees."
    first = (fa.reply(fa.thinking("I will read it."), fa.call("web_fetch", orjson.dumps(
                 {"prompt": f"Summarize {page}"}).decode(), id="toolu_fetch1")),
             fa.text(said))
    run = asyncio.run(real_clis.run(CLIS["gemini"], executables["gemini"], "anthropic", tmp_path, first))
    _went_round(run, 4)  # the fetch call, the fetch itself, write_file, DONE
    assert run.requests[1]["tools"] == [{"type": "web_fetch_20250910", "name": "web_fetch"}]
    assert page in str(run.requests[1]["messages"])
    assert said in str(real_clis.paired_result("anthropic", run.requests[2], "toolu_fetch1"))


def test_codex_compacts_its_context_on_claude(executables: dict[str, Path], tmp_path: Path) -> None:
    """Past its auto-compaction limit (set low here), Codex asks the model for a summary of the work
    so far and goes on from it: on Claude, the summary turn follows the tool result, and the next
    request starts from the summary, not the whole history."""
    from tests.fakes import anthropic_upstream as fa

    notes = real_clis.tool_use("codex", tmp_path / "work", "notes.txt")
    big = replace(real_clis.calls("anthropic", [(notes, "toolu_notes1")]), usage=fa.Usage(1500, 100))
    summary = "Wrote notes.txt; hello.txt is still to be made."
    run = asyncio.run(real_clis.run(
        CLIS["codex"], executables["codex"], "anthropic", tmp_path, (big, fa.text(summary)),
        codex_settings="model_auto_compact_token_limit = 300\nmodel_context_window = 2000"))
    _went_round(run, 4)  # a patch past the limit, the summary, the task's patch, DONE
    assert (run.workdir / "notes.txt").read_text() == CONTENT
    asked = run.requests[1]["messages"][-1]["content"]
    assert asked[0]["tool_use_id"] == "toolu_notes1" and "COMPACTION" in asked[-1]["text"], asked
    went_on = str(run.requests[2]["messages"])
    assert summary in went_on and "toolu_notes1" not in went_on, went_on
    assert "context compacted" in run.stderr, run.report()


#: For each CLI, an upstream of another dialect that answers with two calls at once.
PARALLEL: dict[str, Dialect] = {"claude": "chat", "codex": "anthropic", "gemini": "responses"}


@pytest.mark.parametrize("cli", list(PARALLEL))
def test_cli_runs_parallel_tool_calls_through_the_gateway(executables: dict[str, Path], cli: str,
                                                          tmp_path: Path) -> None:
    """The model makes two calls in one answer: the CLI runs both, and its next request sends both
    results back, each paired with its call, in the upstream's dialect (Anthropic wants them in one
    user turn, Chat as one tool message each, Responses as one output item each)."""
    dialect = PARALLEL[cli]
    names = ("first.txt", "second.txt")
    ids = {"chat": ("call_par1", "call_par2"), "anthropic": ("toolu_par1", "toolu_par2"),
           "responses": ("call_par1", "call_par2")}[dialect]
    workdir = tmp_path / "work"  # where real_clis.run puts the CLI
    both = real_clis.calls(dialect, [(real_clis.tool_use(cli, workdir, name), call_id)
                                     for name, call_id in zip(names, ids, strict=True)])
    run = asyncio.run(real_clis.run(CLIS[cli], executables[cli], dialect, tmp_path, (both,)))
    _went_round(run, 3)  # the two calls, the task's own call, DONE
    for name, call_id in zip(names, ids, strict=True):
        assert (workdir / name).read_text() == CONTENT, run.report()
        assert name in str(real_clis.paired_result(dialect, run.requests[1], call_id)), run.requests[1]
    if dialect == "anthropic":  # both results in the one user turn after the calls
        turn = next(m for m in reversed(run.requests[1]["messages"]) if m["role"] == "user")
        assert [b["tool_use_id"] for b in turn["content"] if b.get("type") == "tool_result"] == list(ids)


#: Each CLI's own tool that reads a picture, and the argument naming its path.
IMAGE_TOOLS: dict[str, tuple[str, str]] = {"claude": ("Read", "file_path"), "codex": ("view_image", "path"),
                                           "gemini": ("read_file", "file_path")}
OWN_DIALECTS: dict[str, Dialect] = {"claude": "anthropic", "codex": "responses", "gemini": "gemini"}
IMAGE_CASES = [(cli, dialect) for cli in IMAGE_TOOLS for dialect in DIALECTS if dialect != OWN_DIALECTS[cli]]
IMAGE_CALL_IDS: dict[Dialect, str] = {"chat": "call_read1", "responses": "call_read1", "anthropic": "toolu_read1",
                                      "gemini": "read0001"}


def _images_sent(dialect: Dialect, body: Any) -> list[str]:
    """The media types of the images a request carries, inside tool results too: Chat's data URLs,
    Responses' `input_image` parts, Anthropic's base64 blocks and Gemini's inline data."""
    if dialect == "gemini":
        parts = [p for c in body["contents"] for p in c.get("parts", [])]
        inner = [q for p in parts for q in (p.get("functionResponse") or {}).get("parts", [])]
        return [p["inlineData"]["mimeType"] for p in parts + inner if "inlineData" in p]
    if dialect == "chat":
        return [part["image_url"]["url"].split(";")[0].removeprefix("data:")
                for message in body["messages"] if isinstance(message.get("content"), list)
                for part in message["content"] if part.get("type") == "image_url"]
    if dialect == "responses":
        lists = [i.get("content") if i.get("type") == "message" else i.get("output") for i in body["input"]]
        return [part["image_url"].split(";")[0].removeprefix("data:") for parts in lists if isinstance(parts, list)
                for part in parts if part.get("type") == "input_image"]
    blocks = [b for m in body["messages"] if isinstance(m.get("content"), list) for b in m["content"]]
    inner = [c for b in blocks if b.get("type") == "tool_result" and isinstance(b.get("content"), list)
             for c in b["content"]]
    return [b["source"]["media_type"] for b in blocks + inner if b.get("type") == "image"]


@pytest.fixture(scope="session")
def image_runs(request: pytest.FixtureRequest, executables: dict[str, Path],
               tmp_path_factory: pytest.TempPathFactory) -> dict[Case, Run | BaseException]:
    """Each selected CLI reading a picture on each selected dialect, `CONCURRENCY` at a time."""
    from tests.documents import png, text_image

    picture = png(text_image(["PIXEL"]))
    cases = sorted({(item.callspec.params["cli"], item.callspec.params["upstream"]) for item in request.session.items
                    if item.path == Path(__file__) and hasattr(item, "callspec")
                    and "upstream" in item.callspec.params})
    root = tmp_path_factory.mktemp("real-clis-images")
    gate = asyncio.Semaphore(real_clis.CONCURRENCY)

    async def one(cli: str, dialect: Dialect) -> Run:
        async with gate:
            workdir = root / f"{cli}-{dialect}" / "work"
            workdir.mkdir(parents=True)
            (workdir / "pixel.png").write_bytes(picture)
            tool, argument = IMAGE_TOOLS[cli]
            read = real_clis.calls(dialect, [(real_clis.ToolUse(tool, {argument: str(workdir / "pixel.png")}),
                                              IMAGE_CALL_IDS[dialect])])
            return await real_clis.run(CLIS[cli], executables[cli], dialect, workdir.parent, (read,))

    async def every() -> list[Run | BaseException]:
        return await asyncio.gather(*(one(*case) for case in cases), return_exceptions=True)

    return dict(zip(cases, asyncio.run(every()), strict=True))


@pytest.mark.parametrize(("cli", "upstream"), IMAGE_CASES, ids=[f"{c}-{d}" for c, d in IMAGE_CASES])
def test_cli_reads_an_image_through_the_gateway(image_runs: dict[Case, Run | BaseException], cli: str,
                                                upstream: Dialect) -> None:
    """The model asks the CLI to read a picture in its working directory with its own tool: the
    image the tool answers with reaches a model of every other dialect as that dialect carries one
    (a Chat tool message holds no image, so it follows as a user message; a Responses tool output,
    Anthropic's tool result and Gemini 3's function response hold it; Gemini 2.x has it beside)."""
    run = image_runs[cli, upstream]
    if isinstance(run, BaseException):
        raise RuntimeError(f"the harness failed on {cli} with a {upstream} upstream") from run
    _went_round(run, 3)  # the read, the task's own call, DONE
    assert not _images_sent(upstream, run.requests[0])
    assert _images_sent(upstream, run.requests[1]) == ["image/png"], run.requests[1]
