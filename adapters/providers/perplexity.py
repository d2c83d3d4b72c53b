"""The `perplexity` kind: Perplexity's research model through its Chat Completions API
(`POST {url}/chat/completions`, default `https://api.perplexity.ai`), for `/v1/research`.

The default model is `sonar-deep-research`. Its answer cites `[n]` for `citations[n - 1]`, which
become the report's sources (`adapters/research/upstream.py`). For chat, configure Perplexity as
an `openai` provider instead: this kind only researches.
"""

from __future__ import annotations

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider
from interlingua.adapters.replies import Reply
from interlingua.adapters.research.upstream import answer, perplexity_report


class PerplexityProvider(RetrievalProvider):
    kind = "perplexity"
    serves = "research"
    default = "sonar-deep-research"
    key_env = "PERPLEXITY_API_KEY"

    async def research(self, request: ir.ResearchRequest, model: str) -> Reply:
        payload = await self.post_json("/chat/completions", {
            "model": model, "messages": [{"role": "user", "content": request.input}]})
        report = perplexity_report(payload)
        if report is None:
            raise self.malformed("a chat completion")
        return answer(report, request.stream)
