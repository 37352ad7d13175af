"""Small, forgiving parsers for LLM replies; each raises `ValueError` on a reply it cannot read.

Tasks call these from `format_output`. Raising there is how a task says "malformed": the
task machinery keeps the row with `None` outputs and records the error and the raw reply.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?|\n?```\s*$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,3}[.):]|#{1,6})\s+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def clean_text(reply: str, *, labels: tuple[str, ...] = ()) -> str:
    """The reply without surrounding whitespace, code fences, quotes or a leading label.

    `labels` are prefixes the model may have added despite the prompt, such as
    "New instruction:"; they are matched case-insensitively. An empty result raises.
    """
    text = _FENCE.sub("", reply.strip()).strip()
    for label in labels:
        if text.lower().startswith(label.lower()):
            text = text[len(label) :].strip()
            break
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    if not text:
        raise ValueError("the reply is empty")
    return text


def list_items(reply: str) -> list[str]:
    """Non-empty lines of the reply with list markers ("1.", "-", "*") removed."""
    items = [_LIST_MARKER.sub("", line).strip() for line in reply.splitlines()]
    items = [item for item in items if item]
    if not items:
        raise ValueError("the reply holds no items")
    return items


def json_value(reply: str) -> Any:
    """The first JSON object or array in the reply (code fences and prose around it ignored)."""
    decoder = json.JSONDecoder()
    text = reply.strip()
    for index, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, index)
            except json.JSONDecodeError:
                continue
            return value
    raise ValueError("the reply holds no JSON object")


def literal_value(reply: str) -> Any:
    """Like `json_value`, also accepting a Python literal (single-quoted strings, `None`),
    which models often write for lists and dicts; read with `ast.literal_eval`, never run."""
    try:
        return json_value(reply)
    except ValueError:
        text = _FENCE.sub("", reply.strip()).strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise ValueError("the reply holds no JSON (or Python literal) value") from exc


def json_object(reply: str) -> dict[str, Any]:
    """The first JSON object in the reply."""
    value = json_value(reply)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def number(text: str | float | None) -> float | None:
    """The first number in `text` (None for "N/A", "None" or no number)."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    match = _NUMBER.search(text)
    return float(match.group()) if match else None


def integer_in_range(text: str | float | None, low: int, high: int) -> int | None:
    """The first number in `text` as an int if it lies in [low, high], else None."""
    value = number(text)
    if value is None or not value.is_integer() or not low <= value <= high:
        return None
    return int(value)
