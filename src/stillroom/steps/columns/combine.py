"""`CombineOutputs`: join the rows several predecessors produced for the same inputs."""

from __future__ import annotations

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.steps.base import Step, StepInput
from stillroom.steps.columns.joining import aligned_rows, merge_metadata
from stillroom.steps.typing import Row, StepOutput


class CombineOutputs(Step):
    """Merge row *i* of every predecessor's batch into one row with all their columns.

    Use it after branches that each add columns to the same rows, e.g.
    `[score_quality, score_complexity] >> CombineOutputs()`. When two predecessors write
    the same column, the later predecessor (in connection order) wins; the
    `stillroom_metadata` dicts are merged instead of overwritten.

    Input columns:
        - dynamic: every column of every predecessor (none is required).

    Output columns:
        - dynamic: the union of the input columns.

    Example:
        ```python
        combine = CombineOutputs()
        next(combine.process([{"a": 1}, {"a": 2}], [{"b": 3}, {"b": 4}]))
        # [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
        ```
    """

    def process(self, *inputs: StepInput) -> StepOutput:
        """One batch: the paired rows merged. Batches of different sizes are an error."""
        combined = []
        for rows in aligned_rows(self._label(), inputs):
            row: Row = {}
            for part in rows:
                row.update(part)
            metadata = merge_metadata(rows)
            if metadata is not None:
                row[STILLROOM_METADATA_KEY] = metadata
            combined.append(row)
        yield combined
