"""`ComplexityScorer`: score how complex each of several instructions is (Deita, Liu et al. 2024)."""

from __future__ import annotations

from typing import Any

from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import DefaultStructuredOutputMixin
from stillroom.steps.tasks.scores import scores_for_column, scores_schema
from stillroom.steps.typing import StepColumns
from stillroom.typing import FormattedInput, StructuredOutputType


class ComplexityScorer(DefaultStructuredOutputMixin, Task):
    """Score the complexity of each instruction in a row's `instructions`, from 1 to 6.

    Deita's complexity scorer, typically run on the successive versions an `EvolComplexity`
    step produced. An instruction whose score cannot be read gets None.

    Columns: inputs = `instructions` (list of str); outputs = `scores` (list of float, one
    per instruction), `model_name`.
    """

    @property
    def inputs(self) -> StepColumns:
        return ["instructions"]

    @property
    def outputs(self) -> StepColumns:
        return ["scores", "model_name"]

    def _sample_row(self) -> dict[str, Any]:
        return {"instructions": ["<PLACEHOLDER_INSTRUCTION_1>", "<PLACEHOLDER_INSTRUCTION_2>"]}

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        prompt = prompts.render(
            "complexity_scorer",
            instructions=input["instructions"],
            structured=self.use_default_structured_output,
        )
        return self._request([{"role": "user", "content": prompt}])

    def get_structured_output(self) -> StructuredOutputType:
        return scores_schema()

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return scores_for_column(output, input, "instructions", self.use_default_structured_output)
