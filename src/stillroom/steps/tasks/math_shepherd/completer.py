"""`MathShepherdCompleter`: label each step of candidate solutions by completing from it
(Math-Shepherd's automatic process annotation, hard estimation)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt

from stillroom.steps.tasks.base import RowInputError
from stillroom.steps.tasks.math_shepherd.base import SOLUTION_SEPARATOR, MathShepherdPrompting
from stillroom.steps.tasks.multi_round import Exchange, MultiRoundTask, Transcript
from stillroom.steps.typing import Row, StepColumns

_ANSWER_PREFIX = "The answer is:"


def _answer(item: str) -> str:
    """The final answer in a `The answer is: ...` item, normalised for comparison."""
    text = item.split(_ANSWER_PREFIX, 1)[-1] if _ANSWER_PREFIX in item else item
    return text.strip().rstrip(".").strip()


class MathShepherdCompleter(MultiRoundTask, MathShepherdPrompting):
    """Tag every step of a row's `solutions` as leading to the right answer (`+`) or not (`-`).

    For each step of each candidate solution (except the last two), the LLM completes the
    solution `N` times from that step on; the step is tagged with `tags[0]` if any completion
    reaches the answer of `golden_solution` (its last item), else with `tags[1]`. The final
    answer is joined to the last step, tagged by whether it is right. The result, `solutions`
    with tagged steps, is what `FormatPRM` turns into process reward model training data.
    A reply with no solution in it keeps the row with `solutions` None and the error.

    Columns: inputs = `instruction`, `solutions` (list of lists of steps, from
    `MathShepherdGenerator(M=...)`), `golden_solution` (list of steps); outputs =
    `solutions` (tagged), `model_name`.
    """

    N: PositiveInt = Field(default=1, description="Completions per step (8 in the paper).")
    tags: list[str] = Field(
        default_factory=lambda: ["+", "-"], description="The correct and wrong step tags."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "solutions", "golden_solution"]

    @property
    def outputs(self) -> StepColumns:
        return ["solutions", "model_name"]

    def _sample_row(self) -> Row:
        steps = [f"Step {i}: <PLACEHOLDER_STEP_{i}>" for i in (1, 2, 3)]
        return {
            "instruction": "<PLACEHOLDER_INSTRUCTION>",
            "solutions": [[*steps, "The answer is: <PLACEHOLDER_ANSWER>"]],
            "golden_solution": ["Step 1: ...", "The answer is: <PLACEHOLDER_ANSWER>"],
        }

    def _completion_request(self, instruction: str, steps: list[str]) -> Any:
        how = (
            "as JSON"
            if self.use_default_structured_output
            else f"separated by a line holding only `{SOLUTION_SEPARATOR}`"
        )
        prompt = (
            f"Here is a math problem and the first steps of a solution. Write {self.N} "
            f"possible continuations, {how}. Each picks up after the last given step, numbers "
            f"its steps on from it and ends with the final answer.\n\n"
            f"{instruction}\n" + "\n".join(steps)
        )
        return self._messages(prompt)

    def _prepare_completions(self, instruction: str, steps: list[str]) -> list[Any]:
        """The completion requests for one solution: one per step but the last two (the
        last step is judged by the final answer itself)."""
        return [
            self._completion_request(instruction, steps[: index + 1])
            for index in range(len(steps) - 2)
        ]

    def _rounds(self, row: Row, transcript: Transcript) -> Exchange[dict[str, Any]]:
        golden = row["golden_solution"]
        if not golden:
            raise RowInputError("golden_solution is empty: there is no answer to compare with")
        right = _answer(golden[-1])
        tagged: list[list[str] | None] = []
        for solution in row["solutions"]:
            if not solution or len(solution) < 2:
                tagged.append(solution)
                continue
            steps = list(solution)
            requests = self._prepare_completions(row["instruction"], steps)
            for index, request in enumerate(requests):
                completions = yield from transcript.ask(
                    request, lambda reply: self._solutions(reply, self.N)
                )
                reached = any(_answer(c[-1]) == right for c in completions if c)
                steps[index] += f" {self._tag(reached)}"
            answer = steps.pop()
            steps[-1] += f" {answer} {self._tag(_answer(answer) == right)}"
            tagged.append(steps)
        return {"solutions": tagged}

    def _tag(self, correct: bool) -> str:
        return self.tags[0] if correct else self.tags[1]
