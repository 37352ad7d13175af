"""Keeping API keys out of every text a backend hands on: errors, log lines, saved rows.

The rule: every piece of a secret at least `FRAGMENT_LENGTH` characters long is replaced by
`MASK` wherever it appears, so a key is removed whole and so is what is left of it where
someone cut it short (a server echoing the first 20 characters of a header, a message
truncated mid-key). Secrets of `MIN_SECRET_LENGTH` to `FRAGMENT_LENGTH - 1` characters are
removed whole only, and shorter ones not at all: masking every "ab" of a message would garble
it while hiding nothing worth hiding.

Redaction must see the full text: a key cut first is no longer recognised as a key. So a
server's message is only ever shortened by `excerpt`, which redacts before it cuts.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Iterator

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not treated as secrets."""
FRAGMENT_LENGTH = 6
"""Any run of this many characters of a secret is masked, wherever it appears."""


def _pieces(secret: str) -> set[str]:
    """The substrings of `secret` that are masked wherever they appear."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    width = min(len(secret), FRAGMENT_LENGTH)
    return {secret[i : i + width] for i in range(len(secret) - width + 1)}


def _spans(text: str, pieces: set[str]) -> Iterator[tuple[int, int]]:
    for piece in pieces:
        start = text.find(piece)
        while start >= 0:
            yield start, start + len(piece)
            start = text.find(piece, start + 1)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, and every piece of one (see the module docstring), masked.

    Overlapping or touching pieces are masked together, by a single `MASK`.
    """
    pieces: set[str] = set().union(*(_pieces(secret) for secret in secrets if secret))
    merged: list[list[int]] = []
    for start, end in sorted(_spans(text, pieces)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    kept = 0
    for start, end in merged:
        parts += [text[kept:start], MASK]
        kept = end
    parts.append(text[kept:])
    return "".join(parts)


def excerpt(text: str, secrets: Iterable[str], limit: int) -> str:
    """`text` redacted, on one line, then cut to at most `limit` characters.

    The way every server message or received body is shortened for an error or a log line.
    """
    line = " ".join(redact(text, secrets).split())
    return line if len(line) <= limit else line[: max(0, limit - 3)] + "..."


def error_mentions(error: BaseException, secrets: Iterable[str]) -> bool:
    """Whether the text of `error`, or of any exception in its chain, holds a secret.

    Looks at what tracebacks and reprs show: each message, repr and argument.
    """
    secrets = list(secrets)
    texts = traceback.format_exception(error)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [repr(current), *(str(arg) for arg in current.args)]
        current = current.__cause__ or current.__context__
    return any(redact(text, secrets) != text for text in texts)
