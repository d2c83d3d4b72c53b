"""The readers `fields.py` gives the codecs for what upstreams answer: counts, labels, times,
numbers and strings of an answer, each taking what its API sends and refusing or ignoring the rest
as its use requires."""

from __future__ import annotations

import time
from typing import Any

import pytest

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f


@pytest.mark.parametrize(("value", "counted"), [
    (12, 12), (0, 0), (12.0, 12), (None, 0), ("12", 0), (-3, 0), (2.5, 0), (True, 0), ([4], 0),
    (2**53 - 1, 2**53 - 1), (2**53, 0), (1e300, 0)])
def test_count_takes_whole_numbers_only(value: Any, counted: int) -> None:
    """Usage is metered, budgeted and exported: anything but a whole number counts as unreported."""
    assert f.count({"n": value}, "n") == counted


def test_label_and_sub_ignore_what_is_not_theirs() -> None:
    assert f.label({"id": "resp_1"}, "id") == "resp_1"
    assert [f.label({"id": odd}, "id") for odd in (5, ["x"], {"a": 1}, None)] == [None] * 4
    assert f.sub({"usage": {"a": 1}}, "usage") == {"a": 1}
    assert [f.sub({"usage": odd}, "usage") for odd in ([1], "x", None)] == [{}, {}, {}]


def test_timestamp_is_a_whole_second_or_now() -> None:
    assert f.timestamp({"created": 1_700_000_000.7}, "created") == 1_700_000_000
    before = int(time.time())
    assert all(f.timestamp({"created": odd}, "created") >= before for odd in ("x", -1, True, None, 1e300))


def test_numbers_and_text_refuse_other_types_naming_the_field() -> None:
    assert f.numbers([1, 0.5], "data[0].embedding") == [1.0, 0.5]
    for odd in (["0.5"], "0.5", [None], {"a": 1}):
        with pytest.raises(ir.Invalid, match=r"data\[0\]\.embedding: must be an array of numbers"):
            f.numbers(odd, "data[0].embedding")
    assert f.text("Hel", "delta.content") == "Hel"
    with pytest.raises(ir.Invalid, match="delta.content: must be a string"):
        f.text(1.5, "delta.content")
