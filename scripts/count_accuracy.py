#!/usr/bin/env python3
"""How far the offline token estimate is from exact counts, for the README.

`count_tokens` on an upstream without a counting endpoint uses the model family's own tokenizer
when quicktok bundles it (exact for text) and o200k otherwise. This measures what "otherwise"
costs: o200k's count against the exact Llama 3 and Qwen tokenizers, and against cl100k (older
OpenAI models), on three kinds of text found offline on any machine: English prose (the standard
library's docstrings), Python code (its sources) and JSON tool schemas (Claude Code's, from
tests/fixtures/clients). Claude's tokenizer is not public, so for Anthropic upstreams the gateway always
asks Anthropic's counting endpoint instead.

    .venv/bin/python scripts/count_accuracy.py
"""

from __future__ import annotations

import ast
import json
import sysconfig
from pathlib import Path

import quicktok

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "clients" / "claude.first-request.json"


def prose(limit: int = 400) -> list[str]:
    """Docstrings of the standard library, read with `ast` so that nothing is imported."""
    docs: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        tree = ast.parse(path.read_text(errors="replace"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    docs.append(doc)
        if len(docs) >= limit:
            break
    return docs


def code(limit: int = 200) -> list[str]:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:limit]
    return [f.read_text(errors="replace") for f in files]


def schemas() -> list[str]:
    if not FIXTURE.exists():
        return []
    tools = json.loads(FIXTURE.read_text())["body"]["tools"]
    return [json.dumps(t) for t in tools]


def total(encoding: str, texts: list[str]) -> int:
    return int(quicktok.count_batch(quicktok.get_encoding(encoding), texts).sum())


def main() -> None:
    corpora = {"English prose": prose(), "Python code": code(), "JSON tool schemas": schemas()}
    exact = ("llama3", "qwen3", "cl100k_base")
    print("| text | o200k tokens | " + " | ".join(f"vs {e}" for e in exact) + " |")
    print("|---|---|" + "---|" * len(exact))
    for name, texts in corpora.items():
        if not texts:
            continue
        estimate = total("o200k_base", texts)
        cells = [f"{100 * (estimate - total(e, texts)) / total(e, texts):+.1f}%" for e in exact]
        print(f"| {name} ({len(texts)} texts) | {estimate:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
