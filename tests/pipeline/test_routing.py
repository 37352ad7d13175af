"""Routing batches: `routing_batch_function` / `sample_n_steps` send each batch of a step to
the downstream steps they choose; a step joining the branches gets each batch's rows from the
branches that processed it; a resumed run routes every batch as the interrupted one did."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stillroom.distiset import Distiset
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.pipeline import Pipeline, routing_batch_function, sample_n_steps
from stillroom.pipeline.errors import PipelineValidationError, StepFailedError
from stillroom.steps import GroupColumns, KeepColumns, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(60)

ROWS, BATCH = 40, 4


def rows_of(distiset: Distiset, name: str = "default") -> list[dict[str, Any]]:
    return distiset[name]["train"].to_list()


def instructions(count: int = ROWS) -> list[dict[str, Any]]:
    return [{"instruction": f"q{i}"} for i in range(count)]


class CountingLLM(AsyncMockLLM):
    """Notes every request it answers (class-wide, across runs), and sends the process
    `interrupts` SIGINTs (Ctrl-C) once `interrupt_after` requests are answered (class
    variables, so that the pipeline's signature, which seeds the routing, ignores them)."""

    answered: ClassVar[list[str]] = []
    interrupt_after: ClassVar[int | None] = None
    interrupts: ClassVar[int] = 1

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        output = await super().agenerate(input, num_generations, **kwargs)
        prompt = input[-1]["content"]
        CountingLLM.answered.append(f"{self.model}:{prompt}")
        if len(CountingLLM.answered) == CountingLLM.interrupt_after:
            if CountingLLM.interrupts > 1:  # an abort: let the engine checkpoint first
                await asyncio.sleep(0.1)  # (every 0.01 s; back-pressure holds the rest)
            for _ in range(CountingLLM.interrupts):
                os.kill(os.getpid(), signal.SIGINT)
        return output


def three_branches() -> Pipeline:
    """load >> sample_n_steps(2) >> [a, b, c] >> group: two of the three branches answer
    each batch (a and b on the row path, c, with a synchronous LLM, batch by batch)."""
    with Pipeline(name="routing") as pipeline:
        load = LoadDataFromDicts(data=instructions(), batch_size=BATCH)
        branches = [
            TextGeneration(
                name="a",
                llm=CountingLLM(model="a", latency=0.002),
                input_batch_size=BATCH,
            ),
            TextGeneration(
                name="b", llm=CountingLLM(model="b", latency=0.001), input_batch_size=BATCH
            ),
            TextGeneration(name="c", llm=MockLLM(model="c"), input_batch_size=BATCH),
        ]
        group = GroupColumns(columns=["generation", "model_name"])
        load >> sample_n_steps(2) >> branches >> group
    return pipeline


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    CountingLLM.answered.clear()
    CountingLLM.interrupt_after = None
    CountingLLM.interrupts = 1


def test_each_batch_goes_to_the_chosen_steps_and_the_join_gets_their_rows() -> None:
    distiset = three_branches().run(progress=False)
    rows = rows_of(distiset)
    assert [row["instruction"] for row in rows] == [f"q{i}" for i in range(ROWS)]
    chosen_per_batch = []
    for start in range(0, ROWS, BATCH):
        batch = rows[start : start + BATCH]
        models = {tuple(row["grouped_model_name"]) for row in batch}
        assert len(models) == 1  # a batch's rows go together
        (chosen,) = models
        assert len(chosen) == 2 and len(set(chosen)) == 2 and set(chosen) <= {"a", "b", "c"}
        assert all(len(row["grouped_generation"]) == 2 for row in batch)
        chosen_per_batch.append(frozenset(chosen))
    assert len(set(chosen_per_batch)) > 1  # the choice varies from batch to batch
    # each row is counted once per branch that processed it, never by the others
    summary = distiset.summary
    assert summary is not None and summary.completed
    steps = summary.steps
    per_branch = Counter(name for chosen in chosen_per_batch for name in chosen)
    for name in "abc":
        assert steps[name].rows == per_branch[name] * BATCH
    assert summary.requests_sent == 2 * ROWS
    assert len(CountingLLM.answered) == (per_branch["a"] + per_branch["b"]) * BATCH


def test_the_same_pipeline_routes_the_same_way_and_leaves_random_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    random.seed(3)
    expected_draw = random.random()
    random.seed(3)
    first = [row["grouped_model_name"] for row in rows_of(three_branches().run(progress=False))]
    assert random.random() == expected_draw  # the seeding did not disturb the caller's state
    monkeypatch.setenv("STILLROOM_CACHE_DIR", str(tmp_path / "other"))
    second = [row["grouped_model_name"] for row in rows_of(three_branches().run(progress=False))]
    assert first == second


@pytest.mark.parametrize("interrupts", [1, 2], ids=["clean-stop", "abort"])
def test_a_resumed_run_routes_as_the_interrupted_one_and_pays_no_request_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupts: int
) -> None:
    """One Ctrl-C finishes what is in flight and saves; two abort, and the resumed run
    redoes the batches made since the last checkpoint, routing them again the same way."""
    reference = rows_of(three_branches().run(progress=False))
    paid_once = sorted(CountingLLM.answered)
    CountingLLM.answered.clear()

    monkeypatch.setenv("STILLROOM_CACHE_DIR", str(tmp_path / "interrupted"))
    CountingLLM.interrupt_after, CountingLLM.interrupts = len(paid_once) // 2, interrupts
    if interrupts == 1:
        stopped = three_branches().run(progress=False, checkpoint_interval=0.01)
        assert stopped.summary is not None and not stopped.summary.completed
    else:
        with pytest.raises(KeyboardInterrupt):
            three_branches().run(progress=False, checkpoint_interval=0.01)
    done_before = len(CountingLLM.answered)
    assert 0 < done_before <= len(paid_once)
    assert done_before < len(paid_once) or interrupts > 1  # an abort may come after the last
    CountingLLM.interrupt_after = None
    resumed = three_branches().run(progress=False)
    assert resumed.summary is not None and resumed.summary.completed
    assert rows_of(resumed) == reference  # same rows, same branches, same order
    answered = Counter(CountingLLM.answered)
    assert set(answered) == set(paid_once)  # no request missing
    if interrupts == 1:
        assert resumed.summary.resumed
        assert sorted(answered.elements()) == paid_once  # none sent twice
    else:  # at most the requests cancelled in flight, after their reply, before it was saved
        assert sum(answered.values()) - len(paid_once) <= 2 * BATCH
        assert resumed.summary.resumed


def test_a_routing_function_of_your_own_and_routed_leaves() -> None:
    calls: list[list[str]] = []

    @routing_batch_function(description="even batches to the first step, odd to the second")
    def alternate(steps: list[str]) -> list[str]:
        calls.append(steps)
        return [steps[len(calls) % 2 - 1]]

    with Pipeline(name="alternate") as pipeline:
        load = LoadDataFromDicts(data=instructions(20), batch_size=5)
        evens = KeepColumns(name="evens", columns=["instruction"])
        odds = KeepColumns(name="odds", columns=["instruction"])
        load >> alternate >> [evens, odds]
    distiset = pipeline.run(progress=False)
    assert calls == [["evens", "odds"]] * 4
    assert [r["instruction"] for r in rows_of(distiset, "evens")] == [
        f"q{i}" for i in [*range(5), *range(10, 15)]
    ]
    assert [r["instruction"] for r in rows_of(distiset, "odds")] == [
        f"q{i}" for i in [*range(5, 10), *range(15, 20)]
    ]
    assert pipeline.dag.get_step("load_data_from_dicts_0")["routing_batch_function"] is alternate


def test_a_routing_function_that_returns_a_wrong_name_fails_the_run_naming_the_step() -> None:
    @routing_batch_function()
    def wrong(steps: list[str]) -> list[str]:
        return ["nowhere"]

    with Pipeline(name="wrong") as pipeline:
        load = LoadDataFromDicts(data=instructions(4))
        load >> wrong >> [KeepColumns(name="x", columns=["instruction"])]
    with pytest.raises(StepFailedError, match=r"load_data_from_dicts_0.*'nowhere'"):
        pipeline.run(progress=False)


def test_a_routed_step_takes_rows_from_that_step_alone() -> None:
    with Pipeline(name="mixed") as pipeline:
        load = LoadDataFromDicts(data=instructions(4))
        other = LoadDataFromDicts(name="other", data=instructions(4))
        a = KeepColumns(name="a", columns=["instruction"])
        b = KeepColumns(name="b", columns=["instruction"])
        load >> sample_n_steps(1) >> [a, b]
        other >> b
    with pytest.raises(PipelineValidationError, match=r"'b'.*routes.*rows from \['other'\]"):
        pipeline.run(progress=False)


def test_sample_n_steps_survives_a_pipeline_file_and_keeps_the_routing(tmp_path: Path) -> None:
    pipeline = three_branches()
    path = pipeline.save(tmp_path / "pipeline.yaml")
    (entry,) = pipeline.dump()["pipeline"]["routing_batch_functions"]
    assert entry["step"] == "load_data_from_dicts_0"
    assert pipeline.dag.routing["load_data_from_dicts_0"].dump() == entry  # distilabel's call
    assert entry["type_info"]["name"] == "sample_n_steps" and entry["type_info"]["kwargs"] == {
        "n": 2
    }
    loaded = Pipeline.from_yaml(path, allowed_modules=[__name__])
    assert loaded.signature == pipeline.signature  # the same routing, seeded the same way
    assert rows_of(loaded.run(progress=False)) == rows_of(pipeline.run(progress=False))


def test_the_routing_is_part_of_the_pipelines_signature() -> None:
    def build(routing: Any) -> Pipeline:
        with Pipeline(name="signed") as pipeline:
            load = LoadDataFromDicts(data=instructions(4))
            load >> routing >> [KeepColumns(name=n, columns=["instruction"]) for n in "xy"]
        return pipeline

    plain = Pipeline(name="signed")
    with plain:
        load = LoadDataFromDicts(data=instructions(4))
        load >> [KeepColumns(name=n, columns=["instruction"]) for n in "xy"]
    one, two = build(sample_n_steps(1)), build(sample_n_steps(2))
    assert len({plain.signature, one.signature, two.signature}) == 3
    assert build(sample_n_steps(1)).signature == one.signature


def test_a_file_naming_a_routing_function_stillroom_cannot_rebuild_is_refused() -> None:
    from stillroom.errors import SerializationError

    @routing_batch_function()
    def mine(steps: list[str]) -> list[str]:
        return steps[:1]

    with Pipeline(name="custom") as pipeline:
        load = LoadDataFromDicts(data=instructions(4))
        load >> mine >> [KeepColumns(name=n, columns=["instruction"]) for n in "xy"]
    data = pipeline.dump()
    with pytest.raises(SerializationError, match="not made by a factory"):
        Pipeline.from_dict(data)
    entry = data["pipeline"]["routing_batch_functions"][0]
    entry["type_info"] = {"module": "os", "name": "system", "kwargs": {"command": "true"}}
    with pytest.raises(SerializationError, match="can only name sample_n_steps"):
        Pipeline.from_dict(data)
