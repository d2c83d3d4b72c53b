"""What the search and rerank kinds share: one capability, a default model, JSON over the pool.

A kind here does not chat. It serves one capability (`serves`), with `default` as the model when
a client names none (the catalog routes `search` or the provider's bare name there). Its upstream
speaks its own small JSON API, so errors are read from the usual shapes of such APIs (`message`,
`detail`, `error`) rather than a chat dialect's. A kind whose service cannot work without a key
names the variable (`key_env`): a request to it without one is a 400 that says what to set, and
`interlingua check` reports it before anything is served.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.providers.base import Provider
from interlingua.adapters.replies import Reply

_TAGS = re.compile(r"<[^>]+>")


class RetrievalProvider(Provider):
    codec = CHAT  # never used to chat: `chat` refuses
    chat_path = ""
    serves: ClassVar[str]  # search or rerank
    default: ClassVar[str]
    auth_scheme: ClassVar[str] = "bearer"  # or the name of the header that carries the key

    def auth_headers(self, key: str | None) -> dict[str, str]:
        if not key:
            return {}
        return {"authorization": f"Bearer {key}"} if self.auth_scheme == "bearer" else {self.auth_scheme: key}

    def capabilities(self, model: str) -> tuple[str, ...]:
        return (self.serves,)

    def model_for(self, capability: str) -> str | None:
        return self.default if capability == self.serves else None

    async def chat(self, request: ir.ChatRequest, model: str) -> Reply:
        raise ir.GatewayError("invalid_request", f"model {self.name}/{model} does not chat", param="model")

    def require_key(self) -> None:
        missing = self.missing_key()
        if missing:
            raise ir.GatewayError("invalid_request", f"provider {self.name} ({self.kind}) has no key: set {missing}",
                                  param="model", code="missing_key")

    async def get_json(self, path: str, query: dict[str, str]) -> Any:
        self.require_key()
        return self.parse(await self.read(await self.open(path, b"", query=query)))

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        self.require_key()
        return self.parse(await self.read(await self.open(path, orjson.dumps(body))))

    def decode_error(self, status: int, raw: bytes) -> ir.GatewayError:
        return f.error_from_body(status, raw, _error_from_payload)

    def collect(self, results: Any, hit: Callable[[dict[str, Any]], ir.SearchHit],
                request: ir.SearchRequest) -> ir.SearchResults:
        """A search API's list of results as hits (those with a URL), kept to the request's domains and limit."""
        if not isinstance(results, list):
            raise self.malformed("`results`")
        with self.reading():  # a title or snippet of another type than the API's
            return keep([hit(r) for r in results if isinstance(r, dict) and isinstance(r.get("url"), str)], request)


def _error_from_payload(status: int, payload: Any) -> ir.GatewayError:
    """`{"message"}` (Cohere), `{"detail"}` (Jina, Voyage, Tavily, FastAPI servers), `{"error"}`
    as a string or an object (TEI, OpenAI-compatible servers, Brave's `error.detail`)."""
    found: Any = payload
    for _ in range(3):
        if not isinstance(found, dict):
            break
        found = next((found[k] for k in ("message", "detail", "error") if found.get(k)), None)
    message = found if isinstance(found, str) else f"upstream answered {status}"
    return f.upstream_error(status, message)


# Search results -----------------------------------------------------------------------------------


def plain(text: Any) -> str:
    """A snippet as text: some engines mark the matched words up in HTML."""
    return _TAGS.sub("", text) if isinstance(text, str) else ""


def host_matches(url: str, domains: list[str]) -> bool:
    """Whether `url`'s host is one of `domains` or under one of them."""
    host = url.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":")[0].lower()
    return any(host == d or host.endswith("." + d) for d in (d.lower().lstrip(".") for d in domains))


def keep(hits: list[ir.SearchHit], request: ir.SearchRequest) -> ir.SearchResults:
    """The first `limit` hits that satisfy the request's domains, whatever the backend did with them."""
    included, excluded = request.included, request.excluded
    kept = [h for h in hits if (not included or host_matches(h.source, included))
            and not (excluded and host_matches(h.source, excluded))]
    return ir.SearchResults(kept[:request.limit])


def given(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: an API's optional parameters, sent only when the client set them."""
    return {name: value for name, value in fields.items() if value}


def site_operators(request: ir.SearchRequest) -> str:
    """The domains as query operators, for engines that read `site:` in the query text."""
    included = " OR ".join(f"site:{d}" for d in request.included)
    excluded = " ".join(f"-site:{d}" for d in request.excluded)
    return " ".join(part for part in (request.query, f"({included})" if len(request.included) > 1 else included,
                                      excluded) if part)


# Rerank results -----------------------------------------------------------------------------------


def ranked(provider: RetrievalProvider, items: Any, request: ir.RerankRequest, model: str,
           score: str = "relevance_score", usage: ir.Usage | None = None) -> ir.RerankResponse:
    """An upstream's `[{"index", <score>}]` checked and sorted: each index once, within the request."""
    if not isinstance(items, list):
        raise provider.malformed("a list of results")
    out: list[ir.Ranked] = []
    seen: set[int] = set()
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        value = item.get(score) if isinstance(item, dict) else None
        if (not isinstance(index, int) or not 0 <= index < len(request.texts) or index in seen
                or not isinstance(value, int | float)):
            raise provider.malformed(f"results of a valid `index` and `{score}`")
        seen.add(index)
        out.append(ir.Ranked(index, float(value)))
    out.sort(key=lambda r: (-r.score, r.index))
    return ir.RerankResponse(model, out[:request.limit] if request.limit else out, usage)


def usage_of(payload: Any) -> ir.Usage | None:
    """`usage.total_tokens` (Jina, Voyage, vLLM, llama.cpp) as input tokens."""
    usage = f.sub(payload, "usage") if isinstance(payload, dict) else {}
    return ir.Usage(input_tokens=f.count(usage, "total_tokens")) if "total_tokens" in usage else None
