"""Overhead benchmark: what does Interlingua add on top of the upstream it forwards to?

One run measures four targets side by side, all on 127.0.0.1:

* **direct** - the client talks straight to a fake OpenAI upstream (the baseline);
* **floor** - a minimal Starlette app on uvicorn that forwards ``POST /v1/chat/completions`` with
  a default ``httpx.AsyncClient()``: the naive floor for this stack, which any gateway built on it
  should beat;
* **ceiling** - a Starlette pass-through with one pooled aiohttp session that parses nothing: no
  gateway on this stack can be faster;
* **interlingua** - ``interlingua serve`` with an OpenAI and an Anthropic provider on the upstream,
  a key with limits and a budget, the ledger on, metrics and request logs off.

(h) measures what observability costs: two such gateways, one with Prometheus metrics and one JSON
log line per request on (**interlingua+observe**), one with both off. Each of seven rounds
(``--rounds``) starts a fresh pair, which starts first alternating, and measures (b) on each three
times in alternation; the verdict is the median of the rounds' ratios of CPU time per request.
Alternation makes a change in the machine's load fall on both alike, and fresh pairs keep one
process's luck out of it: two processes of the same code, both off, differ by up to ±7% for their
whole lives on this machine, so a pair kept for every round measured that as often as the cost.

For each target it measures (a) non-streaming latency one request at a time, p50 and p99, as
latency *added* over direct; (b) non-streaming requests per second over 32 keep-alive
connections; (c) 50-chunk SSE streams one at a time: time to the first ``data:`` event, to the
first text token and to the end. For Interlingua only, (d) to (f) ask for the same upstream stream
as an Anthropic, a Gemini and a Responses client, so the gateway translates it, and time the first
text token those clients see and the end (see ``measure.CLIENT_CASES``); (g) sends a 207 KB
coding agent's turn one request at a time, same dialect and translated.

Why it is built this way:

* The proxy under test runs alone on core 0 (``taskset``), one at a time; the fake upstream and the
  load generator share core 1. Numbers then describe one core of proxy work, not the scheduler.
* The fake upstream (``upstream``) and the load generator (``load``) are raw uvloop protocols with
  prebuilt bytes and llhttp parsing, a few microseconds a request: nowhere near the bottleneck,
  as httpx or aiohttp would be.
* The upstream writes each SSE event as its own HTTP chunk in its own loop iteration, like a model
  emitting tokens as fast as it can, so "first chunk" shows whether a proxy forwards early bytes.
* A response counts only with status 200 and, for a stream, a first text token; the rest are
  counted as errors and the first one reported. Whether each translated stream is well formed is
  the tests' business (tests/test_translated_streams.py), not the timing loop's.

Modules: ``upstream`` and ``floor`` are the servers (each also runs as ``python -m``), ``targets``
starts them and Interlingua, ``load`` generates the requests, ``measure`` runs (a) to (f),
``report`` writes the table and the targets, ``__main__`` is the command line.
"""

HOST = "127.0.0.1"
MODEL = "bench-model"
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
CLAUDE_MODEL = "bench-claude"  # routed by Interlingua to its Anthropic provider (the same upstream)
GATEWAY_KEY = "sk-bench-gateway-key"  # every request carries it: Interlingua runs with keys and limits
UPSTREAM_KEY = "sk-upstream"
