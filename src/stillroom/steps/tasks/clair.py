"""`CLAIR`: minimal revisions that make contrastive preference pairs (D'Oosterlinck et al. 2024)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.lenient_output import NoneOnUnreadableReply
from stillroom.steps.typing import StepColumns
from stillroom.typing import FormattedInput

_REASONING = re.compile(r"\*{0,2}\{?teacher[ _]reasoning\}?:?\*{0,2}:?", re.IGNORECASE)
_REVISION = re.compile(
    r"\*{0,2}\{?(?:corrected|worsened)[ _]student[ _]solution\}?:?\*{0,2}:?", re.IGNORECASE
)


class CLAIR(NoneOnUnreadableReply, Task):
    """Revise a row's `student_solution` to its `task` as little as needed to make it better.

    Contrastive Learning from AI Revisions: the revision and the original form a preference
    pair that differs only where it matters. `rational` (distilabel's spelling) holds the
    reviser's explanation. A reply without the "Corrected Student Solution" heading is
    malformed.

    Columns: inputs = `task`, `student_solution`; outputs = `revision`, `rational`,
    `model_name`.
    """

    system_prompt: str = Field(
        default_factory=lambda: prompts.render("clair_system"),
        description="System prompt telling the LLM how to revise.",
    )

    @property
    def inputs(self) -> StepColumns:
        return ["task", "student_solution"]

    @property
    def outputs(self) -> StepColumns:
        return ["revision", "rational", "model_name"]

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        user = prompts.render(
            "clair", task=input["task"], student_solution=input["student_solution"]
        )
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user},
        ]

    def _read_reply(self, text: str, row: dict[str, Any] | None) -> dict[str, Any]:
        heading = _REVISION.search(text)
        if heading is None:
            raise ValueError("the reply has no 'Corrected Student Solution:' section")
        revision = text[heading.end() :].strip()
        if not revision:
            raise ValueError("the corrected solution is empty")
        reasoning = _REASONING.split(text[: heading.start()], maxsplit=1)
        return {"revision": revision, "rational": reasoning[-1].strip() or None}
