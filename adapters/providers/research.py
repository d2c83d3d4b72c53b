"""The `research` kind: the gateway's own research agent (`adapters/research/agent.py`), built from
a chat model and a search provider that the config names, both routed like any client's request
(aliases and fallbacks included), and the shared SSRF-safe fetcher and document reader for pages.

It needs the catalog to find those models, which exists only once every provider does, so the
app binds it (`bind`) after building the catalog. A streamed request is answered with the agent's
progress as it happens; a whole one with its report.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from interlingua.adapters import ir
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.documents.reader import document_text
from interlingua.adapters.fetching import Fetcher
from interlingua.adapters.providers import routed
from interlingua.adapters.providers.base import Provider, Target
from interlingua.adapters.replies import Events, Reply, Result
from interlingua.adapters.research import agent

T = TypeVar("T")

MODEL = "agent"
REPORT_TOKENS = 4000  # the longest report asked for


class ResearchProvider(Provider):
    kind = "research"
    codec = CHAT  # never used to chat: `chat` refuses
    chat_path = ""

    def __init__(self, name: str, url: str = "", research: agent.Settings | None = None, **kwargs: Any) -> None:
        super().__init__(name, url or "http://local.invalid", **kwargs)
        if research is None:
            raise ValueError(f"provider {name}: type research needs its settings (chat, search)")
        self.settings = research
        hosts = [h for h in research.fetch_allow if not _is_network(h)]
        self.fetcher = Fetcher(allow_hosts=hosts, allow_networks=[h for h in research.fetch_allow if _is_network(h)])
        self.routes: routed.Routes = lambda model: None

    def bind(self, routes: routed.Routes) -> None:
        """How the agent finds its chat model and search provider: the catalog's `resolve`."""
        self.routes = routes

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {}

    def capabilities(self, model: str) -> tuple[str, ...]:
        return ("research",)

    def model_for(self, capability: str) -> str | None:
        return MODEL if capability == "research" else None

    async def chat(self, request: ir.ChatRequest, model: str) -> Reply:
        raise ir.GatewayError("invalid_request", f"model {self.name}/{model} does not chat", param="model")

    async def research(self, request: ir.ResearchRequest, model: str) -> Reply:
        tools = agent.Tools(ask=self._ask, write=self._write, search=self._search, read=self._read)
        events = agent.research(request.input, self.settings, tools)
        if not request.stream:
            return Result(await agent.report_of(events))
        return Events(_batches(events), events.aclose)

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        await super().aclose()

    # The agent's tools -----------------------------------------------------------------------

    async def _first(self, model: str, capability: str, call: Callable[[Target], Awaitable[T]]) -> T:
        return await routed.first(routed.targets(self.routes, model, capability, f"research provider {self.name}"),
                                  call)

    def _chat_request(self, system: str, user: str, stream: bool) -> ir.ChatRequest:
        return ir.ChatRequest(model=self.settings.chat, dialect=CHAT.name, stream=stream, stream_usage=stream,
                              max_tokens=REPORT_TOKENS, messages=[ir.Message("system", [ir.Text(system)]),
                                                                  ir.Message("user", [ir.Text(user)])])

    async def _ask(self, system: str, user: str) -> tuple[str, ir.Usage | None]:
        async def call(target: Target) -> ir.ChatResponse:
            reply = await target.provider.chat(self._chat_request(system, user, False), target.model)
            if not isinstance(reply, Result) or not isinstance(reply.result, ir.ChatResponse):
                raise ir.GatewayError("upstream", f"upstream {target.label} gave no chat answer", retryable=True)
            return reply.result

        response = await self._first(self.settings.chat, "chat", call)
        parts = response.choices[0].message.parts if response.choices else []
        return "".join(p.text for p in parts if isinstance(p, ir.Text)), response.usage

    async def _write(self, system: str, user: str) -> AsyncIterator[str | ir.Usage]:
        async def call(target: Target) -> Events:
            reply = await target.provider.chat(self._chat_request(system, user, True), target.model)
            if not isinstance(reply, Events):
                raise ir.GatewayError("upstream", f"upstream {target.label} gave no stream", retryable=True)
            return reply

        reply = await self._first(self.settings.chat, "chat", call)
        try:
            async for batch in reply.events:
                for event in batch:
                    if isinstance(event, ir.TextDelta):
                        yield event.text
                    elif isinstance(event, ir.UsageReport):
                        yield event.usage
        finally:
            await reply.close()

    async def _search(self, query: str, limit: int) -> list[ir.SearchHit]:
        request = ir.SearchRequest(model=self.settings.search, query=query, dialect=CHAT.name, limit=limit)
        return (await routed.search(self.routes, request, f"research provider {self.name}")).hits

    async def _read(self, url: str) -> str:
        fetched = await self.fetcher.fetch(url)
        return await document_text(fetched.body, fetched.content_type, fetched.filename)


async def _batches(events: AsyncIterator[ir.Progress | ir.UsageReport]) -> AsyncIterator[list[ir.StreamEvent]]:
    async for event in events:
        yield [event]


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
