"""`QualityScorer`: score several responses to one instruction (Deita, Liu et al. 2024)."""

from __future__ import annotations

from typing import Any

from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import DefaultStructuredOutputMixin
from stillroom.steps.tasks.scores import scores_for_column, scores_schema
from stillroom.steps.typing import StepColumns
from stillroom.typing import FormattedInput, StructuredOutputType


class QualityScorer(DefaultStructuredOutputMixin, Task):
    """Score the quality of each of a row's `responses` to its `instruction`, from 1 to 6.

    Deita's quality scorer: seeing the responses side by side lets the LLM tell small
    differences in quality apart. A response whose score cannot be read gets None.

    Columns: inputs = `instruction`, `responses` (list of str); outputs = `scores` (list of
    float, one per response), `model_name`.
    """

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "responses"]

    @property
    def outputs(self) -> StepColumns:
        return ["scores", "model_name"]

    def _sample_row(self) -> dict[str, Any]:
        return {
            "instruction": "<PLACEHOLDER_INSTRUCTION>",
            "responses": ["<PLACEHOLDER_RESPONSE_1>", "<PLACEHOLDER_RESPONSE_2>"],
        }

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        prompt = prompts.render(
            "quality_scorer",
            instruction=input["instruction"],
            responses=input["responses"],
            structured=self.use_default_structured_output,
        )
        return self._request([{"role": "user", "content": prompt}])

    def get_structured_output(self) -> StructuredOutputType:
        return scores_schema()

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return scores_for_column(output, input, "responses", self.use_default_structured_output)
