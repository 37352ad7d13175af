"""`LoadDataFromDicts`: rows given in code, yielded in batches."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from stillroom.errors import step_label
from stillroom.steps.base import GeneratorStep
from stillroom.steps.bookkeeping import columns_in_rows
from stillroom.steps.typing import GeneratorStepOutput, StepColumns
from stillroom.utils.text import invalid_text, lone_surrogate, subscripts


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
    signature_digests: ClassVar[frozenset[str]] = frozenset({"data"})
    """Fields the pipeline signature holds as a hash of their rows, not as their text (a
    large in-code dataset would otherwise be encoded whole into it)."""
    _columns: tuple[int, int, list[str]] | None = PrivateAttr(default=None)
    """(id and length of the `data` they were read from, columns): `outputs` is asked for
    every batch the step yields, and reading every row each time made a run quadratic."""

    @field_validator("data", mode="plain")
    @classmethod
    def _rows_as_given(cls, value: Any, info: ValidationInfo) -> list[dict[str, Any]]:
        """Check the rows without copying them: pydantic's own validation would build a second
        list of dicts, doubling the memory a large `data` takes. Batches are copies, so steps
        downstream never change `data`. Text that is not valid Unicode is refused here, where
        the row and column can still be named, rather than when the rows are hashed or saved."""
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ValueError(f"expected a list of dicts (one per row), got {type(value).__name__}")
        for index, row in enumerate(value):
            if not isinstance(row, dict):
                raise ValueError(
                    f"expected a list of dicts (one per row); row {index} is "
                    f"{type(row).__name__} {row!r:.80}"
                )
        found = lone_surrogate(value)
        if found:
            (index, column, *rest), char = found
            owner = step_label(cls, info.data.get("name"))
            inside = f" at {subscripts(tuple(rest))}" if rest else ""
            raise invalid_text(owner, f"row {index}, column {column!r}{inside}", char)
        return value

    @property
    def outputs(self) -> StepColumns:
        data = self.data
        known = self._columns
        if known is None or known[0] != id(data) or known[1] != len(data):
            known = self._columns = (id(data), len(data), columns_in_rows(data))
        return list(known[2])

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        size = self.batch_size or len(self.data) or 1
        if offset >= len(self.data):
            yield [], True
            return
        for start in range(offset, len(self.data), size):
            end = start + size
            yield [dict(row) for row in self.data[start:end]], end >= len(self.data)
