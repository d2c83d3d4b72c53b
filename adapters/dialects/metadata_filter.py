"""Gemini File Search's `metadataFilter` (the AIP-160 filter language Google's APIs share), read into
the filter OpenAI's vector stores take, so one matcher (`openai_vector_stores.matches`) serves both;
a negation is a `not` compound, which only this reader makes.

The part of the language a document's custom metadata can be filtered by: comparisons of a key with
a quoted string or a number (`=`, `!=`, `<`, `<=`, `>`, `>=`, and `:`, which for a string list
asks whether it holds the value), joined by `AND` and `OR` (`AND` binds tighter), negated by `NOT`
or `-`, grouped by parentheses. `author = "Robert Graves" AND year > 1930`.
"""

from __future__ import annotations

import re
from typing import Any

from interlingua.adapters import ir

MAX_LENGTH = 4096
MAX_DEPTH = 8  # as OpenAI's compound filters nest
_TOKEN = re.compile(r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|<|>|:)|(?P<paren>[()])
                        |(?P<minus>-(?![\d.]))|(?P<word>[^\s()"=<>!:]+))""", re.VERBOSE)
_COMPARISONS = {"=": "eq", "!=": "ne", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte", ":": "eq"}
_PARAM = "metadataFilter"


def parse(text: str) -> dict[str, Any] | None:
    """The filter `text` asks for, as an OpenAI filter; None for an empty one."""
    if len(text) > MAX_LENGTH:
        raise ir.invalid(_PARAM, f"is longer than {MAX_LENGTH} characters")
    tokens = _tokens(text)
    if not tokens:
        return None
    reader = _Reader(tokens)
    found = reader.disjunction(0)
    if reader.at < len(tokens):
        raise _wrong(f"unexpected {tokens[reader.at][1]!r}")
    return found


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, at = [], 0
    while at < len(text):
        found = _TOKEN.match(text, at)
        if found is None:
            if text[at:].strip():
                raise _wrong(f"cannot read {text[at:at + 20]!r}")
            break
        at = found.end()
        kind = found.lastgroup
        assert kind is not None
        tokens.append((kind, found.group(kind)))
    return tokens


class _Reader:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise _wrong("it ends too soon")
        self.at += 1
        return token

    def disjunction(self, depth: int) -> dict[str, Any]:
        return self._joined("OR", self.conjunction, depth)

    def conjunction(self, depth: int) -> dict[str, Any]:
        return self._joined("AND", self.term, depth)

    def _joined(self, word: str, inner: Any, depth: int) -> dict[str, Any]:
        terms = [inner(depth)]
        while self._peek() == ("word", word):
            self.at += 1
            terms.append(inner(depth))
        return terms[0] if len(terms) == 1 else {"type": word.lower(), "filters": terms}

    def term(self, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _wrong(f"it nests more than {MAX_DEPTH} deep")
        token = self._take()
        if token == ("word", "NOT") or token[0] == "minus":
            return {"type": "not", "filters": [self.term(depth + 1)]}
        if token == ("paren", "("):
            inner = self.disjunction(depth + 1)
            if self._take() != ("paren", ")"):
                raise _wrong("a parenthesis is not closed")
            return inner
        if token[0] != "word":
            raise _wrong(f"expected a key, found {token[1]!r}")
        operator = self._take()
        if operator[0] != "op":
            raise _wrong(f"expected a comparison after {token[1]!r}")
        return {"type": _COMPARISONS[operator[1]], "key": token[1], "value": _value(self._take())}


def _value(token: tuple[str, str]) -> str | float:
    kind, text = token
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "word":
        try:
            return float(text)
        except ValueError:
            return text  # a bare word, as AIP-160 reads one: a string
    raise _wrong(f"expected a value, found {text!r}")


def _wrong(why: str) -> ir.GatewayError:
    return ir.invalid(_PARAM, f"is not a filter Gemini reads ({why}), such as `author = \"Robert Graves\" AND "
                              "year > 1930`")
