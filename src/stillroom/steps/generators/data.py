"""`LoadDataFromDicts`: rows given in code, yielded in batches."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from stillroom.steps.base import GeneratorStep
from stillroom.steps.columns.bookkeeping import columns_in_rows
from stillroom.steps.typing import GeneratorStepOutput, StepColumns


class LoadDataFromDicts(GeneratorStep):
    """Yield the rows of `data` in batches of `batch_size`, starting at `offset`.

    Output columns:
        - dynamic: every column found in the rows of `data`.

    Example:
        ```python
        loader = LoadDataFromDicts(data=[{"instruction": "Say hi"}], batch_size=10)
        next(loader.process())
        # ([{"instruction": "Say hi"}], True)
        ```
    """

    data: list[dict[str, Any]] = Field(description="The rows, as dicts.")

    @property
    def outputs(self) -> StepColumns:
        return columns_in_rows(self.data)

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        size = self.batch_size or len(self.data) or 1
        if offset >= len(self.data):
            yield [], True
            return
        for start in range(offset, len(self.data), size):
            end = start + size
            yield [dict(row) for row in self.data[start:end]], end >= len(self.data)
