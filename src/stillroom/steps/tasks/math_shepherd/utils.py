"""Math-Shepherd helpers: splitting solutions into steps, reading JSON replies, `FormatPRM`."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import Field

from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import Row, StepColumns, StepOutput

_STEP_OR_ANSWER = re.compile(r"Step \d+:.*?(?=Step \d+:|The answer is:|$)|The answer is:.*", re.S)

_LLM_JSON_SLIPS = {"\\)": ")", "\\]": "]", "\\}": "}", "\\`": "`", "\\'": "'"}
"""Escapes models write that JSON does not allow, and what they stand for."""


def split_solution_steps(text: str) -> list[str]:
    """The `Step n: ...` items of a solution, then its `The answer is: ...` item, stripped."""
    return [item.strip() for item in _STEP_OR_ANSWER.findall(text)]


def parse_json_response(json_str: str) -> dict[str, Any] | None:
    """The JSON object in an LLM reply, tolerating stray escapes; None if there is none."""
    for attempt in (json_str, _unslipped(json_str)):
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _unslipped(text: str) -> str:
    for slip, meant in _LLM_JSON_SLIPS.items():
        text = text.replace(slip, meant)
    return re.sub(r'\\([^"\\/bfnrtu])', r"\1", text)


class FormatPRM(Step):
    """Turn `MathShepherdCompleter`'s labelled steps into training data for a process reward
    model (PRM).

    Each row holds one solution (expand `solutions` first, e.g. with `ExpandColumns`):
    a list of steps each ending with a tag (`+` correct, `-` wrong, by default).
    `format="math-shepherd"` writes `input` (instruction and steps, each tag replaced by
    `step_token`) and `label` (instruction and tagged steps), as the Math-Shepherd dataset
    does; `format="trl"` writes `prompt`, `completions` (untagged steps) and `labels`
    (True for a correct step), as TRL's PRM trainer expects.

    Columns: inputs = `instruction`, `solutions`; outputs = `input`, `label` or `prompt`,
    `completions`, `labels`.
    """

    format: Literal["math-shepherd", "trl"] = Field(
        default="math-shepherd", description="Math-Shepherd's dataset layout or TRL's."
    )
    step_token: str = Field(default="ки", description="Token replacing each step's tag.")
    tags: list[str] = Field(
        default_factory=lambda: ["+", "-"], description="The correct and wrong step tags."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "solutions"]

    @property
    def outputs(self) -> StepColumns:
        if self.format == "math-shepherd":
            return ["input", "label"]
        return ["prompt", "completions", "labels"]

    def process(self, inputs: StepInput) -> StepOutput:
        format_row = self._math_shepherd if self.format == "math-shepherd" else self._trl
        yield [format_row(row) for row in inputs]

    def _math_shepherd(self, row: Row) -> Row:
        steps = [step for step in row["solutions"] or [] if isinstance(step, str)]
        tokens = [
            self._untagged(step) + self.step_token if self._tag(step) else step for step in steps
        ]
        instruction = row["instruction"]
        return {
            **row,
            "input": f"{instruction} " + "\n".join(tokens),
            "label": f"{instruction} " + "\n".join(steps),
        }

    def _trl(self, row: Row) -> Row:
        steps = [step for step in row["solutions"] or [] if isinstance(step, str)]
        return {
            **row,
            "prompt": row["instruction"],
            "completions": [self._untagged(step).strip() for step in steps],
            "labels": [self._tag(step) == self.tags[0] for step in steps],
        }

    def _tag(self, step: str) -> str | None:
        """The tag `step` ends with, if any."""
        return next((tag for tag in self.tags if step.endswith(tag)), None)

    def _untagged(self, step: str) -> str:
        tag = self._tag(step)
        return step[: -len(tag)] if tag else step
