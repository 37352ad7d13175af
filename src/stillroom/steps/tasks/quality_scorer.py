"""`QualityScorer`: score several responses to one instruction (Deita, Liu et al. 2024)."""

from __future__ import annotations

from typing import Any, ClassVar

from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.scores import ItemScoresTask
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType


class QualityScorer(ItemScoresTask):
    """Score the quality of each of a row's `responses` to its `instruction`, on a 1 to N scale
    (N items; N + 1 kept for one beyond the scale, as in distilabel).

    Deita's quality scorer: seeing the responses side by side lets the LLM tell small
    differences in quality apart. A response whose score cannot be read gets None.

    Columns: inputs = `instruction`, `responses` (list of str); outputs = `scores` (list of
    float, one per response), `model_name`.
    """

    _scored_column: ClassVar[str] = "responses"

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "responses"]

    def _sample_row(self) -> dict[str, Any]:
        return {
            "instruction": "<PLACEHOLDER_INSTRUCTION>",
            "responses": ["<PLACEHOLDER_RESPONSE_1>", "<PLACEHOLDER_RESPONSE_2>"],
        }

    def format_input(self, input: dict[str, Any]) -> ChatType:
        items = self._items(input)
        prompt = prompts.render(
            "quality_scorer",
            instruction=input["instruction"],
            responses=items,
            high=len(items),
            structured=self.use_default_structured_output,
        )
        return [{"role": "user", "content": prompt}]
