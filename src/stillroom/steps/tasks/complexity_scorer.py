"""`ComplexityScorer`: score how complex each of several instructions is (Deita, Liu et al. 2024)."""

from __future__ import annotations

from typing import Any, ClassVar

from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.scores import ItemScoresTask
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType


class ComplexityScorer(ItemScoresTask):
    """Score the complexity of each instruction in a row's `instructions`, on a 1 to N scale
    (N items; N + 1 kept for one beyond the scale, as in distilabel).

    Deita's complexity scorer, typically run on the successive versions an `EvolComplexity`
    step produced. An instruction whose score cannot be read gets None.

    Columns: inputs = `instructions` (list of str); outputs = `scores` (list of float, one
    per instruction), `model_name`.
    """

    _scored_column: ClassVar[str] = "instructions"

    @property
    def inputs(self) -> StepColumns:
        return ["instructions"]

    def _sample_row(self) -> dict[str, Any]:
        return {"instructions": ["<PLACEHOLDER_INSTRUCTION_1>", "<PLACEHOLDER_INSTRUCTION_2>"]}

    def format_input(self, input: dict[str, Any]) -> ChatType:
        items = self._items(input)
        prompt = prompts.render(
            "complexity_scorer",
            instructions=items,
            high=len(items),
            structured=self.use_default_structured_output,
        )
        return [{"role": "user", "content": prompt}]
