"""JSON lines that always encode: rows and replies holding lone surrogates included.

Python strings may hold lone surrogates ('\\ud800'), which UTF-8 cannot encode: they come
from JSON text with such `\\u` escapes or from bytes decoded with `errors="surrogateescape"`.
A line holding one is written with ASCII `\\u` escapes instead, which is still valid JSON and
reads back as the same string, so no row is ever refused for its text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any


def json_lines(
    values: Sequence[Any], default: Callable[[Any], Any] | None = None, compact: bool = False
) -> bytes:
    """Each value as one line of UTF-8 JSON (escaped where UTF-8 cannot hold the text)."""
    separators = (",", ":") if compact else None
    lines = [
        json.dumps(value, ensure_ascii=False, default=default, separators=separators) + "\n"
        for value in values
    ]
    try:
        return "".join(lines).encode("utf-8")
    except UnicodeEncodeError:
        return b"".join(
            _encode(line, value, default, separators)
            for line, value in zip(lines, values, strict=True)
        )


def _encode(
    line: str,
    value: Any,
    default: Callable[[Any], Any] | None,
    separators: tuple[str, str] | None,
) -> bytes:
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        escaped = json.dumps(value, ensure_ascii=True, default=default, separators=separators)
        return (escaped + "\n").encode("ascii")
