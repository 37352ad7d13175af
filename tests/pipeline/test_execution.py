"""`execute_unit` on a step that raises: every row kept, outputs None, the error recorded."""

from __future__ import annotations

import pytest

from stillroom.models import MockLLM
from stillroom.pipeline.execution import execute_unit
from stillroom.steps import Step, StepInput
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.steps.typing import StepColumns, StepOutput


class BrokenJoin(Step):
    """Takes two aligned row lists and always raises."""

    @property
    def outputs(self) -> StepColumns:
        return ["joined"]

    def process(self, left: StepInput, right: StepInput) -> StepOutput:
        raise KeyError("no such column")
        yield left


def test_aligned_inputs_are_merged_row_by_row_with_mapped_outputs_none() -> None:
    step = BrokenJoin(name="join", output_mappings={"joined": "both"})
    left = [{"a": 1, "shared": "L"}, {"a": 2, "shared": "L"}]
    right = [{"b": 1, "shared": "R"}, {"b": 2, "shared": "R"}]
    rows = execute_unit(step, [left, right])
    assert rows == [
        {
            "a": 1,
            "b": 1,
            "shared": "R",
            "both": None,
            METADATA_COLUMN: {"error_join": "KeyError: 'no such column'"},
        },
        {
            "a": 2,
            "b": 2,
            "shared": "R",
            "both": None,
            METADATA_COLUMN: {"error_join": "KeyError: 'no such column'"},
        },
    ]
    assert left[0] == {"a": 1, "shared": "L"}  # the inputs themselves are untouched


class Exploding(TextGeneration):
    """A task whose own `process` raises on any batch holding the instruction "boom"."""

    def process(self, inputs: StepInput) -> StepOutput:
        if any(row["instruction"] == "boom" for row in inputs):
            raise RuntimeError("boom")
        yield from super().process(inputs)


def test_a_task_keeps_its_model_name_and_earlier_errors(caplog: pytest.LogCaptureFixture) -> None:
    task = Exploding(name="gen", llm=MockLLM(responses="x"), input_batch_size=2)
    task.load()
    rows = [
        {"instruction": "fine", METADATA_COLUMN: {"error_before": "E"}},
        {"instruction": "boom"},
        {"instruction": "third"},
    ]
    out = execute_unit(task, [rows])
    assert [r["generation"] for r in out] == [None, None, "x"]
    assert all(r["model_name"] == "mock" for r in out)
    assert out[0][METADATA_COLUMN] == {"error_before": "E", "error_gen": "RuntimeError: boom"}
    assert "Step 'gen' raised on 2 rows (RuntimeError: boom)" in caplog.text
