"""A dry run's rows, printed: the first few rows of each leaf dataset, values cut short.

`dry_run()` prints them after its summary, so prompts and outputs can be checked by eye
before a full run: each value on one line, at most `WIDTH` characters, with the metadata
column reduced to the errors it holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.utils.metadata import metadata_errors

if TYPE_CHECKING:
    from stillroom.distiset import Distiset

ROWS = 3
"""Rows shown per dataset."""

WIDTH = 100
"""Characters of a value shown on its line."""


def _short(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())  # one line
    return text if len(text) <= width else text[: width - 1] + "…"


def preview_lines(distiset: Distiset, rows: int = ROWS, width: int = WIDTH) -> list[str]:
    """The first `rows` rows of every split, one `column: value` line per value."""
    lines: list[str] = []
    for config, splits in distiset.items():
        for split, dataset in splits.items():
            total = dataset.num_rows
            lines.append(f"dataset {config!r} ({split}), first {min(rows, total)} of {total} rows:")
            for index, row in enumerate(dataset):
                if index >= rows:
                    break
                lines.append(f"  row {index}:")
                for column, value in row.items():
                    if column == STILLROOM_METADATA_KEY:
                        errors = metadata_errors(value)
                        if errors:
                            lines.append(f"    errors: {_short(errors, width)}")
                        continue
                    lines.append(f"    {column}: {_short(value, width)}")
    return lines
