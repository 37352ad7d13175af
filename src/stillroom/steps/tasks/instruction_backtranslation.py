"""`InstructionBacktranslation`: rate instruction/answer pairs for self-curation (Li et al. 2023)."""

from __future__ import annotations

import re
from typing import Any

from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.typing import StepColumns
from stillroom.typing import FormattedInput

_SCORE = re.compile(r"Score:\s*\**\s*([1-5])\b", re.IGNORECASE)


class InstructionBacktranslation(Task):
    """Rate from 1 to 5 how well a row's `generation` serves as an assistant's answer to its
    `instruction`, with the `reason`.

    The self-curation step of instruction backtranslation ("Humpback"): instructions
    written for existing texts are kept only when the pair scores high. A reply without a
    `Score: n` line (n in 1..5) is malformed.

    Columns: inputs = `instruction`, `generation`; outputs = `score` (int), `reason`,
    `model_name`.
    """

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "generation"]

    @property
    def outputs(self) -> StepColumns:
        return ["score", "reason", "model_name"]

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        prompt = prompts.render(
            "instruction_backtranslation",
            instruction=input["instruction"],
            generation=input["generation"],
        )
        return [{"role": "user", "content": prompt}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        text = output or ""
        matches = list(_SCORE.finditer(text))
        if not matches:
            raise ValueError("the reply has no 'Score: n' line with n from 1 to 5")
        last = matches[-1]
        return {"score": int(last.group(1)), "reason": text[: last.start()].strip() or None}
