"""`MathShepherdCompleter`: label each step of candidate solutions by completing from it
(Math-Shepherd's automatic process annotation, hard estimation)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, PositiveInt

from stillroom.models.llms.base import LLM
from stillroom.steps.base import StepInput
from stillroom.steps.tasks.base import METADATA_COLUMN, LLMResult, RowInputError, describe_error
from stillroom.steps.tasks.math_shepherd.base import SOLUTION_SEPARATOR, MathShepherdPrompting
from stillroom.steps.tasks.multi_round import (
    OneGenerationPerRequest,
    RepliesReadInRounds,
    ReplyError,
    Transcript,
    row_with_transcript,
)
from stillroom.steps.typing import Row, StepColumns, StepOutput
from stillroom.typing import ChatType, FormattedInput
from stillroom.utils.metadata import add_metadata

_ANSWER_PREFIX = "The answer is:"

Completions = list[list[str]]
"""The completions one request got: each a list of steps ending with its answer."""


def _answer(item: str) -> str:
    """The final answer in a `The answer is: ...` item, normalised for comparison."""
    text = item.split(_ANSWER_PREFIX, 1)[-1] if _ANSWER_PREFIX in item else item
    return text.strip().rstrip(".").strip()


@dataclass
class _Plan:
    """The completion requests of one row, and the (solution, step) each one labels; or
    why the row sends none."""

    requests: list[FormattedInput] = field(default_factory=list)
    positions: list[tuple[int, int]] = field(default_factory=list)
    problem: RowInputError | None = None


class MathShepherdCompleter(OneGenerationPerRequest, RepliesReadInRounds, MathShepherdPrompting):
    """Tag every step of a row's `solutions` as leading to the right answer (`+`) or not (`-`).

    For each step of each candidate solution (except the last two), the LLM completes the
    solution `N` times from that step on; the step is tagged with `tags[0]` if any completion
    reaches the answer of `golden_solution` (its last item), else with `tags[1]`. The final
    answer is joined to the last step, tagged by whether it is right. The result, `solutions`
    with tagged steps, is what `FormatPRM` turns into process reward model training data.
    Every request of a batch goes to the LLM at once. A row whose request fails or whose
    reply holds no solution is kept with `solutions` None and the error.

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

    def format_input(self, input: dict[str, Any]) -> ChatType:
        """The request for `N` completions of `input["instruction"]`: the problem, followed
        by the steps given so far."""
        how = (
            "as JSON"
            if self.use_default_structured_output
            else f"separated by a line holding only `{SOLUTION_SEPARATOR}`"
        )
        prompt = (
            f"Here is a math problem and the first steps of a solution. Write {self.N} "
            f"possible continuations, {how}. Each picks up after the last given step, numbers "
            f"its steps on from it and ends with the final answer.\n\n{input['instruction']}"
        )
        return self._messages(prompt)

    def _prepare_completions(self, instruction: str, steps: list[str]) -> list[ChatType]:
        """The completion requests for one solution: one per step but the last two (the
        last step is judged by the final answer itself)."""
        return [
            self.format_input({"instruction": "\n".join([instruction, *steps[: index + 1]])})
            for index in range(len(steps) - 2)
        ]

    def _plan(self, row: Row) -> _Plan:
        problem = self._input_problem(row)
        if problem is None and not row["golden_solution"]:
            problem = RowInputError("golden_solution is empty: there is no answer to compare with")
        if problem is not None:
            return _Plan(problem=problem)
        plan = _Plan()
        for solution_index, solution in enumerate(row["solutions"]):
            requests = self._prepare_completions(row["instruction"], solution or [])
            plan.requests += [self.paired(request, row) for request in requests]
            plan.positions += [(solution_index, step) for step in range(len(requests))]
        return plan

    def process(self, inputs: StepInput) -> StepOutput:
        """Send the completion requests of every row at once, then label the rows."""
        plans = [self._plan(row) for row in inputs]
        requests = [request for plan in plans for request in plan.requests]
        results = iter(self.generate_all(requests) if requests else [])
        yield self._label_rows(
            list(inputs), plans, [[next(results) for _ in plan.requests] for plan in plans]
        )

    async def aprocess_row(self, row: Row, llm: LLM | None = None) -> list[Row]:
        plan = self._plan(row)
        results = await asyncio.gather(*(self.agenerate_one(r, llm) for r in plan.requests))
        return self._label_rows([row], [plan], [list(results)])

    def _label_rows(
        self, rows: list[Row], plans: list[_Plan], results: list[list[LLMResult]]
    ) -> list[Row]:
        """The rows labelled from their requests' results; a row that sent none, or one
        whose request failed or whose reply could not be read, with `solutions` None and
        the error recorded."""
        finished: dict[int, Row] = {}
        readable: list[int] = []
        completions: list[Completions] = []
        positions: list[tuple[int, int, int]] = []
        transcripts: list[Transcript] = []
        for index, (row, plan, row_results) in enumerate(zip(rows, plans, results, strict=True)):
            transcript = Transcript()
            failed = self._output_on_failure()
            if plan.problem is not None:
                error = describe_error(plan.problem)
                finished[index] = row_with_transcript(self, row, failed, transcript, error)
                continue
            try:
                row_completions = [
                    transcript.read(request, result, lambda reply: self._solutions(reply, self.N))
                    for request, result in zip(plan.requests, row_results, strict=True)
                ]
            except ReplyError as exc:
                finished[index] = row_with_transcript(self, row, failed, transcript, str(exc))
                continue
            positions += [(len(readable), *position) for position in plan.positions]
            readable.append(index)
            completions += row_completions
            transcripts.append(transcript)
        labelled = self._auto_label(
            [rows[index] for index in readable],
            completions,
            positions,
            [rows[index]["golden_solution"][-1] for index in readable],
            [t.statistics() for t in transcripts],
            [t.outputs for t in transcripts],
            [t.inputs for t in transcripts],
        )
        finished.update(zip(readable, labelled, strict=True))
        return [finished[index] for index in range(len(rows))]

    def _auto_label(
        self,
        inputs: list[Row],
        final_outputs: list[Completions],
        input_positions: list[tuple[int, int, int]],
        golden_answers: list[str],
        statistics: list[dict[str, Any]],
        raw_outputs: list[Any],
        raw_inputs: list[Any],
    ) -> list[Row]:
        """`inputs` with their solutions tagged, `model_name` and their metadata.

        `final_outputs[p]` are the completions of the request at `input_positions[p]`:
        `(row, solution, step)`, the step it labels. `golden_answers`, `statistics`,
        `raw_outputs` and `raw_inputs` hold one entry per row: its golden answer item and
        what its metadata records (the raw ones with `add_raw_output` / `add_raw_input`).
        A position past the end of its solution (a solution that came back empty) is skipped.
        """
        solutions = [[list(s) if s else s for s in row["solutions"]] for row in inputs]
        for completions, (owner, solution, step) in zip(
            final_outputs, input_positions, strict=True
        ):
            steps = solutions[owner][solution]
            tag = self._step_tag(completions, golden_answers[owner])
            if steps and step < len(steps) and tag is not None:
                steps[step] += f" {tag}"
        labelled: list[Row] = []
        for index, row in enumerate(inputs):
            right = _answer(golden_answers[index])
            for steps in solutions[index]:
                if steps and len(steps) > 1:
                    answer = steps.pop()
                    steps[-1] += f" {answer} {self._tag(_answer(answer) == right)}"
            entries: dict[str, Any] = {f"statistics_{self.name}": statistics[index]}
            if self.add_raw_output:
                entries[f"raw_output_{self.name}"] = raw_outputs[index]
            if self.add_raw_input:
                entries[f"raw_input_{self.name}"] = raw_inputs[index]
            metadata = add_metadata(row.get(METADATA_COLUMN), entries)
            labelled.append({**row, "solutions": solutions[index], METADATA_COLUMN: metadata})
        return self._finalize_rows(labelled)

    def _step_tag(self, completions: Completions, golden: str) -> str | None:
        """`tags[0]` when a completion reaches the golden answer, else `tags[1]`; None when
        there is no completion to judge by (empty ones are left out)."""
        finished = [completion for completion in completions if completion]
        if not finished:
            return None
        return self._tag(any(_answer(c[-1]) == _answer(golden) for c in finished))

    def _tag(self, correct: bool) -> str:
        return self.tags[0] if correct else self.tags[1]
