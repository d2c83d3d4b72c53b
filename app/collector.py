"""The cyclic garbage collector tuned for a gateway that owns its process.

CPython's defaults (a young collection every 700 net allocations, full collections over every
object) suit short scripts, not a server: at 32 concurrent requests `perf` put 13% of the
gateway's CPU in the collector, most of it re-walking the young frames, futures and dicts of
requests still in flight, and the full collections re-walking what start-up built (modules,
config, tokenizer tables) that lives as long as the process. Freezing what exists once start-up
is done takes it out of every later collection, and a young generation of 50,000 objects lets
most of a request's objects die of their reference counts before a collection sees them, for a
few megabytes of memory held longer. Only done where the gateway owns its process (`serve`, and
the no-argument factory a server's command line calls): an app that mounts the gateway keeps its
own settings.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """Call once start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
