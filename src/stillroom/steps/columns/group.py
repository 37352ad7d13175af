"""`GroupColumns`: gather one column from several predecessors into a list column."""

from __future__ import annotations

from pydantic import Field, model_validator
from typing_extensions import Self

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.steps.base import Step, StepInput
from stillroom.steps.columns.joining import aligned_rows, merge_metadata
from stillroom.steps.typing import Row, StepColumns, StepOutput


class GroupColumns(Step):
    """Turn `columns` of row *i* of every predecessor into lists, one entry per predecessor.

    The classic use is comparing models: `[generate_a, generate_b] >> GroupColumns(
    columns=["generation", "model_name"], output_columns=["generations",
    "generation_models"])` gives each row the two generations and the two model names,
    ready for a judge such as `UltraFeedback`. Each list has one entry per predecessor, in
    connection order, with `None` where that predecessor's row lacks the column, so the
    lists of different grouped columns stay aligned. Other columns are copied (the later
    predecessor wins on a clash) and `stillroom_metadata` dicts are merged.

    Input columns:
        - dynamic (the names in `columns`): each must come from at least one predecessor.

    Output columns:
        - dynamic (`output_columns`, or `grouped_<column>` for each of `columns`): lists.

    Example:
        ```python
        group = GroupColumns(columns=["generation"], output_columns=["generations"])
        next(group.process([{"generation": "A"}], [{"generation": "B"}]))
        # [{"generations": ["A", "B"]}]
        ```
    """

    columns: list[str] = Field(min_length=1, description="The columns to group.")
    output_columns: list[str] | None = Field(
        default=None,
        description="Names of the grouped columns; `grouped_<column>` when omitted.",
    )

    @model_validator(mode="after")
    def _same_number_of_output_columns(self) -> Self:
        if self.output_columns is not None and len(self.output_columns) != len(self.columns):
            raise ValueError(
                f"GroupColumns: output_columns {self.output_columns} must name one output per "
                f"column in columns {self.columns} ({len(self.columns)} names), or be omitted."
            )
        return self

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        if self.output_columns is not None:
            return list(self.output_columns)
        return [f"grouped_{column}" for column in self.columns]

    def process(self, *inputs: StepInput) -> StepOutput:
        """One batch of grouped rows. Batches of different sizes are an error."""
        renamed = dict(zip(self.columns, self.outputs, strict=True))
        grouped_rows = []
        for rows in aligned_rows(self._label(), inputs):
            row: Row = {}
            for part in rows:
                row.update({k: v for k, v in part.items() if k not in renamed})
            for column, output in renamed.items():
                row[output] = [part.get(column) for part in rows]
            metadata = merge_metadata(rows)
            if metadata is not None:
                row[STILLROOM_METADATA_KEY] = metadata
            grouped_rows.append(row)
        yield grouped_rows
