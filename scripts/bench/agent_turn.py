"""A coding agent's turn, as Claude Code sends it: the whole conversation again, about 200 KB.

Built, not recorded, so that it is deterministic and carries no one's code: a long system prompt
(as a list of text blocks with `cache_control`), 24 tools with JSON Schemas of the size Claude
Code's are, and 123 messages of an agent at work: user requests, assistant text with `tool_use`
blocks, and `tool_result` blocks holding file contents and command output. The fields and their
shapes are those of Anthropic's Messages API.
"""

from __future__ import annotations

from typing import Any

import orjson

TOOLS = 24
MESSAGES = 123
TARGET_BYTES = 210_000

_CODE = ("def handler(request, context):\n    \"\"\"Serve one request: parse, validate, dispatch.\"\"\"\n"
         "    body = parse(request.body)\n    if not body.valid:\n        return error(400, body.reason)\n"
         "    return dispatch(context, body)\n\n")


def _schema(index: int) -> dict[str, Any]:
    described = "and the values it accepts, in the detail an agent's tools document them."
    properties: dict[str, Any] = {
        f"param_{j}": {"type": "string", "description": f"What parameter {j} of tool {index} means, {described}"}
        for j in range(6)}
    properties["options"] = {"type": "object", "properties": {"recursive": {"type": "boolean"},
                                                              "limit": {"type": "integer", "minimum": 1}}}
    return {"type": "object", "properties": properties, "required": ["param_0"], "additionalProperties": False}


def _tools() -> list[dict[str, Any]]:
    return [{"name": f"tool_{i}", "description": ("Use this tool to act on the workspace. " * 12).strip(),
             "input_schema": _schema(i)} for i in range(TOOLS)]


def _message(index: int, filler: int) -> dict[str, Any]:
    if index == 0:
        ask = "Refactor the request handlers and run the tests."
        return {"role": "user", "content": [{"type": "text", "text": ask}]}
    if index % 2 == 1:
        return {"role": "assistant", "content": [
            {"type": "text", "text": "I will look at the next file and change what it needs."},
            {"type": "tool_use", "id": f"toolu_{index:022d}", "name": f"tool_{index % TOOLS}",
             "input": {"param_0": f"src/module_{index}.py", "options": {"recursive": False, "limit": 200}}}]}
    return {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": f"toolu_{index - 1:022d}",
         "content": [{"type": "text", "text": _CODE * filler}]}]}


def agent_turn(model: str) -> dict[str, Any]:
    """The request body, about `TARGET_BYTES` long, for `model`."""
    system = [{"type": "text", "text": "You are an interactive coding agent working in the user's repository. " * 60,
               "cache_control": {"type": "ephemeral"}}]
    base = {"model": model, "max_tokens": 32000, "system": system, "tools": _tools(), "stream": False}
    messages = [_message(i, 0) for i in range(MESSAGES)]
    spare = TARGET_BYTES - len(orjson.dumps({**base, "messages": messages}))
    results = sum(1 for i in range(MESSAGES) if i and i % 2 == 0)
    filler = max(1, spare // (results * (len(_CODE) + 8)))
    return {**base, "messages": [_message(i, filler) for i in range(MESSAGES)]}
