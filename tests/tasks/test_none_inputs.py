"""A row an earlier step failed for (a None input) never stops a task, nor reaches its LLM."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from task_helpers import meta, run
from test_catalogue import MODULE_PATHS, REQUIRED

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import ChatGeneration, EvolInstruct, TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN, Task

# Each task fed by rows, with a row whose main input is None (its other inputs valid).
NONE_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "TextGeneration": ("instruction", {"instruction": None}),
    "ChatGeneration": ("messages", {"messages": None}),
    "TextClassification": ("text", {"text": None}),
    "SelfInstruct": ("input", {"input": None}),
    "EvolInstruct": ("instruction", {"instruction": None}),
    "EvolComplexity": ("instruction", {"instruction": None}),
    "EvolQuality": ("response", {"instruction": "q", "response": None}),
    "UltraFeedback": ("generations", {"instruction": "q", "generations": None}),
    "QualityScorer": ("responses", {"instruction": "q", "responses": None}),
    "ComplexityScorer": ("instructions", {"instructions": None}),
    "GenerateSentencePair": ("anchor", {"anchor": None}),
    "StructuredGeneration": (
        "instruction",
        {"instruction": None, "structured_output": {"format": "json", "schema": {}}},
    ),
    "PrometheusEval": ("generations", {"instruction": "q", "generations": None}),
    "GenerateTextRetrievalData": ("task", {"task": None}),
    "GenerateShortTextMatchingData": ("task", {"task": None}),
    "GenerateLongTextMatchingData": ("task", {"task": None}),
    "GenerateTextClassificationData": ("task", {"task": None}),
    "CLAIR": ("student_solution", {"task": "t", "student_solution": None}),
    "Genstruct": ("content", {"title": "t", "content": None}),
    "InstructionBacktranslation": ("generation", {"instruction": "q", "generation": None}),
    "MathShepherdGenerator": ("instruction", {"instruction": None}),
    "APIGenGenerator": ("func_desc", {"examples": "e", "func_name": "f", "func_desc": None}),
    "APIGenSemanticChecker": (
        "query",
        {
            "func_desc": "d",
            "query": None,
            "answers": "[]",
            "execution_result": ["1"],
            "keep_row_after_execution_check": True,
        },
    ),
    "ArgillaLabeller": ("record", {"record": None}),
    "MathShepherdCompleter": (
        "solutions",
        {"instruction": "q", "golden_solution": ["The answer is: 1"], "solutions": None},
    ),
}


def _make(name: str, llm: Any) -> Task:
    cls = getattr(importlib.import_module("stillroom.steps.tasks"), name)
    return cls(llm=llm, **REQUIRED.get(name, {}))


def test_every_task_with_a_required_input_is_covered() -> None:
    with_inputs = {
        name
        for name in MODULE_PATHS
        if not (task := _make(name, MockLLM(magpie_pre_query_template="llama3"))).is_generator
        and any(task.get_inputs().values())
    }
    assert with_inputs == set(NONE_ROWS)


def _check_failed_row(task: Task, row: dict[str, Any], column: str) -> None:
    assert all(row[c] is None for c in task.get_outputs() if c != "model_name")
    assert row["model_name"] == task.llm.model_name
    error = meta(row, task, "error")
    assert f"input column {column!r} is None (an earlier step produced no value)" in error


@pytest.mark.parametrize("name", sorted(NONE_ROWS))
def test_a_none_input_keeps_the_row_and_sends_nothing(name: str) -> None:
    column, bad = NONE_ROWS[name]
    task = _make(name, MockLLM(responses="x", magpie_pre_query_template="llama3"))
    rows = run(task, [dict(bad)])
    assert len(rows) == 1
    assert task.llm.calls == []
    _check_failed_row(task, rows[0], column)
    assert rows[0][column] is None  # the input columns are kept as they were


@pytest.mark.parametrize("name", sorted(NONE_ROWS))
def test_a_none_input_on_the_row_path(name: str) -> None:
    column, bad = NONE_ROWS[name]
    task = _make(name, AsyncMockLLM(responses="x", magpie_pre_query_template="llama3"))
    task.load()
    rows = asyncio.run(task.aprocess_row(dict(bad)))
    assert len(rows) == 1
    assert task.llm.calls == []
    _check_failed_row(task, rows[0], column)


def test_only_the_failed_row_skips_its_request() -> None:
    task = TextGeneration(llm=MockLLM(responses=lambda messages: messages[-1]["content"] * 2))
    rows = run(task, [{"instruction": "a"}, {"instruction": None}, {"instruction": "b"}])
    assert [r["generation"] for r in rows] == ["aa", None, "bb"]
    assert [call.messages[-1]["content"] for call in task.llm.calls] == ["a", "b"]
    assert meta(rows[0], task, "error") is None


def test_the_error_names_the_mapped_column() -> None:
    task = TextGeneration(llm=MockLLM(responses="x"), input_mappings={"instruction": "prompt"})
    task.load()
    (row,) = next(task.process_applying_mappings([{"prompt": None}]))
    assert "input column 'instruction' (fed by column 'prompt') is None" in meta(row, task, "error")


def test_a_row_format_input_rejects_is_kept_with_the_reason() -> None:
    task = ChatGeneration(llm=MockLLM(responses="x"))
    good = [{"role": "user", "content": "hi"}]
    rows = run(task, [{"messages": [{"role": "assistant", "content": "hi"}]}, {"messages": good}])
    assert [r["generation"] for r in rows] == [None, "x"]
    error = meta(rows[0], task, "error")
    assert error.startswith("RowInputError: format_input failed: ")
    assert "The last message must be from the user" in error
    assert len(task.llm.calls) == 1


def test_group_generations_keeps_the_failed_row_as_lists() -> None:
    task = TextGeneration(llm=MockLLM(responses="x"), num_generations=2, group_generations=True)
    (row,) = run(task, [{"instruction": None}])
    assert row["generation"] == [None, None]
    assert task.llm.calls == []


@pytest.mark.timeout(60)
def test_a_failed_generation_flows_through_evol_instruct() -> None:
    def reply(messages: list[dict[str, str]]) -> str | None:
        prompt = messages[-1]["content"]
        return None if prompt == "fails" else f"evolved {prompt[-12:]}"

    with Pipeline(name="none-inputs") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "fails"}, {"instruction": "works"}])
        generate = TextGeneration(
            llm=MockLLM(responses=reply), output_mappings={"generation": "draft"}
        )
        evol = EvolInstruct(
            llm=MockLLM(responses="a harder one"),
            num_evolutions=1,
            input_mappings={"instruction": "draft"},
        )
        load >> generate >> evol
    rows = pipeline.run(use_cache=False, progress=False)["default"]["train"].to_list()
    assert len(rows) == 2
    by_input = {row["instruction"]: row for row in rows}
    assert by_input["fails"]["draft"] is None
    assert by_input["fails"]["evolved_instruction"] is None
    assert (
        "input column 'instruction' (fed by column 'draft') is None"
        in (by_input["fails"][METADATA_COLUMN]["error_evol_instruct_0"])
    )
    assert by_input["works"]["evolved_instruction"] == "a harder one"
    assert len(evol.llm.calls) == 1
