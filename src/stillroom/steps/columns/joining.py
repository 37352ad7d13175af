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
from stillroom.utils.metadata import metadata_dicts


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


def merge_metadata(rows: Sequence[Row]) -> dict[str, Any] | list[dict[str, Any]] | None:
    """The union of the rows' metadata, or None when no row has any.

    Keys are step-specific (`raw_output_<step>`, ...), so they rarely collide; when they do
    with different values (the same step reached through two branches and re-run), the
    values are kept as a list in predecessor order instead of one silently winning. When a
    row holds grouped generations (a list of dicts, one per generation), the result is the
    list of every row's dicts, in order, as distilabel merges them.
    """
    found = [
        metadata
        for row in rows
        if isinstance(metadata := row.get(STILLROOM_METADATA_KEY), (dict, list))
    ]
    if not found:
        return None
    if any(isinstance(metadata, list) for metadata in found):
        return [item for metadata in found for item in metadata_dicts(metadata)]
    values: dict[str, list[Any]] = {}
    for metadata in found:
        for key, value in metadata_dicts(metadata)[0].items():
            values.setdefault(key, []).append(value)
    merged: dict[str, Any] = {}
    for key, seen in values.items():
        distinct = [v for i, v in enumerate(seen) if v not in seen[:i]]
        merged[key] = distinct[0] if len(distinct) == 1 else seen
    return merged
