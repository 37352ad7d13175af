"""`fast_json.encode` (request bodies, journal lines) reads back as what the standard
library's encoder wrote, value for value, and fails where it fails."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from typing import Any

import pytest

from stillroom.utils import fast_json

COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@dataclasses.dataclass
class Point:
    x: int


VALUES: list[Any] = [
    {"model": "m", "messages": [{"role": "user", "content": 'héllo \u2028 \x00 \n "q" \\'}]},
    {"generations": ["a", "b"], "statistics": {"input_tokens": [5], "output_tokens": [5, 6]}},
    {"temperature": 0.7, "top_p": 1.0, "big": 1e300, "small": 5e-324, "neg": -0.0},
    {"exp": 1e16, "exp2": 1.5e-7, "int": 2**63 - 1, "negint": -(2**63)},
    {"huge": 2**64, "huger": -(2**70)},  # orjson refuses: the standard library writes them
    {"none": None, "text": "null"},
    {"nan": math.nan, "inf": math.inf, "-inf": -math.inf},
    {1: "an int key", "b": True},
    ("a", "tuple"),
    "\U0001f600 emoji",
    [],
    {},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_reads_back_as_the_standard_encoder_writes(value: Any) -> None:
    expected = json.loads(COMPACT.encode(value))
    assert same(json.loads(fast_json.encode(value, COMPACT)), expected)


@pytest.mark.parametrize(
    "value", [{"p": Point(1)}, {"d": datetime.date(2026, 1, 1)}, {"o": object()}, {"s": {1}}]
)
def test_fails_where_the_standard_encoder_fails(value: Any) -> None:
    with pytest.raises(TypeError) as expected:
        COMPACT.encode(value)
    with pytest.raises(TypeError) as raised:
        fast_json.encode(value, COMPACT)
    assert str(raised.value) == str(expected.value)


def test_a_lone_surrogate_fails_as_the_standard_encoder_does() -> None:
    """The callers catch this and write `\\u` escapes (`jsonl.json_lines`)."""
    with pytest.raises(UnicodeEncodeError):
        fast_json.encode({"text": "\ud800"}, COMPACT)
