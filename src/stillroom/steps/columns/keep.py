"""`KeepColumns`: drop every column but the listed ones, in the listed order."""

from __future__ import annotations

from pydantic import Field

from stillroom.steps.base import Step, StepInput
from stillroom.steps.bookkeeping import check_required_columns
from stillroom.steps.typing import StepColumns, StepOutput


class KeepColumns(Step):
    """Keep only `columns`, ordered as listed (handy right before writing a dataset).

    Input columns:
        - dynamic (the names in `columns`): every one is required.

    Output columns:
        - dynamic (the names in `columns`): the same values, and nothing else.

    Example:
        ```python
        keep = KeepColumns(columns=["instruction", "generation"])
        next(keep.process([{"generation": "Paris", "instruction": "Capital?", "model_name": "m"}]))
        # [{"instruction": "Capital?", "generation": "Paris"}]
        ```
    """

    columns: list[str] = Field(min_length=1, description="The columns to keep, in output order.")

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        return list(self.columns)

    def process(self, *inputs: StepInput) -> StepOutput:
        """One output batch per input batch, each row cut down to `columns`."""
        for batch in inputs:
            # With several predecessors the core checks the union of columns; each batch
            # must still carry all of them on its own.
            check_required_columns(self.name, self.columns, (batch,), self.input_mappings)
            yield [{column: row[column] for column in self.columns} for row in batch]
