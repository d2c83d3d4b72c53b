"""The gateway's Prometheus metrics: what each request did, in series whose number stays bounded.

One `Metrics` owns its own registry, so two gateways in one process (tests, an app mounting two)
do not collide. With several worker processes, prometheus-client's multiprocess mode keeps each
process's values in memory-mapped files in one directory, and a scrape of any worker sums them:
`prepare_multiprocess` makes that directory empty before the workers start (a leftover file would
count a dead process's requests again), and `Metrics(multiprocess_dir=...)` switches the client
to it. The client reads the mode once, when it makes a value, which is why the switch is made here
and not left to the environment variable alone: this module is often imported before the CLI has
chosen the directory.

The hot path only keeps each request's `Outcome`; at most `TALLY_SECONDS` later the batch is
tallied into plain integers and floats (a bucket index found by bisection), and the tallies go
into prometheus-client's values at most `SYNC_SECONDS` later, at a scrape, or at close. The batch
is tallied young because a second's outcomes no longer fit the CPU's caches: tallied after a
second they cost twice as much to read. prometheus-client's own `observe` and `inc` take a lock
and validate on every call, which cost a few per cent of the gateway's throughput; its histograms
keep per-bucket (not cumulative) values, so a tally adds to them as `observe` would. With several
workers, a scrape sees another worker's requests at most `SYNC_SECONDS` late.

Label values come from bounded sets. A model name the catalog does not know becomes "unknown"
unless the request succeeded, and then only the first `MAX_DYNAMIC` such names get a series of
their own: a client's typos cannot grow the series without end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values

from interlingua.middleware.outcome import Outcome

# Sub-millisecond buckets first, so the gateway's own overhead is resolved, not only upstream waits.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
           1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
UNKNOWN = "unknown"
MAX_DYNAMIC = 100
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SYNC_SECONDS = 1.0
TALLY_SECONDS = 0.05
_BOUNDS_MS = (*(bound * 1000 for bound in BUCKETS), float("inf"))  # an `Outcome`'s times are milliseconds
TOKEN_KINDS = ("input", "cached", "output", "reasoning")
_REQUEST_LABELS = ("dialect", "operation", "model", "upstream", "status_class")
_LATENCY_LABELS = ("dialect", "operation", "model", "upstream")


def prepare_multiprocess(directory: Path) -> None:
    """Make `directory` empty and tell prometheus-client to use it; call before workers start."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


class Bounded:
    """Label values: the known ones, plus at most `limit` more that succeeded; the rest one value."""

    __slots__ = ("known", "limit")

    def __init__(self, known: Iterable[str], limit: int = MAX_DYNAMIC) -> None:
        self.known = set(known)
        self.limit = limit + len(self.known)

    def add(self, values: Iterable[str]) -> None:
        """Know `values` too (a reloaded config's names), without taking room from the dynamic ones."""
        new = set(values) - self.known
        self.known |= new
        self.limit += len(new)

    def __call__(self, value: str, succeeded: bool) -> str:
        if value in self.known or not value:
            return value
        if succeeded and len(self.known) < self.limit:
            self.known.add(value)
            return value
        return UNKNOWN


class _Tally:
    """One label set's requests since the last sync (times in milliseconds), and the
    prometheus-client children they go to."""

    __slots__ = ("model", "children", "count", "duration", "duration_sum", "ttfb", "ttfb_sum")

    def __init__(self, model: str, children: tuple[Any, Any, Any]) -> None:
        self.model = model  # the label, for the token counts
        self.children = children
        self.count = 0
        self.duration = [0] * len(_BOUNDS_MS)
        self.duration_sum = 0.0
        self.ttfb = [0] * len(_BOUNDS_MS)
        self.ttfb_sum = 0.0

    def sync(self) -> None:
        if self.count:
            self.children[0].inc(self.count)
            self.count = 0
            _add(self.children[1], self.duration, self.duration_sum / 1000)
            self.duration_sum = 0.0
        if any(self.ttfb):
            _add(self.children[2], self.ttfb, self.ttfb_sum / 1000)
            self.ttfb_sum = 0.0


def _add(histogram: Any, buckets: list[int], total: float) -> None:
    """Add tallied observations to a histogram child, as as many `observe` calls would."""
    for i, count in enumerate(buckets):
        if count:
            histogram._buckets[i].inc(count)
            buckets[i] = 0
    histogram._sum.inc(total)


class Metrics:
    """Every series the gateway exports; `render()` is the text a scrape gets."""

    def __init__(self, models: Iterable[str] = (), upstreams: Iterable[str] = (),
                 multiprocess_dir: str | os.PathLike[str] | None = None) -> None:
        self.multiprocess_dir = str(multiprocess_dir) if multiprocess_dir else None
        if self.multiprocess_dir:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.multiprocess_dir
        if bool(self.multiprocess_dir) != getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.MultiProcessValue() if self.multiprocess_dir else values.MutexValue
        self.models = Bounded(models)
        self.upstreams = Bounded(upstreams)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("interlingua_requests", "Requests answered, by status class (2xx, 4xx, ...)",
                                _REQUEST_LABELS, registry=r)
        self.duration = Histogram("interlingua_request_duration_seconds", "Time from request to the answer's end",
                                  _LATENCY_LABELS, buckets=BUCKETS, registry=r)
        self.ttfb = Histogram("interlingua_time_to_first_byte_seconds", "Time from request to the answer's first byte",
                              _LATENCY_LABELS, buckets=BUCKETS, registry=r)
        self.tokens = Counter("interlingua_tokens", "Tokens metered, by kind (input, cached, output, reasoning)",
                              ("key", "model", "kind"), registry=r)
        self.upstream_errors = Counter("interlingua_upstream_errors", "Upstream tries that failed, by cause",
                                       ("upstream", "cause"), registry=r)
        self.fallbacks = Counter("interlingua_fallbacks", "Failed upstream tries after which the next target was tried",
                                 ("upstream", "cause"), registry=r)
        self.in_flight = Gauge("interlingua_requests_in_flight", "Requests being answered now",
                               registry=r, multiprocess_mode="livesum")
        self.disconnects = Counter("interlingua_stream_disconnects", "Answers the client went away from",
                                   ("dialect", "operation"), registry=r)
        self.refusals = Counter("interlingua_refusals", "Requests refused by a limit or budget, by reason",
                                ("key", "reason"), registry=r)
        self.ledger_depth = Gauge("interlingua_ledger_queue_depth", "Usage rows waiting to be written",
                                  registry=r, multiprocess_mode="livesum")
        self.ledger_lag = Gauge("interlingua_ledger_write_lag_seconds",
                                "How long the oldest row of the last ledger batch waited to be written",
                                registry=r, multiprocess_mode="max")
        self._series: dict[tuple[str, ...], _Tally] = {}  # by label values
        self._seen: dict[tuple[str, str, str, str, int], _Tally] = {}  # by values as they came, when those are labels
        self._tokens: dict[tuple[str, str], list[int]] = {}
        self._pending: list[Outcome] = []
        self._tallying = False  # a tally of `_pending` is scheduled
        self._syncing = False  # a sync is scheduled
        self.active = 0  # requests in flight in this process; the gauge takes it at each sync

    def know(self, models: Iterable[str], upstreams: Iterable[str]) -> None:
        """Label values a reloaded config names."""
        self.models.add(models)
        self.upstreams.add(upstreams)

    def request(self, done: Outcome) -> None:
        """One answered request (its model and upstream bounded when tallied), kept as it came and
        tallied with the others: tallying a batch in one loop costs a fraction of tallying each
        request amid its other work."""
        self._pending.append(done)
        if not self._tallying:
            self._tallying = self._later(TALLY_SECONDS, self._tally_pending)

    def _tally_pending(self) -> None:
        self._drain()
        if not self._syncing:
            self._syncing = self._later(SYNC_SECONDS, self.sync)

    def _drain(self) -> None:
        self._tallying = False
        pending, self._pending = self._pending, []
        for done in pending:
            self._tally(done)

    def _later(self, delay: float, call: Any) -> bool:
        """Whether `call` is scheduled `delay` from now; with no event loop it is made now."""
        try:
            asyncio.get_running_loop().call_later(delay, call)
        except RuntimeError:
            call()
            return False
        return True

    def _tally(self, done: Outcome) -> None:
        status = done.status
        seen = (done.dialect, done.operation, done.model, done.upstream, status // 100)
        tally = self._seen.get(seen) or self._labelled(seen, status < 400)
        tally.count += 1
        tally.duration[bisect_left(_BOUNDS_MS, done.total_ms)] += 1
        tally.duration_sum += done.total_ms
        ttfb = done.ttfb_ms
        if ttfb is not None:
            tally.ttfb[bisect_left(_BOUNDS_MS, ttfb)] += 1
            tally.ttfb_sum += ttfb
        tokens = (done.input_tokens, done.cached_tokens, done.output_tokens, done.reasoning_tokens)
        if any(tokens):
            counts = self._tokens.get((done.key, tally.model))
            if counts is None:
                counts = self._tokens[done.key, tally.model] = [0, 0, 0, 0]
            for i, count in enumerate(tokens):
                counts[i] += count

    def _labelled(self, seen: tuple[str, str, str, str, int], ok: bool) -> _Tally:
        """The tally of a request's values as labels (bounded); remembered by the values themselves
        only when they are their own labels, as a name once known stays known."""
        dialect, operation, model, upstream, status_class = seen
        labels = (dialect, operation, self.models(model, ok), self.upstreams(upstream, ok), f"{status_class}xx")
        tally = self._series.get(labels)
        if tally is None:
            tally = self._series[labels] = _Tally(labels[2], (self.requests.labels(*labels),
                                                              self.duration.labels(*labels[:4]),
                                                              self.ttfb.labels(*labels[:4])))
        if labels[2] == model and labels[3] == upstream:
            self._seen[seen] = tally
        return tally

    def sync(self) -> None:
        """Move the tallies into prometheus-client's values (and so into the workers' files)."""
        self._syncing = False
        self._drain()
        self.in_flight.set(self.active)
        for tally in self._series.values():
            tally.sync()
        for (key, model), counts in self._tokens.items():
            for kind, count in zip(TOKEN_KINDS, counts, strict=True):
                if count:
                    self.tokens.labels(key, model, kind).inc(count)
            counts[:] = (0, 0, 0, 0)

    def upstream_failure(self, upstream: str, cause: str, fell_back: bool) -> None:
        label = self.upstreams(upstream, False)
        self.upstream_errors.labels(label, cause).inc()
        if fell_back:
            self.fallbacks.labels(label, cause).inc()

    def ledger(self, depth: int, lag: float) -> None:
        """The ledger's writer reports after each batch (from its own thread)."""
        self.ledger_depth.set(depth)
        self.ledger_lag.set(lag)

    def render(self) -> bytes:
        """The exposition text: this process's registry, or every worker's files in multiprocess mode."""
        self.sync()
        if not self.multiprocess_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, self.multiprocess_dir)
        return generate_latest(registry)

    def close(self) -> None:
        """A worker that stops: its last tallies are kept, its live gauges (in flight, queue depth) no
        longer count."""
        self.sync()
        if self.multiprocess_dir:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)
