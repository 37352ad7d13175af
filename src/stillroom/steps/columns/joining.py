"""Joining rows that several predecessors produced for the same inputs.

`CombineOutputs` and `GroupColumns` receive one batch per predecessor and pair row *i* of
each batch. That only makes sense when every batch has the same length, so `aligned_rows`
checks it; `merge_metadata` joins the per-step metadata dicts of the paired rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import InvalidRowsError
from stillroom.steps.typing import Row


def aligned_rows(label: str, batches: Sequence[list[Row]]) -> Iterator[tuple[Row, ...]]:
    """Row *i* of every batch, together; batches of different lengths are an error."""
    sizes = [len(batch) for batch in batches]
    if len(set(sizes)) > 1:
        raise InvalidRowsError(
            f"{label} pairs row i of each predecessor's batch, but got batches of "
            f"{sizes} rows. Every predecessor must yield one row per input row, in the same "
            "order (a step that drops or multiplies rows, such as a filter or ExpandColumns, "
            "cannot feed it next to one that does not)."
        )
    return zip(*batches, strict=True)


def merge_metadata(rows: Sequence[Row]) -> dict[str, Any] | None:
    """The union of the rows' metadata dicts, or None when no row has any.

    Keys are step-specific (`raw_output_<step>`, ...), so they rarely collide; when they do
    with different values (the same step reached through two branches and re-run), the
    values are kept as a list in predecessor order instead of one silently winning.
    """
    values: dict[str, list[Any]] = {}
    found = False
    for row in rows:
        metadata = row.get(STILLROOM_METADATA_KEY)
        if not isinstance(metadata, dict):
            continue
        found = True
        for key, value in metadata.items():
            values.setdefault(key, []).append(value)
    if not found:
        return None
    merged: dict[str, Any] = {}
    for key, seen in values.items():
        distinct = [v for i, v in enumerate(seen) if v not in seen[:i]]
        merged[key] = distinct[0] if len(distinct) == 1 else seen
    return merged
