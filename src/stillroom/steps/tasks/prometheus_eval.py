"""`PrometheusEval`: rubric-based grading of one response, or comparison of two (Prometheus 2)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from stillroom.errors import StillroomUserError
from stillroom.steps.tasks import prompts
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.lenient_output import NoneOnUnreadableReply
from stillroom.steps.typing import StepColumns
from stillroom.typing import ChatType

DEFAULT_RUBRIC_NAMES = ("helpfulness", "harmlessness", "honesty", "factual-validity", "reasoning")

_RUBRIC_SHAPE = re.compile(r"^\[.+\]\s*\n(?:Score [1-4]: .+\n){4}Score 5: .+$")
_RESULT = re.compile(r"\[RESULT\]", re.IGNORECASE)


def default_rubrics() -> dict[str, str]:
    """The built-in rubrics: criterion name -> rubric text."""
    return dict(_DEFAULT_RUBRICS)


_DEFAULT_RUBRICS = {
    name: prompts.render(f"prometheus/rubrics/{name}") for name in DEFAULT_RUBRIC_NAMES
}
"""The built-in rubrics (distilabel's name for them)."""


class PrometheusEval(NoneOnUnreadableReply, Task):
    """Judge responses against a score rubric, the way Prometheus 2 models are trained to.

    `mode="absolute"` grades one `generation` from 1 to 5; `mode="relative"` compares the
    two `generations` and picks "A" (the first) or "B" (the second). `rubric` names the
    criterion to use among `rubrics` (built in: helpfulness, harmlessness, honesty,
    factual-validity, reasoning); a custom rubric reads "[question]" then "Score 1: ..."
    through "Score 5: ..." on their own lines. With `reference=True` a `reference` answer
    worth a 5 is shown to the judge. Replies read "Feedback: ... [RESULT] <score or letter>";
    `format_output` gives None outputs for a reply that does not (a run records why).

    Columns: inputs = `instruction`, `generation` (absolute) or `generations` (relative, two
    str), and `reference` with `reference=True`; outputs = `feedback`, `result` (int 1-5 or
    "A"/"B"), `model_name`.
    """

    mode: Literal["absolute", "relative"] = Field(description="Grade one response or compare two.")
    rubric: str = Field(description="Name of the rubric in `rubrics` to judge by.")
    rubrics: dict[str, str] = Field(
        default_factory=default_rubrics, description="Rubric name -> rubric text."
    )
    reference: bool = Field(default=False, description="Show a `reference` answer to the judge.")

    @model_validator(mode="after")
    def _check_rubrics(self) -> Self:
        if not self.rubrics:
            raise ValueError("PrometheusEval: `rubrics` must hold at least one rubric.")
        for name, text in self.rubrics.items():
            if not _RUBRIC_SHAPE.match(text.strip()):
                raise ValueError(
                    f"PrometheusEval: rubric {name!r} must read '[<what is judged>]' followed by "
                    "the lines 'Score 1: <description>' to 'Score 5: <description>'."
                )
        if self.rubric not in self.rubrics:
            raise ValueError(
                f"PrometheusEval: rubric {self.rubric!r} is not one of {sorted(self.rubrics)}."
            )
        return self

    @property
    def inputs(self) -> StepColumns:
        columns = ["instruction", "generation" if self.mode == "absolute" else "generations"]
        return [*columns, "reference"] if self.reference else columns

    @property
    def outputs(self) -> StepColumns:
        return ["feedback", "result", "model_name"]

    def _sample_row(self) -> dict[str, Any]:
        row = super()._sample_row()
        if self.mode == "relative":
            row["generations"] = ["<PLACEHOLDER_GENERATION_A>", "<PLACEHOLDER_GENERATION_B>"]
        return row

    def format_input(self, input: dict[str, Any]) -> ChatType:
        values: dict[str, Any] = {
            "instruction": input["instruction"],
            "rubric": self.rubrics[self.rubric].strip(),
        }
        if self.reference:
            values["reference"] = input["reference"]
        if self.mode == "absolute":
            if not isinstance(input["generation"], str):
                raise StillroomUserError(
                    f"PrometheusEval {self.name!r}: column 'generation' must hold text, got "
                    f"{type(input['generation']).__name__}."
                )
            values["generation"] = input["generation"]
        else:
            generations = input["generations"]
            if not (
                isinstance(generations, list)
                and len(generations) == 2
                and all(isinstance(g, str) for g in generations)
            ):
                raise StillroomUserError(
                    f"PrometheusEval {self.name!r}: in relative mode column 'generations' must "
                    f"hold exactly two texts, got {generations!r:.200}."
                )
            values["generations"] = generations
        return [
            {"role": "system", "content": prompts.render(f"prometheus/{self.mode}_system")},
            {"role": "user", "content": prompts.render(self._template(), **values)},
        ]

    def _template(self) -> str:
        return f"prometheus/{self.mode}_{'with' if self.reference else 'without'}_reference"

    def _read_reply(self, text: str, row: dict[str, Any] | None) -> dict[str, Any]:
        parts = _RESULT.split(text)
        if len(parts) < 2:
            raise ValueError("the reply has no [RESULT] marker")
        feedback = parts[-2].strip()
        if feedback.lower().startswith("feedback:"):
            feedback = feedback[len("feedback:") :].strip()
        verdict = parts[-1].strip().strip("().*").strip()
        if self.mode == "absolute":
            if verdict not in ("1", "2", "3", "4", "5"):
                raise ValueError(f"expected a score from 1 to 5 after [RESULT], got {verdict!r}")
            return {"feedback": feedback, "result": int(verdict)}
        if verdict.upper() not in ("A", "B"):
            raise ValueError(f"expected A or B after [RESULT], got {verdict!r}")
        return {"feedback": feedback, "result": verdict.upper()}
