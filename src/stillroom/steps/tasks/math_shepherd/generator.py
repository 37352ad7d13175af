"""`MathShepherdGenerator`: step-by-step solutions to math problems (Math-Shepherd)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from stillroom.steps.tasks.math_shepherd.base import SOLUTION_SEPARATOR, MathShepherdPrompting
from stillroom.steps.tasks.math_shepherd.prompts import (
    FEW_SHOTS_GSM8K,
    FEW_SHOTS_MATH,
    RULES_GSM8K,
    RULES_MATH,
    SYSTEM_PROMPT,
)
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType

__all__ = [
    "FEW_SHOTS_GSM8K",
    "FEW_SHOTS_MATH",
    "RULES_GSM8K",
    "RULES_MATH",
    "SYSTEM_PROMPT",
    "MathShepherdGenerator",
]


class MathShepherdGenerator(MathShepherdPrompting):
    """Solve a row's `instruction` step by step: the golden solution, or `M` candidates.

    Without `M`, the reply is the reference solution (`golden_solution`, a list of steps
    ending with `The answer is: ...`), typically from a strong model. With `M`, it asks for
    `M` solutions at once (`solutions`, a list of such lists), the candidates that
    `MathShepherdCompleter` then labels. A reply with no step or answer line is malformed.

    Columns: inputs = `instruction`; outputs = `golden_solution` or `solutions`,
    `model_name`.
    """

    M: PositiveInt | None = Field(
        default=None, description="How many solutions to ask for; None for one golden one."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["instruction"]

    @property
    def outputs(self) -> StepColumns:
        return ["solutions" if self.M else "golden_solution", "model_name"]

    def format_input(self, input: dict[str, Any]) -> ChatType:
        instruction = input["instruction"]
        if self.M:
            how = (
                "as JSON"
                if self.use_default_structured_output
                else f"separated by a line holding only `{SOLUTION_SEPARATOR}`"
            )
            instruction = (
                f"Write {self.M} different solutions to this problem, {how}. They may "
                f"differ in approach, and need not all be right. The problem:\n{instruction}"
            )
        return self._messages(instruction)

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        solutions = self._solutions(output or "", self.M)
        if self.M:
            return {"solutions": solutions}
        return {"golden_solution": solutions[0]}
