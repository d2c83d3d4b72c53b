"""Web fetch for a model whose upstream has none: the client's hosted fetch tool (Anthropic's
`web_fetch_20250910`, Gemini's `urlContext`), run by the gateway with its own fetcher for a turn
routed to a Chat Completions or Responses upstream, which would otherwise go without it (Claude
and Gemini get the tool in their own form, `dialects/tools.py`). On where `[fetch] web_fetch` is.

The model gets a function, `web_fetch`, in the tool's place; when it calls it, the gateway fetches
the page as it fetches any URL (`adapters/fetching.py`: only public addresses unless `[fetch]`
allows more, size and time bounded; the tool's allowed and blocked domains applied), reads its
text (`adapters/documents/reader.py`: HTML, PDF, Office...), gives the model the text (at most the
tool's `max_content_tokens`, four characters a token, else `MAX_CHARS`) and asks again, as the
search layer does (`rounds.py`), `MAX_FETCHES` times at most or the tool's `max_uses`. An Anthropic
client sees each fetch as its API shows one, a `server_tool_use` and its `web_fetch_tool_result`
(the text as a document, or an error code), whole and streamed; earlier turns' fetches reach the
model as the calls they were. A Gemini client gets the answer with its URL context's
`urlContextMetadata`, which names each page and whether it was retrieved (its encoder reads the
same blocks).

Sits between the web search layer and the file search layer, asking the one below once a round.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import tools, web_fetch
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.dialects.openai_responses_request import NAME as RESPONSES
from interlingua.adapters.documents import reader
from interlingua.adapters.fetching import Fetcher
from interlingua.middleware import rounds
from interlingua.middleware.state import OPERATION, REQUEST, TARGETS, state_of

FUNCTION = web_fetch.TOOL
MAX_FETCHES = 5  # rounds a turn may fetch in, before one more is asked for an answer without the tool
MAX_CHARS = 100_000  # of a page's text the model reads, where the tool sets no max_content_tokens
_DIALECTS = frozenset({ANTHROPIC, GEMINI})  # the clients with a hosted fetch tool
_UNFETCHED = frozenset({CHAT.name, RESPONSES})  # the upstreams without one
# Why a fetch failed, in Anthropic's error codes, by the fetcher's or reader's status
_ERROR_CODES = {403: "url_not_allowed", 413: "content_too_large", 415: "unsupported_content_type",
                400: "unsupported_content_type"}


@dataclasses.dataclass(slots=True, frozen=True)
class _Asked:
    """What the client's tool asks of every fetch: domains allowed and blocked, a cap, a length."""

    allowed: tuple[str, ...]
    blocked: tuple[str, ...]
    max_uses: int | None
    max_chars: int


class HostedWebFetchMiddleware:
    def __init__(self, app: Any, fetcher: Fetcher, enabled: bool) -> None:
        self.app = app
        self.fetcher = fetcher
        self.enabled = enabled  # `[fetch] web_fetch`: off, the tool is left out where it has no equivalent

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        request = state.get(REQUEST)
        if (scope["type"] != "http" or not self.enabled or state.get(OPERATION) is not ops.CHAT
                or not isinstance(request, ir.ChatRequest) or request.dialect not in _DIALECTS
                or not _unfetched(state.get(TARGETS)) or not _declared(request)):
            await self.app(scope, receive, send)
            return
        taken = await rounds.claim(self.app, scope, receive, send, request, tools.WEB_FETCH, FUNCTION, _Replay().read)
        if taken is None:
            return
        request, declared = taken
        asked = _asked(declared)
        others = [t for t in request.tools or () if t is not declared]

        async def fetch(calls: list[ir.ToolCall], show: rounds.Show) -> tuple[list[ir.ToolResult], bool]:
            results = []
            for call in calls:
                fetched = await self._fetch(rounds.argument(call.arguments, "url"), asked)
                for block in web_fetch.to_anthropic(fetched):
                    await show(ir.Opaque(ANTHROPIC, block))
                results.append(ir.ToolResult(call.id, [ir.Text(web_fetch.told(fetched))],
                                             is_error=fetched.error is not None))
            return results, False

        working = dataclasses.replace(request, native=None, raw=None, tools=[*others, _FUNCTION])
        await rounds.run(self.app, scope, receive, send, working, _HELD, fetch, rounds=MAX_FETCHES, plain=others,
                         limit=asked.max_uses)

    async def _fetch(self, url: str, asked: _Asked) -> web_fetch.Fetch:
        host = (urlsplit(url).hostname or "").lower() if url.startswith(("https://", "http://")) else ""
        if not host:
            return web_fetch.Fetch(url, error="invalid_tool_input")
        if (asked.allowed and not _within(host, asked.allowed)) or _within(host, asked.blocked):
            return web_fetch.Fetch(url, error="url_not_allowed")
        try:
            page = await self.fetcher.fetch(url)
            text = await reader.document_text(page.body, page.content_type, page.filename)
        except ir.GatewayError as error:
            return web_fetch.Fetch(url, error=_ERROR_CODES.get(error.status, "url_not_accessible"))
        return web_fetch.Fetch(page.url, text[:asked.max_chars], _title(text))


_HELD = frozenset({FUNCTION})
_FUNCTION = ir.Tool(FUNCTION, "Fetch a web page or online document by its full URL (one the user gave or a search "
                              "found) and read its text.",
                    {"type": "object", "properties": {"url": {"type": "string", "description": "The page's URL"}},
                     "required": ["url"]})


def _unfetched(targets: Any) -> bool:
    """Whether the turn goes first to an upstream with no web fetch of its own."""
    return bool(targets) and targets[0].provider.codec.name in _UNFETCHED


def _declared(request: ir.ChatRequest) -> bool:
    return rounds.declares(request, tools.WEB_FETCH, lambda t: str(t.get("type", "")).startswith("web_fetch_20")
                           or "urlContext" in t or "url_context" in t)


def _asked(tool: ir.Tool) -> _Asked:
    spec = tools.hosted_spec(tool)
    uses, tokens = spec.get("max_uses"), spec.get("max_content_tokens")
    return _Asked(_domains(spec.get("allowed_domains")), _domains(spec.get("blocked_domains")),
                  uses if isinstance(uses, int) and uses >= 0 else None,
                  tokens * 4 if isinstance(tokens, int) and tokens > 0 else MAX_CHARS)


def _domains(value: Any) -> tuple[str, ...]:
    return tuple(d.lower().removeprefix("www.") for d in value if isinstance(d, str)) if isinstance(value, list) else ()


def _within(host: str, domains: tuple[str, ...]) -> bool:
    """Whether `host` is one of `domains` or under one (Anthropic's domain lists take subdomains)."""
    host = host.removeprefix("www.")
    return any(host == d or host.endswith("." + d) for d in domains)


def _title(text: str) -> str:
    """A page's first line of text, as its title (the reader keeps none apart)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first.lstrip("# ")[:200]


class _Replay:
    """Earlier turns' fetches (Claude's or the gateway's `web_fetch` pairs) as the calls they were,
    the text they found."""

    def __init__(self) -> None:
        self.uses: dict[str, tuple[ir.ToolCall, str]] = {}  # the calls and their URLs, until their results

    def read(self, part: ir.Part) -> list[ir.Message] | None:
        if not isinstance(part, ir.Opaque) or part.dialect != ANTHROPIC:
            return None
        data = part.data
        if data.get("type") == "server_tool_use" and data.get("name") == FUNCTION:
            given = data.get("input")
            url = given.get("url") if isinstance(given, dict) else None
            call = ir.ToolCall(str(data.get("id")), FUNCTION, orjson.dumps({"url": url or ""}).decode())
            self.uses[call.id] = call, str(url or "")
            return []
        if data.get("type") == web_fetch.RESULT:
            asked = self.uses.pop(str(data.get("tool_use_id")), None)
            if asked is None:
                return []
            used, fetched = asked[0], web_fetch.read(asked[1], data)
            return rounds.exchange(used, ir.ToolResult(used.id, [ir.Text(web_fetch.told(fetched))],
                                                       is_error=fetched.error is not None))
        return None
