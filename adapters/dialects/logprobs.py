"""Log probabilities in the words of each dialect that has them, to and from the IR's
`TokenLogprob`: OpenAI's (Chat's `logprobs.content` and the Responses `output_text.logprobs`, one
shape) and Gemini's `logprobsResult` (the chosen tokens and, position by position, the likeliest).
Anthropic's API has none.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir


def from_openai(raw: Any) -> list[ir.TokenLogprob] | None:
    """`[{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]`; None where there is no list."""
    if not isinstance(raw, list):
        return None
    return [_openai_token(t, True) for t in raw if isinstance(t, dict)]


def _openai_token(raw: dict[str, Any], deep: bool) -> ir.TokenLogprob:
    top = raw.get("top_logprobs") if deep else None
    given = raw.get("bytes")
    return ir.TokenLogprob(str(raw.get("token") or ""), _number(raw.get("logprob")),
                           [_openai_token(t, False) for t in top if isinstance(t, dict)] if isinstance(top, list)
                           else [],
                           [b for b in given if isinstance(b, int)] if isinstance(given, list) else None)


def to_openai(tokens: list[ir.TokenLogprob]) -> list[dict[str, Any]]:
    return [{**_openai_entry(t), "top_logprobs": [_openai_entry(top) for top in t.top]} for t in tokens]


def streamed(entry: dict[str, Any]) -> dict[str, Any]:
    """A token as a Responses stream's text delta words it: no bytes."""
    return {"token": entry["token"], "logprob": entry["logprob"],
            "top_logprobs": [{"token": t["token"], "logprob": t["logprob"]} for t in entry["top_logprobs"]]}


def _openai_entry(token: ir.TokenLogprob) -> dict[str, Any]:
    return {"token": token.token, "logprob": token.logprob,
            "bytes": token.bytes if token.bytes is not None else list(token.token.encode())}


def from_gemini(raw: Any) -> list[ir.TokenLogprob] | None:
    """A candidate's `logprobsResult`: `chosenCandidates[i]`, with `topCandidates[i].candidates`."""
    if not isinstance(raw, dict):
        return None
    chosen = raw.get("chosenCandidates", raw.get("chosen_candidates"))
    if not isinstance(chosen, list):
        return None
    tops = raw.get("topCandidates", raw.get("top_candidates"))
    tops = tops if isinstance(tops, list) else []
    out = []
    for i, pick in enumerate(chosen):
        if not isinstance(pick, dict):
            continue
        at = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        out.append(ir.TokenLogprob(*_gemini_pair(pick), [ir.TokenLogprob(*_gemini_pair(c))
                                                        for c in at.get("candidates") or () if isinstance(c, dict)]))
    return out


def _gemini_pair(raw: dict[str, Any]) -> tuple[str, float]:
    return str(raw.get("token") or ""), _number(raw.get("logProbability", raw.get("log_probability")))


def to_gemini(tokens: list[ir.TokenLogprob]) -> dict[str, Any]:
    return {"topCandidates": [{"candidates": [_gemini_entry(top) for top in t.top]} for t in tokens],
            "chosenCandidates": [_gemini_entry(t) for t in tokens],
            "logProbabilitySum": sum(t.logprob for t in tokens)}


def _gemini_entry(token: ir.TokenLogprob) -> dict[str, Any]:
    return {"token": token.token, "logProbability": token.logprob}


def split(tokens: list[ir.TokenLogprob], texts: list[str]) -> list[list[ir.TokenLogprob]]:
    """The tokens of text told in several parts, each part's own: a token goes to the part its
    text starts in; what is left over, to the last."""
    out: list[list[ir.TokenLogprob]] = [[] for _ in texts]
    if not texts:
        return out
    part, used, ends = 0, 0, len(texts[0])
    for token in tokens:
        while used >= ends and part < len(texts) - 1:
            part += 1
            ends += len(texts[part])
        out[part].append(token)
        used += len(token.token)
    return out


def cut(tokens: list[ir.TokenLogprob] | None, length: int) -> list[ir.TokenLogprob] | None:
    """The tokens of a text's first `length` characters: those that start within them."""
    if tokens is None:
        return None
    out, used = [], 0
    for token in tokens:
        if used >= length:
            break
        out.append(token)
        used += len(token.token)
    return out


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
