"""`Needle.found_in` answers as `bytes.__contains__` does, on bodies small and large, wherever the
needle (or a near miss of it) lies: at either end, across the anchor, or not at all."""

from __future__ import annotations

import random

import pytest

from interlingua.adapters.needle import SMALL, Needle

NEEDLE = b'"file_id"'


@pytest.mark.parametrize("anchor", range(len(NEEDLE)))
def test_found_as_bytes_would_find_it(anchor: int) -> None:
    needle = Needle(NEEDLE, anchor)
    rng = random.Random(anchor)
    alphabet = b'"file_d{}:, '
    for size in (0, 5, SMALL - 1, SMALL, SMALL * 3):
        for _ in range(20):
            body = bytearray(rng.choice(alphabet) for _ in range(size))
            where = rng.choice(("none", "start", "end", "middle", "near miss"))
            if where != "none" and size >= len(NEEDLE):
                at = {"start": 0, "end": size - len(NEEDLE)}.get(where, rng.randrange(size - len(NEEDLE) + 1))
                piece = NEEDLE if where != "near miss" else NEEDLE[:-2] + b'x"'
                body[at:at + len(NEEDLE)] = piece
            assert needle.found_in(bytes(body)) == (NEEDLE in body), (size, where)
