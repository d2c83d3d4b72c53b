"""Prompt caching across dialects. OpenAI and Gemini cache a repeated prompt prefix by themselves
(OpenAI's clients may also mark breakpoints, `prompt_cache_breakpoint`, and turn the automatic one
off with `prompt_cache_options`); Anthropic caches only where a request asks (`cache_control` on a
block, or at the top level for its automatic breakpoint on the last block). So a request of any
other dialect gets, for an Anthropic upstream, what it would have had at home: the automatic
breakpoint unless the client made its breakpoints explicit, and its own breakpoints on the blocks
they mark, at most four in all, as both APIs allow.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f

MAX_BREAKPOINTS = 4
_FIVE_MINUTES = {"type": "ephemeral"}
# OpenAI's lifetimes (30m, 12h) are minimums; Anthropic's longest is an hour, and an hour-long
# breakpoint may not follow a shorter one, so a request that asks any lifetime has all its at 1h.
_AN_HOUR = {"type": "ephemeral", "ttl": "1h"}


def options(body: dict[str, Any]) -> ir.PromptCache | None:
    """`prompt_cache_options`, as both OpenAI dialects take it."""
    raw = f.mapping(body, "prompt_cache_options")
    if raw is None:
        return None
    mode = f.choice(raw, "mode", ("implicit", "explicit"), "prompt_cache_options.")
    return ir.PromptCache(explicit=mode == "explicit", ttl=f.string(raw, "ttl", "prompt_cache_options."))


def marked(part: dict[str, Any], path: str) -> dict[str, Any] | None:
    """A part's breakpoint, as the part's `extra` keeps it; None when it has none."""
    raw = part.get(ir.BREAKPOINT)
    if raw is None:
        return None
    mark = f.obj(raw, f"{path}.{ir.BREAKPOINT}")
    if f.choice(mark, "mode", ("explicit",), f"{path}.{ir.BREAKPOINT}.") is None:
        raise ir.invalid(f"{path}.{ir.BREAKPOINT}.mode", "is required")
    return {ir.BREAKPOINT: mark}


def anthropic_mark(extra: dict[str, Any]) -> dict[str, Any]:
    """A marked part's `cache_control`, before `for_anthropic` settles the request's."""
    mark = extra.get(ir.BREAKPOINT)
    if not isinstance(mark, dict):
        return {}
    return {"cache_control": dict(_AN_HOUR if mark.get("ttl") else _FIVE_MINUTES)}


def for_anthropic(body: dict[str, Any], asked: ir.PromptCache | None) -> None:
    """The breakpoints of an Anthropic body made from another dialect's request: the last marked
    blocks (three when the automatic breakpoint takes the fourth place) and the automatic one."""
    explicit = asked is not None and asked.explicit
    room = MAX_BREAKPOINTS if explicit else MAX_BREAKPOINTS - 1
    blocks = _marked(body)
    for block in blocks[:max(len(blocks) - room, 0)]:
        del block["cache_control"]
    kept = blocks[max(len(blocks) - room, 0):]
    long = (asked is not None and asked.ttl is not None) or any("ttl" in b["cache_control"] for b in kept)
    control = _AN_HOUR if long else _FIVE_MINUTES
    for block in kept:
        block["cache_control"] = dict(control)
    if not explicit:
        body["cache_control"] = dict(control)


def _marked(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The body's blocks with a `cache_control`, in prompt order (system, then messages, a tool
    result's blocks after it). A block is looked at once: a coding agent's turn has hundreds."""
    system = body.get("system")
    found = [block for block in system if "cache_control" in block] if isinstance(system, list) else []
    for message in body["messages"]:
        content = message["content"]
        if not isinstance(content, list):
            continue
        for block in content:
            if "cache_control" in block:
                found.append(block)
            inner = block.get("content")
            if inner.__class__ is list:  # a tool result's blocks
                found.extend(b for b in inner if "cache_control" in b)
    return found
