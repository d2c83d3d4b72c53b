"""Code an upstream ran while answering (its code execution tool), from one dialect's words to
another's: Gemini's `executableCode` and `codeExecutionResult` parts, a Responses
`code_interpreter_call` item, Claude's `server_tool_use` of `code_execution` (or of
`bash_code_execution`, its shell) and the result block that follows it. Each is read into a `Run`
(the code, what it printed, whether it failed) and written in the client's words, so a client
sees the code any upstream ran as its own API shows it, whole and streamed. Claude's file edits
(`text_editor_code_execution`) run no code to show, and are left to Claude's clients.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.ids import MARK
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.dialects.openai_responses_request import new_id

_CLAUDE_RUNS = {"code_execution": ("code", "python"), "bash_code_execution": ("command", "bash")}  # input, language
_CLAUDE_RESULTS = {"code_execution_tool_result", "bash_code_execution_tool_result"}
_GEMINI_CODE, _GEMINI_RESULT = ("executableCode", "executable_code"), ("codeExecutionResult", "code_execution_result")


@dataclass(slots=True)
class Run:
    code: str
    output: str = ""
    failed: bool = False
    language: str = "python"


def _gemini(data: dict[str, Any], names: tuple[str, str]) -> dict[str, Any] | None:
    value = data.get(names[0], data.get(names[1]))
    return value if isinstance(value, dict) else None


def is_run(part: ir.Opaque | ir.OpaqueBlock) -> bool:
    """Whether a dialect's block tells of code run (a half of a pair included)."""
    data = part.data
    if part.dialect == ANTHROPIC:
        kind, name = str(data.get("type")), str(data.get("name"))  # as an upstream words them, any value
        return kind in _CLAUDE_RESULTS or kind == "server_tool_use" and name in _CLAUDE_RUNS
    if part.dialect == RESPONSES:
        return data.get("type") == "code_interpreter_call"
    return part.dialect == GEMINI and (_gemini(data, _GEMINI_CODE) or _gemini(data, _GEMINI_RESULT)) is not None


class Reader:
    """The runs told by a run of blocks, in order: a call (Claude's use, Gemini's code) waits for
    its result."""

    def __init__(self) -> None:
        self._asked: dict[str, Run] = {}  # Claude's uses by id, Gemini's code under ""

    def foreign(self, part: ir.Opaque | ir.OpaqueBlock, dialect: str) -> Run | None:
        """The run a block of a dialect other than `dialect` tells, once whole; None for any other."""
        return self.read(part) if part.dialect != dialect and is_run(part) else None

    def read(self, part: ir.Opaque | ir.OpaqueBlock) -> Run | None:
        data = part.data
        if part.dialect == ANTHROPIC:
            if data.get("type") == "server_tool_use":
                field, language = _CLAUDE_RUNS.get(str(data.get("name")), ("code", "python"))
                self._asked[str(data.get("id"))] = Run(str(f.sub(data, "input").get(field) or ""), language=language)
                return None
            run = self._asked.pop(str(data.get("tool_use_id")), Run(""))
            result = f.sub(data, "content")
            if str(result.get("type", "")).endswith("_error"):
                return Run(run.code, str(result.get("error_code") or "error"), True, run.language)
            stdout, stderr = str(result.get("stdout") or ""), str(result.get("stderr") or "")
            code = result.get("return_code")
            return Run(run.code, stdout + stderr, bool(code) if isinstance(code, int) else bool(stderr), run.language)
        if part.dialect == RESPONSES:
            logs = "".join(str(o.get("logs") or "") for o in f.listed(data, "outputs")
                           if isinstance(o, dict) and o.get("type") == "logs")
            return Run(str(data.get("code") or ""), logs, data.get("status") == "failed")
        code = _gemini(data, _GEMINI_CODE)
        if code is not None:
            self._asked[""] = Run(str(code.get("code") or ""))
            return None
        ran = _gemini(data, _GEMINI_RESULT) or {}
        run = self._asked.pop("", Run(""))
        return Run(run.code, str(ran.get("output") or ""), ran.get("outcome") not in (None, "OUTCOME_OK"))


# Writing -------------------------------------------------------------------------------------------


def to_anthropic(run: Run) -> list[dict[str, Any]]:
    """Claude's pair of blocks (`code_execution`, whose results Claude's older tool version
    words), the id marked (`ids.MARK`), so that sent back to Claude the pair is told as text
    (`web_search.settled`)."""
    use_id = f"srvtoolu_{MARK}{secrets.token_hex(12)}"
    result: dict[str, Any] = {"type": "code_execution_result", "stdout": "" if run.failed else run.output,
                              "stderr": run.output if run.failed else "", "return_code": int(run.failed),
                              "content": []}
    return [{"type": "server_tool_use", "id": use_id, "name": "code_execution", "input": {"code": run.code}},
            {"type": "code_execution_tool_result", "tool_use_id": use_id, "content": result}]


def to_responses(run: Run) -> dict[str, Any]:
    return {"type": "code_interpreter_call", "id": new_id("ci"), "status": "failed" if run.failed else "completed",
            "code": run.code, "container_id": "", "outputs": [{"type": "logs", "logs": run.output}]}


def to_gemini(run: Run) -> list[dict[str, Any]]:
    language = "PYTHON" if run.language == "python" else "LANGUAGE_UNSPECIFIED"
    return [{"executableCode": {"language": language, "code": run.code}},
            {"codeExecutionResult": {"outcome": "OUTCOME_FAILED" if run.failed else "OUTCOME_OK",
                                     "output": run.output}}]


def written(run: Run, dialect: str) -> list[ir.Opaque]:
    """A run as `dialect`'s blocks (none for Chat, whose API shows no code run)."""
    if dialect == ANTHROPIC:
        return [ir.Opaque(ANTHROPIC, block) for block in to_anthropic(run)]
    if dialect == RESPONSES:
        return [ir.Opaque(RESPONSES, to_responses(run))]
    if dialect == GEMINI:
        return [ir.Opaque(GEMINI, part) for part in to_gemini(run)]
    return []


def foreign(parts: list[ir.Part], dialect: str) -> list[ir.Part]:
    """`parts` with each run told in another dialect's words put in `dialect`'s, where it came."""
    if not any(isinstance(p, ir.Opaque) and p.dialect != dialect and is_run(p) for p in parts):
        return parts
    out: list[ir.Part] = []
    reader = Reader()
    for part in parts:
        if not isinstance(part, ir.Opaque) or part.dialect == dialect or not is_run(part):
            out.append(part)
        elif (run := reader.read(part)) is not None:
            out += written(run, dialect)
    return out


def told(run: Run) -> str:
    """A run as text, for Claude, which takes back only the code it ran itself."""
    result = "failed" if run.failed else "printed"
    return f"(Ran {run.language} code:\n{run.code}\nIt {result}:\n{run.output or '(nothing)'})"
