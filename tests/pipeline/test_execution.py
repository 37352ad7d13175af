"""`execute_unit` on a step that raises: every row kept, outputs None, the error recorded."""

from __future__ import annotations

import logging

import pytest

from stillroom.errors import MissingColumnsError
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.execution import execute_unit
from stillroom.steps import LoadDataFromDicts, Step, StepInput
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
    caplog.set_level(logging.DEBUG, logger="stillroom.pipeline")  # one line per failed chunk
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


class BrokenForQ3(TextGeneration):
    """On the row path; its request for "q3" raises instead of returning a result."""

    async def agenerate_one(self, formatted_input, llm=None):  # type: ignore[no-untyped-def]
        if formatted_input[-1]["content"] == "q3":
            raise RuntimeError("the request path broke")
        return await super().agenerate_one(formatted_input, llm)


def test_a_row_whose_request_path_raises_is_kept_and_the_run_completes() -> None:
    with Pipeline(name="row-path-raises") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(6)], batch_size=4)
        load >> BrokenForQ3(name="gen", llm=AsyncMockLLM(responses="fine"))
    distiset = pipeline.run(progress=False)
    rows = distiset["default"]["train"].to_list()
    assert [r["generation"] for r in rows] == ["fine", "fine", "fine", None, "fine", "fine"]
    assert rows[3][METADATA_COLUMN]["error_gen"] == "RuntimeError: the request path broke"
    assert distiset.summary is not None and distiset.summary.failed_rows == {"gen": 1}


@pytest.mark.parametrize("llm_class", [MockLLM, AsyncMockLLM])
def test_the_row_path_and_the_batch_path_map_and_check_alike(llm_class: type) -> None:
    """A task gets the same mappings and the same column check whether the engine feeds it
    row by row (an async LLM) or batch by batch (a sync one): both start at `map_inputs`
    and end at `restore_outputs`."""
    with Pipeline(name=f"paths-{llm_class.__name__}") as pipeline:
        task = TextGeneration(
            name="t",
            llm=llm_class(responses="fine"),
            input_mappings={"instruction": "question"},
            output_mappings={"generation": "answer"},
        )
        LoadDataFromDicts(data=[{"question": "q1", "extra": 1}]) >> task
    rows = pipeline.run(progress=False)["default"]["train"].to_list()
    assert {k: v for k, v in rows[0].items() if k != "stillroom_metadata"} == {
        "question": "q1",
        "extra": 1,
        "answer": "fine",
        "model_name": "mock",
    }
    task.load()
    with pytest.raises(MissingColumnsError, match=r"'t'.*instruction.*question"):
        task.map_inputs([{"extra": 1}])
