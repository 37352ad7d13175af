"""`APIGenExecutionChecker`: run each generated function call and keep the rows whose calls
all succeed (APIGen's execution check), in a sandboxed child process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveFloat, PositiveInt

from stillroom.errors import StillroomUserError
from stillroom.steps.base import Step, StepInput
from stillroom.steps.tasks.apigen.utils import FunctionResult, execute_in_sandbox
from stillroom.steps.typing import Row, StepColumns, StepOutput


class APIGenExecutionChecker(Step):
    """Execute each call in a row's `answers` against the functions in `libpath`.

    `libpath` is a `.py` file defining the functions, or a folder holding one `<name>.py`
    file per function. Each call runs in its own child interpreter (see
    `apigen.utils.execute_in_sandbox`): isolated mode, no environment, no network, no
    subprocesses, capped memory and CPU, killed after `timeout` seconds; the pipeline's
    process never imports the library. Arguments are passed by name, so a call naming a
    parameter that does not exist fails the check. With `check_is_dangerous`, functions
    whose source starts processes, reads input or exits are not run.

    Columns: inputs = `answers` (JSON list of `{"name", "arguments"}`, as `APIGenGenerator`
    writes it); outputs = `keep_row_after_execution_check` (True when every call ran),
    `execution_result` (list of str: each call's result or error).
    """

    libpath: str = Field(description="A .py file with the functions, or a folder of <name>.py.")
    check_is_dangerous: bool = Field(
        default=True, description="Refuse functions that look like they start processes or exit."
    )
    timeout: PositiveFloat = Field(default=5.0, description="Seconds one call may run.")
    memory_mb: PositiveInt = Field(default=1024, description="Memory cap of the child, MiB.")

    @property
    def inputs(self) -> StepColumns:
        return ["answers"]

    @property
    def outputs(self) -> StepColumns:
        return ["keep_row_after_execution_check", "execution_result"]

    def load(self) -> None:
        super().load()
        if not Path(self.libpath).exists():
            raise StillroomUserError(
                f"{self._label()}: libpath {self.libpath!r} does not exist; give a .py file "
                "with the functions, or a folder with one <function name>.py per function."
            )

    def process(self, inputs: StepInput) -> StepOutput:
        yield [self._check(row) for row in inputs]

    def _check(self, row: Row) -> Row:
        try:
            calls = _calls(row["answers"])
        except ValueError as exc:
            return {**row, **_verdict([FunctionResult(keep=False, execution_result=str(exc))])}
        return {**row, **_verdict([self._run(call) for call in calls])}

    def _run(self, call: Any) -> FunctionResult:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return FunctionResult(
                keep=False, execution_result="Nothing was generated for this answer."
            )
        arguments = call.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            return FunctionResult(keep=False, execution_result="'arguments' is not an object.")
        return execute_in_sandbox(
            self.libpath,
            call["name"],
            arguments,
            timeout=self.timeout,
            check_is_dangerous=self.check_is_dangerous,
            memory_mb=self.memory_mb,
        )


def _calls(answers: Any) -> list[Any]:
    """The list of calls in an `answers` cell (a JSON string or a list)."""
    if not answers:
        raise ValueError("No answers were provided.")
    if isinstance(answers, str):
        try:
            answers = json.loads(answers)
        except json.JSONDecodeError as exc:
            raise ValueError(f"'answers' is not valid JSON: {exc}") from exc
    if not isinstance(answers, list) or not answers:
        raise ValueError("'answers' is not a non-empty list of calls.")
    return answers


def _verdict(results: list[FunctionResult]) -> dict[str, Any]:
    return {
        "keep_row_after_execution_check": all(result["keep"] for result in results),
        "execution_result": [result["execution_result"] for result in results],
    }
