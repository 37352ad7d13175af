"""Type-checked (by mypy, in `make lint`), not run: a user's pipeline, with custom tasks.

Each `assert_type` fails the check when the expression's type differs, Any included, so
these lines pin the public surface: what `>>` returns, what `get_step` and a `Distiset`
give back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typing_extensions import assert_type

from stillroom.distiset import Distiset
from stillroom.models.llms import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.run_summary import RunSummary
from stillroom.steps import GeneratorStepOutput, KeepColumns, LoadDataFromDicts, StepColumns
from stillroom.steps.base import _Step
from stillroom.steps.tasks import GeneratorTask, Task
from stillroom.typing import FormattedInput


class WriteTopics(GeneratorTask):
    """Creates rows from nothing but its LLM."""

    @property
    def outputs(self) -> StepColumns:
        return ["topic"]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"topic": output}

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        yield [{"topic": "tea"}], True


class Answer(Task):
    """One request per row: the row's instruction as a user message."""

    @property
    def inputs(self) -> StepColumns:
        return ["instruction"]

    @property
    def outputs(self) -> StepColumns:
        return ["answer"]

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        return [{"role": "user", "content": input["instruction"]}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"answer": output}


with Pipeline(name="typed") as pipeline:
    load = LoadDataFromDicts(data=[{"instruction": "Hi"}])
    topics = WriteTopics(llm=MockLLM())
    first = Answer(llm=MockLLM())
    second = Answer(llm=MockLLM())
    keep = KeepColumns(columns=["answer"])

    assert_type(load >> first, Answer)
    assert_type(load >> [first, second], list[Answer])
    assert_type([first, second] >> keep, KeepColumns)
    assert_type(load >> [first, second] >> keep, KeepColumns)
    assert_type(topics >> first >> keep, KeepColumns)

assert_type(pipeline, Pipeline)
assert_type(pipeline.get_step("answer"), _Step)

distiset = pipeline.run(use_cache=False)
assert_type(distiset, Distiset)
assert_type(distiset["default"], Any)  # a datasets.DatasetDict (datasets ships no types)
assert_type(distiset.summary, RunSummary | None)
assert_type(distiset.pipeline_path, Path | None)
assert_type(distiset.train_test_split(0.8), Distiset)
assert_type(Distiset.load_from_disk("out"), Distiset)
