"""Reading the `stillroom_metadata` column, whichever shape it has.

A row's metadata is a dict (`raw_output_<step>`, `statistics_<step>`, `error_<step>`, ...),
or, for a task with `group_generations=True`, a list of such dicts, one per generation (as
in distilabel). Code that looks into the column goes through these helpers, so both shapes
are read the same way.
"""

from __future__ import annotations

from typing import Any


def metadata_dicts(value: Any) -> list[dict[str, Any]]:
    """The metadata dicts `value` holds: itself, the dicts of a grouped row's list, or none."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def metadata_errors(value: Any) -> dict[str, Any]:
    """The `error_<step>` entries that hold an error. For a grouped row (a list), each key
    maps to the list of its generations' errors (None for those that succeeded)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.startswith("error_") and _failed(v)}
    dicts = metadata_dicts(value)
    keys = dict.fromkeys(k for d in dicts for k in d if k.startswith("error_"))
    grouped = {key: [d.get(key) for d in dicts] for key in keys}
    return {key: errors for key, errors in grouped.items() if _failed(errors)}


def _failed(value: Any) -> bool:
    """An error entry that records a failure (a list: one of its items does)."""
    if isinstance(value, list):
        return any(item is not None for item in value)
    return value is not None


def first_error(value: Any, key: str) -> str | None:
    """The first error recorded under `key` (a generation's, for a grouped row), or None."""
    for item in metadata_dicts(value):
        error = item.get(key)
        if isinstance(error, list):  # one item per generation (rows of earlier versions)
            error = next((e for e in error if e), None)
        if error:
            return str(error)
    return None


def add_metadata(value: Any, entries: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
    """`value` (a row's metadata: None, a dict or a grouped row's list) with `entries` added:
    to the dict, or to each generation's dict of a list."""
    if isinstance(value, list):
        return [{**item, **entries} for item in metadata_dicts(value)]
    return {**(value if isinstance(value, dict) else {}), **entries}


def grouped_metadata(value: Any, generations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A grouped row's metadata: one dict per generation, each holding the row's own
    metadata (`value`) too; a row that is itself grouped keeps its list, followed by the
    generations' dicts (lists are joined, as distilabel merges them)."""
    if isinstance(value, list):
        return [*metadata_dicts(value), *generations]
    return [add_metadata(value, entries) for entries in generations]  # type: ignore[misc]
