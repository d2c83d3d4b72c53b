"""Speed of the retrieval utilities, on one core.

    .venv/bin/python scripts/bench_retrieval.py rerank      # local rerank of 100 passages of 100 words
    .venv/bin/python scripts/bench_retrieval.py search      # what /v1/search adds over its upstream
    .venv/bin/python scripts/bench_retrieval.py research    # what /v1/research adds over its upstream calls
    .venv/bin/python scripts/bench_retrieval.py vector      # a vector store file indexed, and the store searched

`rerank` times `Fusion.rank` in-process (the backend's work, no HTTP), p50 of `--runs`: cold, with
passages never seen (every one embedded), and warm, the same passages again (their vectors cached,
only the query embedded), the way a RAG pipeline reranks the same chunks.

`vector` indexes a text of 50,000 words as a vector store file is indexed (OpenAI's default chunks,
800 tokens sharing 400, the text embedded once in windows) and times searches of the resulting store,
in-process: the query embedded, every window scored, and BM25 fused over the best 100 chunks
(`ranker: auto`), or the cosine alone (`ranker: none`).

`search` and `research` run `interlingua serve` as its own process and the test suite's fakes on
loopback in this one, and compare the p50 of a request through the gateway with the p50 of the
same upstream calls made directly: for search, one Tavily call; for research, the agent's own
sequence (a plan, a search, two page fetches, a reading, a streamed report) made by a plain
client. The gateway runs alone on core 1, this process on core 0. (Served inside the test
harness's event loop instead, every request gains about 40 ms, the harness's and not the
gateway's: `scripts/bench` measures a separate process for that reason.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402

from interlingua.adapters.local import vector_index  # noqa: E402
from interlingua.adapters.local.fusion import Fusion  # noqa: E402
from interlingua.adapters.local.minilm import MiniLM  # noqa: E402

WORDS = ("gateway model upstream request stream token cache latency search page answer question report source "
         "vector index query passage score rank fusion client server error limit key route provider").split()


def passages(seed: int, count: int = 100, words: int = 100) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(count)]


def rerank(runs: int) -> None:
    fusion = Fusion(MiniLM())
    fusion.rank("warm up", passages(-1, 4))
    cold, warm = [], []
    for run in range(runs):
        texts = passages(run)
        started = time.perf_counter()
        fusion.rank("which request hit the cache", texts)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        fusion.rank("which stream reached the client", texts)
        warm.append(time.perf_counter() - started)
    print(f"local rerank, 100 passages of 100 words, {runs} runs, one core:")
    print(f"  cold (every passage embedded): p50 {statistics.median(cold) * 1000:.0f} ms")
    print(f"  warm (passage vectors cached): p50 {statistics.median(warm) * 1000:.1f} ms")


def vector(runs: int) -> None:
    minilm = MiniLM()
    minilm.embed(["warm up"])
    text = " ".join(passages(7, 500))
    started = time.perf_counter()
    chunks = vector_index.cut(text, "text/plain", 800, 400)
    cut = time.perf_counter() - started
    vectors = vector_index.embed(minilm, text, chunks, 800)
    indexed = time.perf_counter() - started
    index = vector_index.Index(1, [vector_index.Chunk("file-1", "a.txt", {}, c.text, v)
                                   for c, v in zip(chunks, vectors, strict=True)])
    allowed = np.ones(len(chunks), dtype=bool)
    started = time.perf_counter()
    index.search(minilm, ["which cache"], allowed, 10, True, 0.0)
    first = (time.perf_counter() - started) * 1000
    timings = {}
    for rank in (True, False):
        times = []
        for run in range(runs):
            started = time.perf_counter()
            index.search(minilm, [f"which {WORDS[run % len(WORDS)]} reached the client"], allowed, 10, rank, 0.0)
            times.append(time.perf_counter() - started)
        timings[rank] = statistics.median(times) * 1000
    print(f"vector store file of 50,000 words: {len(chunks)} chunks, {len(index.matrix)} windows; cut in "
          f"{cut:.2f} s, indexed (cut and embedded) in {indexed:.1f} s on one core")
    print(f"  search, {runs} runs: p50 {timings[True]:.1f} ms (ranker auto), {timings[False]:.1f} ms (ranker none); "
          f"the first fused search, which makes the BM25 index, {first:.0f} ms")


@asynccontextmanager
async def served(providers: str) -> AsyncIterator[str]:
    """`interlingua serve` with these `[providers.*]` tables, ledger off; its base URL."""
    with tempfile.TemporaryDirectory() as data:
        config = Path(data) / "gateway.toml"
        config.write_text(f'[server]\ndata_dir = "{data}"\nledger = false\n{providers}')
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        process = subprocess.Popen([str(ROOT / ".venv/bin/interlingua"), "serve", "--config", str(config), "--port",
                                    str(port)], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(process.pid, {1})  # the gateway alone on core 1; fakes and client on core 0
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    try:
                        async with http.get(f"{url}/v1/models"):
                            break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.05)
            yield url
        finally:
            process.terminate()
            process.wait()


async def fetch(http: aiohttp.ClientSession, method: str, url: str, **options: Any) -> bytes:
    async with http.request(method, url, **options) as response:
        return await response.read()


async def p50(call: Callable[[], Awaitable[object]], runs: int) -> float:
    for _ in range(min(20, runs)):
        await call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def search(runs: int) -> None:
    from tests.fakes.search_upstream import KEYS, FakeSearch

    async with FakeSearch("tavily") as fake, served(f'[providers.tav]\ntype = "tavily"\nurl = "{fake.url}"\n'
                                                     f'key = "{KEYS["tavily"]}"\n') as url, \
            aiohttp.ClientSession() as http:
        body = {"query": "python async", "max_results": 5, "search_depth": "basic"}
        direct = await p50(lambda: fetch(http, "POST", f"{fake.url}/search", json=body,
                                         headers={"authorization": f"Bearer {KEYS['tavily']}"}), runs)
        through = await p50(lambda: fetch(http, "POST", f"{url}/v1/search",
                                          json={"query": "python async", "limit": 5}), runs)
    print(f"search, {runs} requests each: upstream direct p50 {direct:.2f} ms, through the gateway "
          f"{through:.2f} ms, added {through - direct:+.2f} ms (a client-to-gateway hop included)")


async def research(runs: int) -> None:
    from tests.fakes import openai_upstream as fo
    from tests.fakes.search_upstream import FakeSearch
    from tests.test_research import PLAN, READ, REPORT, pages

    async with pages() as site, fo.FakeOpenAI() as chat:
        hits = [(f"{site}/loop.html", "Event loop", "x"), (f"{site}/tasks.html", "Tasks", "y")]
        async with FakeSearch("searxng", hits) as web, served(
                f'[providers.up]\ntype = "openai"\nurl = "{chat.url}"\nmodels = ["gpt-x"]\n'
                f'[providers.web]\ntype = "searxng"\nurl = "{web.url}"\n'
                '[providers.deep]\ntype = "research"\nchat = "up/gpt-x"\nsearch = "web"\n'
                'fetch_allow = ["127.0.0.1"]\n') as url, aiohttp.ClientSession() as http:
            ask = {"model": "gpt-x", "messages": [{"role": "user", "content": "q"}]}

            async def direct() -> None:
                chat.script(fo.text(PLAN), fo.text(READ), fo.text(*REPORT))
                await fetch(http, "POST", f"{chat.url}/chat/completions", json=ask)
                await fetch(http, "GET", f"{web.url}/search", params={"q": "q", "format": "json"})
                await fetch(http, "GET", hits[0][0])
                await fetch(http, "GET", hits[1][0])
                await fetch(http, "POST", f"{chat.url}/chat/completions", json=ask)
                await fetch(http, "POST", f"{chat.url}/chat/completions", json={**ask, "stream": True})

            async def through() -> None:
                chat.script(fo.text(PLAN), fo.text(READ), fo.text(*REPORT))
                await fetch(http, "POST", f"{url}/v1/research", json={"input": "q", "model": "deep"},
                            headers={"accept": "text/event-stream"})

            plain = await p50(direct, runs)
            agent = await p50(through, runs)
    print(f"research, {runs} runs each: the agent's upstream calls made directly p50 {plain:.2f} ms, through "
          f"/v1/research {agent:.2f} ms, added {agent - plain:+.2f} ms (HTML extraction of two pages, prompts, "
          "events and a client-to-gateway hop included)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("rerank", "search", "research", "vector"))
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    if args.what == "rerank":
        rerank(args.runs or 15)
    elif args.what == "vector":
        vector(args.runs or 50)
    elif args.what == "search":
        asyncio.run(search(args.runs or 300))
    else:
        asyncio.run(research(args.runs or 50))
    return 0


if __name__ == "__main__":
    sys.exit(main())
