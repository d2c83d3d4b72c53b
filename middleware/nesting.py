"""How deep a JSON body nests, checked on its bytes before any decoder walks it.

The gateway's own walkers recurse (tool schemas, tool results inside tool results) and orjson
writes at most 255 levels when a body is sent on, so a body nesting deeper than `MAX_DEPTH` levels
of arrays and objects is refused with a 400. orjson has already parsed the body, so it is
well-formed JSON, and the check needs only C-speed operations, no walk of the parsed value: a small
body with no more brackets than the limit cannot nest deeper (most requests stop there); any other
has the byte after each escaping backslash blanked (numpy finds them: a regular expression over a
coding agent's 200 KB turn, full of escaped newlines, costs three times the rest of the check),
then loses everything but quotes and brackets, then what lies between quotes, and the running sum
of what is left is its depth.
"""

from __future__ import annotations

import numpy as np

from interlingua.adapters.ir import invalid

MAX_DEPTH = 100
SMALL = 16 * 1024  # below this, counting brackets first is cheaper than it is wasted above

_BACKSLASH, _BLANK = 0x5C, 0x20
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def check_nesting(body: bytes, limit: int = MAX_DEPTH) -> None:
    """The 400 for a body that `nests_deeper` than `limit`."""
    if nests_deeper(body, limit):
        raise invalid("body", f"nests deeper than {limit} levels of arrays and objects")


def nests_deeper(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text `body` has arrays and objects nested more than `limit` deep."""
    if len(body) < SMALL and body.count(b"[") + body.count(b"{") <= limit:
        return False
    structure = _unescaped(body).translate(None, _NOT_STRUCTURE)
    # Two quotes side by side are an empty string, or the seam of two strings with nothing but a
    # comma or colon between them: either way what surrounds them stays inside a string.
    outside_strings = b"".join(structure.replace(b'""', b"").split(b'"')[::2])
    steps = np.frombuffer(outside_strings.translate(_STEPS), np.int8)
    return bool(steps.size) and int(steps.cumsum(dtype=np.int32).max()) > limit


def _unescaped(body: bytes) -> bytes | bytearray:
    """`body` with every escaped byte (an escaped quote above all) blanked. In a run of
    backslashes the first, third, fifth... escape the byte after them."""
    data = np.frombuffer(body, np.uint8)
    slashes = np.flatnonzero(data == _BACKSLASH)
    if not slashes.size:
        return body
    runs = np.diff(slashes) == 1
    if runs.any():
        order = np.arange(slashes.size)
        starts = np.concatenate(([True], ~runs))
        run_start = np.maximum.accumulate(np.where(starts, order, 0))
        slashes = slashes[(order - run_start) % 2 == 0]
    blanked = bytearray(body)
    np.frombuffer(blanked, np.uint8)[slashes + 1] = _BLANK
    return blanked
