"""Finding text that cannot be written as UTF-8, to say exactly where it is.

Python strings may hold lone surrogates (U+D800 to U+DFFF), typically from bytes decoded
with `errors="surrogateescape"`. They are not Unicode text: encoding them to UTF-8 fails, so
a step configuration or a row holding one cannot be hashed, cached or saved. Rather than a
bare `UnicodeEncodeError` from deep inside a run, stillroom locates the value and names it.
"""

from __future__ import annotations

import re
from typing import Any

from stillroom.errors import StillroomError

_SURROGATE = re.compile("[\ud800-\udfff]")

Location = tuple[str | int, ...]
"""Keys and indices leading to a value inside nested dicts and lists, e.g. (0, "instruction")."""


class InvalidTextError(StillroomError):
    """A value holds a lone surrogate, which is not valid Unicode text."""


def lone_surrogate(value: Any) -> tuple[Location, str] | None:
    """Where the first lone surrogate in `value` (a string, or nested dicts and lists of
    them, keys included) is, and the character; None when all its text is valid."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        return ((), match.group()) if match else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = lone_surrogate(key) or lone_surrogate(item)
            if found:
                return (key, *found[0]), found[1]
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = lone_surrogate(item)
            if found:
                return (index, *found[0]), found[1]
    return None


def subscripts(location: Location) -> str:
    """`location` as Python subscripts, e.g. "[0]['instruction']"."""
    return "".join(f"[{part!r}]" for part in location)


def invalid_text(owner: str, where: str, char: str) -> InvalidTextError:
    """The error for lone surrogate `char` found at `where` (already phrased, e.g. "row 0,
    column 'instruction'") in what `owner` names."""
    return InvalidTextError(
        f"{owner}: {where} holds a lone surrogate ({char!r}) which is not valid Unicode text, "
        "so it cannot be hashed, cached or saved. Decode your input with errors='replace' "
        "(not 'surrogateescape'), or clean the string with "
        "text.encode('utf-8', 'replace').decode('utf-8')."
    )
