"""A pipeline is checked before any step runs, and every problem is reported at once."""

from __future__ import annotations

import pytest

from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import PipelineValidationError
from stillroom.steps import LoadDataFromDicts, Step, StepInput
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.typing import StepColumns, StepOutput


class NeedsKey(Step):
    key: RuntimeParameter[str] = None  # type: ignore[assignment]

    def process(self, inputs: StepInput) -> StepOutput:
        yield inputs


def problems(pipeline: Pipeline, **parameters: dict) -> list[str]:
    with pytest.raises(PipelineValidationError) as info:
        pipeline.run(parameters=parameters or None, progress=False)
    return info.value.problems


def test_a_cycle_is_reported_with_its_path() -> None:
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "x"}])
        a = TextGeneration(name="a", llm=AsyncMockLLM())
        b = TextGeneration(
            name="b", llm=AsyncMockLLM(), template="{{ generation }}", columns=["generation"]
        )
        load >> a >> b >> a
    (problem,) = problems(pipeline)
    assert "cycle: a >> b >> a" in problem


def test_steps_no_generator_reaches_and_generators_with_inputs() -> None:
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "x"}])
        other = LoadDataFromDicts(name="other", data=[{"instruction": "y"}])
        orphan = TextGeneration(name="orphan", llm=AsyncMockLLM())
        after = TextGeneration(
            name="after", llm=AsyncMockLLM(), template="{{ generation }}", columns=["generation"]
        )
        load >> other
        orphan >> after
    found = problems(pipeline)
    assert any(
        "'other' (LoadDataFromDicts) is a generator" in p and "['load_data_from_dicts_0']" in p
        for p in found
    )
    assert any("'orphan' (TextGeneration) has no predecessor" in p for p in found)
    assert any("'after' (TextGeneration) cannot be reached from any generator" in p for p in found)


def test_missing_column_names_step_column_available_and_suggests_mappings() -> None:
    llm = AsyncMockLLM()
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"prompt": "x", "other": 1}])
        task = TextGeneration(name="gen", llm=llm)
        load >> task
    (problem,) = problems(pipeline)
    assert "Step 'gen' (TextGeneration) needs column 'instruction'" in problem
    assert "Columns available: ['other', 'prompt']" in problem
    assert "input_mappings={'instruction': '<column>'}" in problem
    assert llm.calls == [] and not llm.is_loaded

    task.input_mappings = {"instruction": "prompt"}
    distiset = pipeline.run(progress=False)
    assert distiset["default"]["train"][0]["prompt"] == "x"


def test_output_mappings_rename_what_downstream_steps_see() -> None:
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "x"}])
        first = TextGeneration(
            name="first", llm=AsyncMockLLM(), output_mappings={"generation": "draft"}
        )
        second = TextGeneration(
            name="second", llm=AsyncMockLLM(), template="{{ generation }}", columns=["generation"]
        )
        load >> first >> second
    (problem,) = problems(pipeline)
    assert "needs column 'generation'" in problem and "'draft'" in problem
    second.input_mappings = {"generation": "draft"}
    pipeline.validate()


def test_runtime_parameters_unknown_invalid_and_missing_fail_before_any_call() -> None:
    llm = AsyncMockLLM()
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "x"}])
        task = TextGeneration(name="gen", llm=llm)
        needs = NeedsKey(name="needs")
        load >> task >> needs
    found = problems(
        pipeline,
        gen={"input_batch_sise": 3, "llm": {"generation_kwargs": {"temprature": 1.0}}},
        genn={"x": 1},
    )
    text = "\n".join(found)
    assert (
        "no runtime parameter 'input_batch_sise'" in text
        and "Did you mean 'input_batch_size'" in text
    )
    assert "parameters were given for step 'genn'" in text and "Did you mean 'gen'" in text
    assert "needs the runtime parameter 'key'" in text and "--param needs.key=<value>" in text
    assert llm.calls == []

    nested = problems(pipeline, gen={"llm": {"structured_ouput": None}}, needs={"key": "k"})
    assert nested[0].startswith("Step 'gen' (TextGeneration): LLM AsyncMockLLM")
    assert "Did you mean 'structured_output'" in nested[0]
    nested = problems(pipeline, gen={"resources": {"replica": 2}}, needs={"key": "k"})
    assert nested[0].startswith("Step 'gen' (TextGeneration): StepResources has no runtime")
    assert "Did you mean 'replicas'" in nested[0]

    found = problems(pipeline, gen={"input_batch_size": "many"}, needs={"key": "k"})
    assert any("invalid runtime parameter value" in p and "input_batch_size" in p for p in found)
    pipeline.run(parameters={"needs": {"key": "k"}}, progress=False)
    assert needs.key == "k" and len(llm.calls) == 1


def test_a_pipeline_without_steps_or_generators_cannot_run() -> None:
    assert "has no steps" in problems(Pipeline(name="empty"))[0]
    with Pipeline(name="p") as pipeline:
        TextGeneration(llm=AsyncMockLLM())
    assert any("no generator step" in p for p in problems(pipeline))


def test_columns_of_generators_without_declared_outputs_are_checked_at_run_time() -> None:
    from stillroom.steps import GeneratorStep

    class Opaque(GeneratorStep):
        @property
        def outputs(self) -> StepColumns:
            return []

        def process(self, offset: int = 0):  # type: ignore[override]
            yield [{"instruction": "hi"}], True

    with Pipeline(name="p") as pipeline:
        Opaque() >> TextGeneration(llm=AsyncMockLLM())
    pipeline.validate()


class TakesNoRows(Step):
    """A step whose `process` has no parameter for rows: fine to define, not to run."""

    def process(self) -> StepOutput:  # type: ignore[override]
        yield []


def test_a_step_whose_process_takes_no_rows_is_reported_when_rows_would_reach_it() -> None:
    with Pipeline(name="p") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "x"}]) >> TakesNoRows(name="sink")
    (problem,) = problems(pipeline)
    assert "Step 'sink' (TakesNoRows) receives rows, but its process takes none" in problem
    assert "def process(self, inputs: StepInput)" in problem


class Loads(Step):
    """A step that records whether it was loaded."""

    loaded: bool = False

    def load(self) -> None:
        super().load()
        self.loaded = True

    def process(self, inputs: StepInput) -> StepOutput:
        yield inputs


def test_unknown_parameter_names_stop_the_run_before_any_step_loads() -> None:
    """A step ignores an unknown name given to it directly (with a warning); a run refuses
    it, at any depth, before loading anything, and reports every one at once."""
    llm = AsyncMockLLM()
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "x"}])
        task = TextGeneration(name="gen", llm=llm)
        after = Loads(name="after")
        load >> task >> after
    found = problems(
        pipeline,
        gen={"num_generation": 2, "llm": {"generation_kwarg": {}}},
        after={"input_batch": 1},
    )
    assert len(found) == 3, found
    assert found[0].startswith("Step 'gen' (TextGeneration) has no runtime parameter")
    assert "Did you mean 'num_generations'" in found[0]
    assert found[1].startswith("Step 'gen' (TextGeneration): LLM AsyncMockLLM")
    assert "'generation_kwarg'" in found[1] and "Did you mean 'generation_kwargs'" in found[1]
    assert "Step 'after' (Loads) has no runtime parameter 'input_batch'" in found[2]
    assert not after.loaded and llm.calls == [] and task.num_generations == 1
    pipeline.run(parameters={"gen": {"num_generations": 2}}, progress=False)
    assert after.loaded and len(llm.calls) == 1


def test_a_step_configuration_load_would_refuse_stops_the_run_before_any_request() -> None:
    """With load stages the second task would load after the first had sent its requests:
    its `configuration_problems` are reported before anything loads."""
    first, second = AsyncMockLLM(), AsyncMockLLM()
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "x", "topic": "t"}])
        gen = TextGeneration(name="gen", llm=first)
        later = TextGeneration(
            name="later", llm=second, template="About {{ topic }}", columns=["topic", "instruction"]
        )
        after = Loads(name="after")
        load >> gen >> later >> after
    with pytest.raises(PipelineValidationError) as info:
        pipeline.run(progress=False, use_cache=False, load_groups=[["gen"], ["later"]])
    (problem,) = info.value.problems
    assert problem.startswith("Step 'later' (TextGeneration): columns ['instruction'] are not")
    assert first.calls == [] == second.calls and not after.loaded
    assert not gen.is_loaded and not first.is_loaded
