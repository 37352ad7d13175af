"""Types of the step API (mirrors `distilabel.steps.typing`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeAlias

Row: TypeAlias = dict[str, Any]

StepOutput: TypeAlias = Iterator[list[Row]]
"""What `Step.process` yields: batches of rows."""

GeneratorStepOutput: TypeAlias = Iterator[tuple[list[Row], bool] | list[Row] | Row]
"""What `GeneratorStep.process` yields: `(rows, is_last)`, a list of rows, or a single row."""

GeneratorOutput: TypeAlias = GeneratorStepOutput

StepColumns: TypeAlias = list[str] | dict[str, bool]
"""Column names, or column name -> whether it is required."""

__all__ = ["GeneratorOutput", "GeneratorStepOutput", "Row", "StepColumns", "StepOutput"]
