"""The request journal's records, written and read by both stores that keep one: the local
`SQLiteStore` (store.py) and a Ray replica's `ReplicaJournal` (ray/journal.py).

A record is one line: the request key in hex, a tab, the reply as compact JSON (orjson's
text, or the standard encoder's where orjson's would read back as another value: see
`fast_json`). The replies of one request to a model (an embeddings request carries many
texts, each its own cache entry) are joined into one block, written with one `write`, so a
kill does not fall between two of them (only a write it cuts part-way keeps some lines, and
a resumed run sends the rest).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from stillroom.utils import fast_json
from stillroom.utils.jsonl import json_lines

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""How `json_lines(..., compact=True)` writes a reply where orjson does not (`fast_json`)."""


def journal_entry(key: bytes, value: dict[str, Any]) -> tuple[bytes, str] | None:
    """One reply's journal record and its JSON text (what a store keeps in memory until the
    record is superseded); None when the reply cannot be written as JSON."""
    try:
        line = fast_json.encode(value, _COMPACT)
    except UnicodeEncodeError:  # a lone surrogate: written with escapes
        line = json_lines([value], compact=True)[:-1]
    except (TypeError, ValueError):
        return None
    return key.hex().encode("ascii") + b"\t" + line + b"\n", line.decode()


def journal_block(
    items: Iterable[tuple[bytes, dict[str, Any]]],
) -> tuple[bytes, list[tuple[bytes, str]], list[bool]]:
    """The records of several replies joined for one write, the (key, JSON text) of each
    reply in it, and for each item whether it is in it (`journal_entry`)."""
    records: list[bytes] = []
    written: list[tuple[bytes, str]] = []
    stored: list[bool] = []
    for key, value in items:
        entry = journal_entry(key, value)
        stored.append(entry is not None)
        if entry is not None:
            records.append(entry[0])
            written.append((key, entry[1]))
    return b"".join(records), written, stored


def parse_journal(data: bytes) -> tuple[list[tuple[bytes, str]], int]:
    """The (key, reply) records of a journal, and how many lines could not be read (a torn
    last line, cut by a kill mid-write, is expected and not counted)."""
    records: list[tuple[bytes, str]] = []
    unreadable = 0
    lines = data.split(b"\n")
    for number, line in enumerate(lines):
        key_hex, sep, value = line.partition(b"\t")
        try:
            if not sep:
                raise ValueError("no tab")
            key = bytes.fromhex(key_hex.decode("ascii"))
            text = value.decode("utf-8")
            json.loads(text)
        except ValueError:
            if line and number < len(lines) - 1:
                unreadable += 1
            continue
        records.append((key, text))
    return records, unreadable
