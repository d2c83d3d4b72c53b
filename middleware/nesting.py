"""How deep a JSON body nests, checked on its bytes before any decoder walks it.

The gateway's own walkers recurse (tool schemas, tool results inside tool results) and orjson
writes at most 255 levels when a body is sent on, so a body nesting deeper than `MAX_DEPTH` levels
of arrays and objects is refused with a 400. orjson has already parsed the body, so it is
well-formed JSON, and the check needs only C-speed bytes operations, no walk of the parsed value:
a body with no more brackets than the limit cannot nest deeper (most requests stop there, after
two counts); any other loses its escapes, then everything but quotes and brackets, then what lies
between quotes, and the running sum of what is left is its depth.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate

MAX_DEPTH = 100

_ESCAPE = re.compile(rb"\\.", re.DOTALL)  # an escaped quote must not end a string
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


def nests_deeper(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text `body` has arrays and objects nested more than `limit` deep."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    # Two quotes side by side are an empty string, or the seam of two strings with nothing but a
    # comma or colon between them: either way what surrounds them stays inside a string.
    structure = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    outside_strings = b"".join(structure.split(b'"')[::2])
    return max(accumulate(array("b", outside_strings.translate(_STEPS))), default=0) > limit
