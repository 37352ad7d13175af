"""`Pipeline.dry_run`: the first rows only, kept apart from the full run, replies reused."""

from __future__ import annotations

from typing import Any

import pytest

from stillroom.errors import StillroomError
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import GeneratorStep, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.typing import GeneratorStepOutput, StepColumns

pytestmark = pytest.mark.timeout(60)


def _rows(count: int) -> list[dict[str, Any]]:
    return [{"instruction": f"q{i}"} for i in range(count)]


def _echo() -> AsyncMockLLM:
    return AsyncMockLLM(responses=lambda messages: "re " + messages[-1]["content"])


def _instructions(distiset: Any) -> list[str]:
    return [row["instruction"] for row in distiset["default"]["train"].to_list()]


def test_a_dry_run_processes_the_first_rows_and_the_full_run_pays_only_for_the_rest() -> None:
    llm = _echo()
    with Pipeline(name="dry") as pipeline:
        load = LoadDataFromDicts(data=_rows(10), batch_size=4)
        load >> TextGeneration(llm=llm)

    one = pipeline.dry_run()
    assert _instructions(one) == ["q0"]
    assert one["default"]["train"].to_list()[0]["generation"] == "re q0"

    three = pipeline.dry_run(batch_size=3)
    assert _instructions(three) == ["q0", "q1", "q2"]
    assert len(llm.calls) == 3  # q0 came from the cache
    assert load.batch_size == 4  # the step is left as it was

    full = pipeline.run(progress=False)
    assert _instructions(full) == [f"q{i}" for i in range(10)]
    assert full.summary is not None
    assert not full.summary.resumed
    assert full.summary.cache_hits == 3
    assert len(llm.calls) == 10


class Counter(GeneratorStep):
    """Ignores `batch_size`: yields `per_batch` rows at a time, forever unless stopped."""

    per_batch: int = 5

    @property
    def outputs(self) -> StepColumns:
        return ["instruction"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        while True:
            yield [{"instruction": f"q{offset + i}"} for i in range(self.per_batch)], False
            offset += self.per_batch


def test_a_dry_run_cuts_a_generator_that_ignores_batch_size() -> None:
    llm = _echo()
    with Pipeline(name="dry-endless") as pipeline:
        Counter() >> TextGeneration(llm=llm)
    distiset = pipeline.dry_run(batch_size=2, progress=False)
    assert _instructions(distiset) == ["q0", "q1"]
    assert len(llm.calls) == 2


def test_runtime_parameters_and_a_bad_batch_size_are_checked_before_anything_runs() -> None:
    llm = _echo()
    with Pipeline(name="dry-bad") as pipeline:
        LoadDataFromDicts(data=_rows(3)) >> TextGeneration(name="gen", llm=llm)
    with pytest.raises(StillroomError, match=r"dry_run\(batch_size=0\) needs a batch_size"):
        pipeline.dry_run(batch_size=0)
    with pytest.raises(StillroomError, match="tempreature"):
        pipeline.dry_run({"gen": {"tempreature": 0.2}})
    assert llm.calls == []
