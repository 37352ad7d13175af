"""Types of the step API (mirrors `distilabel.steps.typing`; defined in `stillroom.typing`)."""

from __future__ import annotations

from typing import TypeAlias

from stillroom.typing import GeneratorStepOutput, Row, StepColumns, StepOutput

GeneratorOutput: TypeAlias = GeneratorStepOutput

__all__ = ["GeneratorOutput", "GeneratorStepOutput", "Row", "StepColumns", "StepOutput"]
