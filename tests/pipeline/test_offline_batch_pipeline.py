"""The engine's side of offline batch generation, with an LLM defined in the test: a task
whose LLM uses it is a global step, a running batch stops the run, a rerun resumes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stillroom.errors import StillroomUserError
from stillroom.exceptions import StillroomOfflineBatchGenerationNotFinishedException
from stillroom.models.llms.base import LLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

CREATED: list[int] = []
"""How many inputs each batch the LLM below created had (a class attribute would be
copied with the LLM)."""


class TwoStepBatchLLM(LLM):
    """Creates its batch on the first call; answers from its job ids on later calls."""

    @property
    def model_name(self) -> str:
        return "batch-test"

    def generate(self, inputs: list[Any], num_generations: int = 1, **kwargs: Any) -> list[Any]:
        raise AssertionError("offline batch generation never calls generate()")

    def offline_batch_generate(
        self, inputs: list[Any] | None = None, num_generations: int = 1, **kwargs: Any
    ) -> list[Any]:
        assert inputs is not None
        if not self.jobs_ids:
            CREATED.append(len(inputs))
            self.jobs_ids = (f"job-{len(CREATED)}",)
            raise StillroomOfflineBatchGenerationNotFinishedException(self.jobs_ids)
        return [
            {"generations": [f"{self.jobs_ids[0]}: {i[-1]['content']}"], "statistics": {}}
            for i in inputs
        ]


def _pipeline(cache: Path) -> Pipeline:
    with Pipeline(name="two-step", cache_dir=cache) as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(5)])
        load >> TextGeneration(name="gen", llm=TwoStepBatchLLM(use_offline_batch_generation=True))
    return pipeline


def test_the_task_is_global_and_a_rerun_collects_the_same_job(tmp_path: Path) -> None:
    CREATED.clear()
    pipeline = _pipeline(tmp_path / "cache")
    assert pipeline.dag.get_step("gen")["step"].is_global  # type: ignore[index]
    first = pipeline.run(progress=False)
    assert first["default"]["train"].num_rows == 0 and CREATED == [5]
    second = _pipeline(tmp_path / "cache").run(progress=False)
    assert CREATED == [5]  # polled job-1, created nothing
    rows = second["default"]["train"].to_list()
    assert [r["generation"] for r in rows] == [f"job-1: q{i}" for i in range(5)]


def test_a_ray_pipeline_refuses_it_before_anything_runs(tmp_path: Path) -> None:
    """On Ray the job ids would be learnt inside an actor, out of the checkpoint's reach."""
    CREATED.clear()
    with pytest.raises(StillroomUserError, match="RayPipeline cannot use offline batch"):
        _pipeline(tmp_path / "cache").ray(address="auto").run(progress=False)
    assert CREATED == []
