"""The SSE splitter: whole events out, whatever the network's chunking, in time linear in the
stream (an image of megabytes in one event, read a kilobyte at a time, was copied whole per read)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from interlingua.adapters.dialects import sse
from tests.support import cpu_seconds

LINES = st.lists(st.text(alphabet="ab:\r {}", max_size=6).map(lambda s: s.replace("\r", "")), min_size=1, max_size=3)
EVENTS = st.lists(st.tuples(LINES, st.sampled_from(["\n", "\r\n"])), min_size=1, max_size=6)


def stream_of(events: list[tuple[list[str], str]]) -> bytes:
    return b"".join(("".join(f"data: {line}{end}" for line in lines) + end).encode() for lines, end in events)


@settings(max_examples=400, database=None, derandomize=True)
@given(EVENTS, st.lists(st.integers(1, 9), max_size=40), st.text(alphabet="data: x\r\n", max_size=12).map(str.encode))
def test_whole_events_come_out_whatever_the_chunking(events: list[tuple[list[str], str]], cuts: list[int],
                                                    unfinished: bytes) -> None:
    body = stream_of(events) + unfinished
    splitter = sse.Splitter()
    out, start = [], 0
    for cut in cuts:
        out.append(splitter.feed(body[start:start + cut]))
        start += cut
    out.append(splitter.feed(body[start:]))
    blocks = [block for block in out if block]
    complete, rest = sse.split_complete(body)
    assert b"".join(blocks) == complete
    assert all(sse.split_complete(block) == (block, b"") for block in blocks)  # each ends on a blank line
    assert splitter.flush() == (rest + b"\n\n" if rest.strip() else b"")


def test_an_event_of_megabytes_in_small_reads_costs_time_in_proportion_to_it() -> None:
    """8 MB of base64 in one event, read 1 kB at a time: 8,000 reads, each copying and searching
    all held before it, took 40 s; held as its chunks, a few milliseconds (64 kB reads, as httpx
    gives them, took 0.6 s, the event loop stalled all that time; 20 ms now)."""
    event = b"data: {\"b64_json\": \"" + b"QUJD" * 2_000_000 + b"\"}\n\n"
    splitter = sse.Splitter()
    out, spent = cpu_seconds(lambda: [splitter.feed(event[i:i + 1024]) for i in range(0, len(event), 1024)])
    assert spent < 4
    assert b"".join(out) == event and out[-1] == event
