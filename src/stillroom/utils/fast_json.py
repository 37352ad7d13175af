"""JSON for what every request writes (its body, its journal line) through orjson, with the
standard library's encoder wherever orjson's text would read back as another value.

orjson encodes a small dict about fifteen times as fast as `json.JSONEncoder`, which the
request path calls twice per request. Its text can differ from the standard library's only
in spelling (`1e16` for `1e+16`) except in three ways, each sent to `fallback` here so that
decoding either text gives the same value: orjson writes NaN and the infinities as `null`
(caught by looking for `null` in its text, which a value holding None also sends the slow
way), and it refuses integers over 64 bits, lone surrogates, keys that are not strings and
types it does not know (`orjson.JSONEncodeError`). Dataclasses and datetimes go to the
fallback too (orjson would encode them where `json` raises); an `Enum` that is neither
an int nor a str is sent as its value where `json` refused it. Replies are still read by
`json.loads`: orjson reads integers over 64 bits as floats, and finding them in the text
first cost more than orjson saved. Cache keys are not made here: their canonical text must
stay byte for byte what earlier versions wrote.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def encode(value: Any, fallback: json.JSONEncoder) -> bytes:
    """`value` as UTF-8 JSON: orjson's text, or `fallback.encode(value)`'s where they would
    not decode to the same value (the fallback's errors are raised as they are)."""
    try:
        text = orjson.dumps(value, option=_PASSTHROUGH)
    except orjson.JSONEncodeError:
        return fallback.encode(value).encode("utf-8")
    if b"null" in text:  # None, or a NaN or infinity orjson wrote as null
        return fallback.encode(value).encode("utf-8")
    return text
