"""`MergeColumns`: several columns of a row concatenated into one list column."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import Row, StepColumns, StepOutput


class MergeColumns(Step):
    """Replace `columns` by one list column holding all their items, in column order.

    Lists are concatenated and single values appended, so `{"query": "a", "more_queries":
    ["b", "c"]}` becomes `{"merged": ["a", "b", "c"]}`. `None` values and items (a failed
    generation upstream) are kept, so position *i* of the merged list always comes from the
    same column or list position, row after row. The merged columns are removed from the
    row; `output_column` may reuse one of their names.

    Input columns:
        - dynamic (the names in `columns`): values or lists of values.

    Output columns:
        - dynamic (`output_column`, `merged_column` when omitted): the merged list.

    Example:
        ```python
        merge = MergeColumns(columns=["query", "more_queries"], output_column="queries")
        next(merge.process([{"query": "a", "more_queries": ["b", "c"]}]))
        # [{"queries": ["a", "b", "c"]}]
        ```
    """

    columns: list[str] = Field(min_length=1, description="The columns to merge, in order.")
    output_column: str | None = Field(
        default=None, description="Name of the merged column; `merged_column` when omitted."
    )

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        return [self._target]

    @property
    def _target(self) -> str:
        return self.output_column or "merged_column"

    def process(self, inputs: StepInput) -> StepOutput:
        """One batch of rows, each with its `columns` merged."""
        yield [self._merge(row) for row in inputs]

    def _merge(self, row: Row) -> Row:
        merged: list[Any] = []
        new = dict(row)
        for column in self.columns:
            value = new.pop(column)
            if isinstance(value, list):
                merged.extend(value)
            else:
                merged.append(value)
        new[self._target] = merged
        return new
