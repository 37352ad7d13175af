"""Running pipelines: graph shapes, order, no batch barrier, failures kept, step kinds."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pipeline_helpers import (
    CountAll,
    DelayLLM,
    FailingGlobal,
    FailOnce,
    Join,
    PidStep,
    Shout,
    SpanStep,
)

from stillroom.distiset import Distiset
from stillroom.errors import StillroomError
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import StepFailedError
from stillroom.pipeline.scheduler import Engine
from stillroom.steps import LoadDataFromDicts, Step, StepInput
from stillroom.steps.tasks import Task, TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.steps.typing import StepColumns, StepOutput

pytestmark = pytest.mark.timeout(60)


def instructions(count: int) -> list[dict[str, Any]]:
    return [{"instruction": f"q{i}"} for i in range(count)]


def rows_of(distiset: Distiset, name: str = "default") -> list[dict[str, Any]]:
    return distiset[name]["train"].to_list()


def test_linear_pipeline_keeps_every_row_in_order_with_random_latencies() -> None:
    rng = random.Random(7)
    llm = DelayLLM(
        responses=lambda m: "re " + m[-1]["content"],
        delays={f"q{i}": rng.uniform(0, 0.03) for i in range(120)},
        max_concurrent_requests=16,
    )
    with Pipeline(name="linear") as pipeline:
        load = LoadDataFromDicts(data=instructions(120), batch_size=7)
        load >> TextGeneration(llm=llm) >> Shout()
    distiset = pipeline.run(progress=False)
    rows = rows_of(distiset)
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(120)]
    assert all(r["shout"] == f"RE Q{i}" for i, r in enumerate(rows))
    assert llm.finished != sorted(llm.finished, key=lambda p: int(p[1:]))  # finished out of order
    summary = distiset.summary
    assert summary is not None and summary.completed
    assert summary.rows == {"default": 120} and summary.requests_sent == 120
    assert summary.tokens == {"mock": {"input": 120, "output": 240}}


def test_a_slow_request_does_not_hold_back_the_requests_after_it() -> None:
    llm = DelayLLM(responses="ok", delays={"q0": 0.4}, latency=0.01, max_concurrent_requests=4)
    with Pipeline(name="barrier") as pipeline:
        LoadDataFromDicts(data=instructions(40), batch_size=5) >> TextGeneration(llm=llm)
    distiset = pipeline.run(progress=False)
    finished = llm.finished
    # every other request, in later batches too, finished while q0 was still running
    assert finished[-1] == "q0"
    assert {f"q{i}" for i in range(5, 40)} <= set(finished[:-1])
    assert [r["instruction"] for r in rows_of(distiset)] == [f"q{i}" for i in range(40)]


def test_units_admitted_as_the_workers_return_still_have_their_rows_taken() -> None:
    """Units as small as the concurrency limit, answered without delay: a unit admitted just
    as every worker found nothing left to take (returned, but not yet out of the set of
    workers) was left untaken, and the run ended incomplete (about 1 run in 4 before)."""
    for _ in range(12):
        llm = DelayLLM(responses=lambda m: "re", latency=0.0, max_concurrent_requests=2)
        with Pipeline(name="admitted") as pipeline:
            load = LoadDataFromDicts(data=instructions(200), batch_size=2)
            load >> TextGeneration(llm=llm)
        distiset = pipeline.run(use_cache=False, progress=False)
        assert distiset.summary is not None and distiset.summary.completed
        assert [r["instruction"] for r in rows_of(distiset)] == [f"q{i}" for i in range(200)]


def test_a_run_whose_loop_ends_with_a_step_unfinished_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An engine fault that leaves a step unfinished with nothing left running (as the lost
    unit above did) must not end the run quietly with rows missing: it raises, naming the
    step, and a rerun resumes to every row."""
    finish = Engine._finish

    def never_finished(self: Engine, node: Any) -> None:
        if node.name != "text_generation_0":
            finish(self, node)

    monkeypatch.setattr(Engine, "_finish", never_finished)

    def build() -> Pipeline:
        with Pipeline(name="stalled", cache_dir=tmp_path) as pipeline:
            load = LoadDataFromDicts(data=instructions(40), batch_size=5)
            load >> TextGeneration(llm=AsyncMockLLM(responses="ok"))
        return pipeline

    with pytest.raises(StillroomError, match=r"step\(s\) 'text_generation_0' unfinished"):
        build().run(progress=False)
    monkeypatch.setattr(Engine, "_finish", finish)
    distiset = build().run(progress=False)
    assert distiset.summary is not None and distiset.summary.resumed
    assert [r["instruction"] for r in rows_of(distiset)] == [f"q{i}" for i in range(40)]


def test_fan_out_gives_one_dataset_per_leaf() -> None:
    with Pipeline(name="fanout") as pipeline:
        load = LoadDataFromDicts(data=instructions(30), batch_size=8)
        load >> [
            TextGeneration(name="a", llm=AsyncMockLLM(responses="A")),
            TextGeneration(name="b", llm=MockLLM(responses="B")),
        ]
    distiset = pipeline.run(progress=False)
    assert set(distiset) == {"a", "b"}
    for name, reply in (("a", "A"), ("b", "B")):
        rows = rows_of(distiset, name)
        assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(30)]
        assert {r["generation"] for r in rows} == {reply}


def test_fan_in_receives_aligned_rows_from_each_branch() -> None:
    rng = random.Random(3)
    slow = DelayLLM(
        responses=lambda m: "slow " + m[-1]["content"],
        delays={f"q{i}": rng.uniform(0, 0.02) for i in range(50)},
    )
    fast = AsyncMockLLM(responses=lambda m: "fast " + m[-1]["content"])
    with Pipeline(name="fanin") as pipeline:
        load = LoadDataFromDicts(data=instructions(50), batch_size=6)
        branches = [
            TextGeneration(name="slow", llm=slow),
            TextGeneration(name="fast", llm=fast, input_batch_size=4),
        ]
        load >> branches >> Join(input_batch_size=5)
    rows = rows_of(pipeline.run(progress=False))
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(50)]
    assert all(r["joined"] == [f"slow q{i}", f"fast q{i}"] for i, r in enumerate(rows))


def test_a_single_input_step_after_two_branches_gets_both_branches_rows() -> None:
    with Pipeline(name="concat") as pipeline:
        load = LoadDataFromDicts(data=instructions(4), batch_size=2)
        (
            load
            >> [
                TextGeneration(name="a", llm=AsyncMockLLM(responses="A")),
                TextGeneration(name="b", llm=AsyncMockLLM(responses="B")),
            ]
            >> Shout()
        )
    rows = rows_of(pipeline.run(progress=False))
    assert [(r["instruction"], r["shout"]) for r in rows] == [
        ("q0", "A"),
        ("q1", "A"),
        ("q0", "B"),
        ("q1", "B"),
        ("q2", "A"),
        ("q3", "A"),
        ("q2", "B"),
        ("q3", "B"),
    ]


def test_failed_requests_keep_their_rows_with_the_error_and_are_counted() -> None:
    replies = ["r0", RuntimeError("boom"), None, "r3", ValueError("bad"), "r5"]
    llm = AsyncMockLLM(responses=replies, max_concurrent_requests=1)
    with Pipeline(name="failures") as pipeline:
        LoadDataFromDicts(data=instructions(6), batch_size=4) >> TextGeneration(name="gen", llm=llm)
    distiset = pipeline.run(progress=False)
    rows = rows_of(distiset)
    assert [r["generation"] for r in rows] == ["r0", None, None, "r3", None, "r5"]
    errors = [r["stillroom_metadata"].get("error_gen") for r in rows]
    assert errors[1] == "RuntimeError: boom" and errors[4] == "ValueError: bad"
    assert errors[2] and errors[0] is None
    summary = distiset.summary
    assert summary is not None
    assert summary.failed_rows == {"gen": 3} and summary.failed_requests == 2
    assert "3 rows kept with an error (see stillroom_metadata)" in str(summary)
    assert "2 failed (RuntimeError: 1, ValueError: 1)" in str(summary)


def test_a_global_step_gets_every_row_at_once() -> None:
    CountAll.calls.clear()
    with Pipeline(name="global") as pipeline:
        load = LoadDataFromDicts(data=instructions(23), batch_size=5)
        load >> TextGeneration(llm=AsyncMockLLM(), input_batch_size=3) >> CountAll() >> Shout()
    rows = rows_of(pipeline.run(progress=False))
    assert CountAll.calls == [23]
    assert [r["position"] for r in rows] == list(range(23)) and rows[0]["total"] == 23


@pytest.mark.parametrize("llm_class", [AsyncMockLLM, MockLLM])
def test_mappings_apply_on_the_row_path_and_the_batch_path(llm_class: type) -> None:
    llm = llm_class(responses=lambda m: "re " + m[-1]["content"])
    with Pipeline(name=f"maps-{llm_class.__name__}") as pipeline:
        load = LoadDataFromDicts(data=[{"prompt": f"p{i}"} for i in range(5)])
        task = TextGeneration(
            llm=llm,
            input_mappings={"instruction": "prompt"},
            output_mappings={"generation": "answer"},
        )
        load >> task
    rows = rows_of(pipeline.run(progress=False))
    assert [r["answer"] for r in rows] == [f"re p{i}" for i in range(5)]
    assert all(
        r["prompt"] == f"p{i}" and "instruction" not in r and "generation" not in r
        for i, r in enumerate(rows)
    )


class ReverseTask(Task):
    """A task with its own `process`: runs on the batch path even with an AsyncLLM."""

    @property
    def inputs(self) -> StepColumns:
        return ["instruction"]

    @property
    def outputs(self) -> StepColumns:
        return ["generation"]

    def format_input(self, input: dict[str, Any]) -> Any:
        return [{"role": "user", "content": input["instruction"]}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"generation": output}

    def process(self, inputs: StepInput) -> StepOutput:
        formatted = [self.format_input(row) for row in reversed(inputs)]
        results = self.generate_all(formatted)
        yield [
            self.rows_from_result(row, f, r)[0]
            for row, f, r in zip(reversed(inputs), formatted, results, strict=True)
        ]


def test_custom_process_tasks_run_on_the_batch_path_and_use_the_cache() -> None:
    def build() -> tuple[Pipeline, AsyncMockLLM]:
        llm = AsyncMockLLM(responses=lambda m: "re " + m[-1]["content"])
        with Pipeline(name="custom") as pipeline:
            LoadDataFromDicts(data=instructions(6), batch_size=3) >> ReverseTask(llm=llm)
        return pipeline, llm

    pipeline, llm = build()
    rows = rows_of(pipeline.run(progress=False))
    assert [r["instruction"] for r in rows] == ["q2", "q1", "q0", "q5", "q4", "q3"]
    assert len(llm.calls) == 6
    pipeline, llm = build()
    distiset = pipeline.run(progress=False)
    assert llm.calls == [] and distiset.summary is not None and distiset.summary.cache_hits == 6


@pytest.mark.timeout(90)
def test_cpu_bound_steps_run_in_worker_processes() -> None:
    with Pipeline(name="cpu") as pipeline:
        LoadDataFromDicts(data=instructions(12), batch_size=4) >> PidStep()
    rows = rows_of(pipeline.run(progress=False))
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(12)]
    assert os.getpid() not in {r["pid"] for r in rows}


@pytest.mark.timeout(90)
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two worker processes")
def test_a_cpu_bound_step_runs_batches_in_parallel_processes_and_keeps_order() -> None:
    with Pipeline(name="cpu-parallel") as pipeline:
        LoadDataFromDicts(data=instructions(8), batch_size=2) >> SpanStep(first_delay=1.5)
    rows = rows_of(pipeline.run(use_cache=False, progress=False))
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(8)]
    first = rows[0]
    overlapping = [r for r in rows[2:] if r["started"] < first["ended"]]
    assert overlapping, "no batch ran while the slow first batch was running"
    assert all(r["pid"] != first["pid"] for r in overlapping)


@pytest.mark.timeout(90)
def test_a_cpu_bound_batch_that_raises_keeps_its_rows_with_the_error(tmp_path: Path) -> None:
    flag = tmp_path / "broken"
    flag.touch()
    with Pipeline(name="cpu-failing") as pipeline:
        load = LoadDataFromDicts(data=instructions(12), batch_size=2)
        load >> SpanStep(flag=str(flag), bad="q6")
    distiset = pipeline.run(progress=False)
    rows = rows_of(distiset)
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(12)]
    failed = [r for r in rows if r["pid"] is None]
    assert [r["instruction"] for r in failed] == ["q6", "q7"]
    assert all(r["started"] is None and r["ended"] is None for r in failed)
    assert {r[METADATA_COLUMN]["error_span_step_0"] for r in failed} == {
        "RuntimeError: cannot handle q6"
    }
    assert all(r[METADATA_COLUMN] is None for r in rows if r not in failed)
    assert distiset.summary is not None and distiset.summary.completed
    assert distiset.summary.failed_rows == {"span_step_0": 2}


def test_a_step_that_raises_keeps_the_rows_and_a_rerun_after_the_fix_fills_them(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "broken"
    flag.touch()
    llm = AsyncMockLLM(responses=lambda m: "re " + m[-1]["content"])

    def build() -> Pipeline:
        with Pipeline(name="failing") as pipeline:
            load = LoadDataFromDicts(data=instructions(20), batch_size=4)
            load >> TextGeneration(llm=llm) >> Shout(output_mappings={"shout": "loud"})
            pipeline.get_step("text_generation_0") >> FailOnce(flag=str(flag), bad="q9")
        return pipeline

    distiset = build().run(progress=False)
    rows = rows_of(distiset, "fail_once_0")
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(20)]
    failed = [r for r in rows if r[METADATA_COLUMN]["error_fail_once_0"] is not None]
    assert [r["instruction"] for r in failed] == ["q8", "q9", "q10", "q11"]
    assert all(r["generation"] == "re " + r["instruction"] for r in failed)
    assert "RuntimeError: cannot handle q9" in failed[0][METADATA_COLUMN]["error_fail_once_0"]
    assert [r["loud"] for r in rows_of(distiset, "shout_0")] == [f"RE Q{i}" for i in range(20)]
    assert distiset.summary is not None and distiset.summary.failed_rows == {
        "text_generation_0": 0,
        "fail_once_0": 4,
    }
    assert "step 'fail_once_0': 4 rows kept with an error" in str(distiset.summary)

    flag.unlink()
    fixed = build().run(progress=False)
    assert all(
        r[METADATA_COLUMN].get("error_fail_once_0") is None for r in rows_of(fixed, "fail_once_0")
    )
    assert fixed.summary is not None and fixed.summary.cache_hits == 20
    assert len(llm.calls) == 20  # the rerun took every reply from the cache


def test_a_global_step_that_raises_stops_the_run_and_a_rerun_resumes_after_the_fix(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "broken"
    flag.touch()
    llm = AsyncMockLLM(responses=lambda m: "re " + m[-1]["content"])

    def build() -> Pipeline:
        with Pipeline(name="failing-global") as pipeline:
            load = LoadDataFromDicts(data=instructions(20), batch_size=4)
            load >> TextGeneration(llm=llm) >> FailingGlobal(flag=str(flag))
        return pipeline

    with pytest.raises(
        StepFailedError, match="Step 'failing_global_0' failed on batch 0: RuntimeError: broken"
    ):
        build().run(progress=False)
    assert len(llm.calls) == 20
    flag.unlink()
    distiset = build().run(progress=False)
    rows = rows_of(distiset)
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(20)]
    assert distiset.summary is not None and distiset.summary.resumed
    assert len(llm.calls) == 20


def test_sync_llm_tasks_and_jsonl_parquet_datasets_load_back(
    tmp_path: Path, cache_dir: Path
) -> None:
    pytest.importorskip("pyarrow")
    for storage in ("jsonl", "parquet"):
        with Pipeline(name=f"store-{storage}") as pipeline:
            load = LoadDataFromDicts(
                data=[{"instruction": f"q{i}", "n": i} for i in range(7)], batch_size=3
            )
            load >> TextGeneration(llm=MockLLM(responses="x"))
        distiset = pipeline.run(progress=False, storage_format=storage)
        (data_dir,) = cache_dir.glob(f"pipelines/store-{storage}/*/data")
        files = [f for f in (data_dir / "default" / "train").iterdir() if f.is_file()]
        assert files and all(f.suffix == f".{storage}" for f in files)
        saved = Distiset.load_from_disk(distiset.save_to_disk(tmp_path / storage))
        rows = saved["default"]["train"].to_list()
        assert [(r["instruction"], r["n"], r["generation"]) for r in rows] == [
            (f"q{i}", i, "x") for i in range(7)
        ]
        assert (tmp_path / storage / "distiset_configs" / "pipeline.yaml").exists()
        assert saved["default"]["train"]["n"] == list(range(7))


def test_rows_given_to_run_feed_a_pipeline_without_generator() -> None:
    with Pipeline(name="fed") as pipeline:
        TextGeneration(llm=AsyncMockLLM(responses="ok")) >> Shout()
    rows = rows_of(pipeline.run(dataset=instructions(5), dataset_batch_size=2, progress=False))
    assert [r["shout"] for r in rows] == ["OK"] * 5
    rows = rows_of(pipeline.run(dataset=instructions(3), progress=False))
    assert [r["instruction"] for r in rows] == ["q0", "q1", "q2"]
    assert list(pipeline.steps) == ["text_generation_0", "shout_0", "load_dataset"]


def test_generators_of_different_lengths_align_by_batch_position() -> None:
    with Pipeline(name="two-sources") as pipeline:
        a = LoadDataFromDicts(
            name="a", data=[{"instruction": f"a{i}"} for i in range(4)], batch_size=2
        )
        b = LoadDataFromDicts(
            name="b", data=[{"instruction": f"b{i}"} for i in range(6)], batch_size=2
        )
        [a, b] >> TextGeneration(llm=AsyncMockLLM(responses=lambda m: m[-1]["content"]))
    rows = rows_of(pipeline.run(progress=False))
    assert [r["generation"] for r in rows] == [
        "a0",
        "a1",
        "b0",
        "b1",
        "a2",
        "a3",
        "b2",
        "b3",
        "b4",
        "b5",
    ]


def test_a_generator_alone_is_its_own_dataset_and_generations_multiply_rows() -> None:
    with Pipeline(name="alone") as pipeline:
        LoadDataFromDicts(data=instructions(3))
    assert rows_of(pipeline.run(progress=False)) == instructions(3)

    with Pipeline(name="many") as pipeline:
        load = LoadDataFromDicts(data=instructions(3))
        load >> [
            TextGeneration(
                name="split", llm=AsyncMockLLM(responses=["x", "y"] * 3), num_generations=2
            ),
            TextGeneration(
                name="grouped",
                llm=MockLLM(responses="z"),
                num_generations=2,
                group_generations=True,
            ),
        ]
    distiset = pipeline.run(progress=False)
    assert [r["generation"] for r in rows_of(distiset, "split")] == ["x", "y"] * 3
    assert [r["generation"] for r in rows_of(distiset, "grouped")] == [["z", "z"]] * 3


def test_generator_tasks_run_as_generators() -> None:
    from stillroom.steps.tasks import GeneratorTask

    class Jokes(GeneratorTask):
        count: int = 5

        @property
        def outputs(self) -> StepColumns:
            return ["joke"]

        def format_output(
            self, output: str | None, input: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            return {"joke": output}

        def process(self, offset: int = 0):  # type: ignore[override]
            for index in range(offset, self.count):
                reply = self.llm.generate([[{"role": "user", "content": f"joke {index}"}]])[0]
                yield [self.format_output(reply["generations"][0])], index == self.count - 1

    with Pipeline(name="jokes") as pipeline:
        Jokes(llm=AsyncMockLLM(responses=lambda m: "ha " + m[-1]["content"])) >> Shout(
            input_mappings={"generation": "joke"}
        )
    rows = rows_of(pipeline.run(progress=False))
    assert [r["shout"] for r in rows] == [f"HA JOKE {i}" for i in range(5)]


class Lifecycle(Step):
    """Records load/unload; refuses to load when `broken`."""

    broken: bool = False
    events: ClassVar[list[str]] = []

    def load(self) -> None:
        if self.broken:
            raise OSError("model file missing")
        Lifecycle.events.append("load")

    def unload(self) -> None:
        Lifecycle.events.append("unload")

    def process(self, inputs: StepInput) -> StepOutput:
        Lifecycle.events.append("process")
        yield inputs


def test_steps_are_loaded_before_and_unloaded_after_and_load_errors_surface() -> None:
    Lifecycle.events.clear()
    with Pipeline(name="life") as pipeline:
        LoadDataFromDicts(data=instructions(2)) >> Lifecycle()
    pipeline.run(progress=False)
    assert Lifecycle.events == ["load", "process", "unload"]
    llm = AsyncMockLLM()
    with Pipeline(name="broken") as pipeline:
        LoadDataFromDicts(data=instructions(2)) >> TextGeneration(llm=llm) >> Lifecycle(broken=True)
    with pytest.raises(OSError, match="model file missing"):
        pipeline.run(progress=False)
    assert llm.calls == []


async def test_run_works_from_inside_a_running_event_loop() -> None:
    with Pipeline(name="notebook") as pipeline:
        LoadDataFromDicts(data=instructions(5)) >> TextGeneration(llm=AsyncMockLLM(responses="ok"))
    distiset = pipeline.run(progress=False)  # as in a notebook cell, where a loop is running
    assert [r["generation"] for r in rows_of(distiset)] == ["ok"] * 5


class FreezeCount(Step):
    """Notes the garbage collector's frozen-object count and thresholds while the run
    processes a batch."""

    counts: ClassVar[list[int]] = []
    thresholds: ClassVar[list[tuple[int, int, int]]] = []

    @property
    def inputs(self) -> StepColumns:
        return ["instruction"]

    def process(self, *inputs: StepInput) -> StepOutput:
        import gc

        FreezeCount.counts.append(gc.get_freeze_count())
        FreezeCount.thresholds.append(gc.get_threshold())
        yield inputs[0]


def test_objects_older_than_the_run_are_frozen_while_it_runs_and_given_back_after() -> None:
    import gc

    from stillroom.pipeline.driver import YOUNG_GENERATION_SCALE

    FreezeCount.counts.clear()
    FreezeCount.thresholds.clear()
    with Pipeline(name="frozen") as pipeline:
        LoadDataFromDicts(data=instructions(3)) >> FreezeCount()
    assert gc.get_freeze_count() == 0
    usual = gc.get_threshold()
    pipeline.run(use_cache=False, progress=False)
    assert FreezeCount.counts and all(count > 0 for count in FreezeCount.counts)
    young = usual[0] * YOUNG_GENERATION_SCALE
    assert set(FreezeCount.thresholds) == {(young, *usual[1:])}
    assert gc.get_freeze_count() == 0  # given back to the collector
    assert gc.get_threshold() == usual

    gc.freeze()  # a process that freezes objects itself keeps them frozen
    try:
        pipeline.run(use_cache=False, progress=False)
        assert gc.get_freeze_count() > 0  # not unfrozen by the run
    finally:
        gc.unfreeze()


def test_runs_at_once_in_threads_give_the_collector_back_as_it_was() -> None:
    """The first run to start tunes the collector, the last to end gives it back: runs in
    threads neither multiply the threshold twice nor leave it raised."""
    import gc
    import threading

    from stillroom.pipeline.driver import YOUNG_GENERATION_SCALE

    usual = gc.get_threshold()
    FreezeCount.thresholds.clear()
    release = threading.Event()

    class Held(Step):
        @property
        def inputs(self) -> StepColumns:
            return ["instruction"]

        def process(self, *inputs: StepInput) -> StepOutput:
            FreezeCount.thresholds.append(gc.get_threshold())
            release.wait(10)
            yield inputs[0]

    def run(name: str) -> None:
        with Pipeline(name=name) as pipeline:
            LoadDataFromDicts(data=instructions(2)) >> Held()
        pipeline.run(use_cache=False, progress=False)

    threads = [threading.Thread(target=run, args=(f"together-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(FreezeCount.thresholds) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(20)
    assert set(FreezeCount.thresholds) == {(usual[0] * YOUNG_GENERATION_SCALE, *usual[1:])}
    assert gc.get_threshold() == usual and gc.get_freeze_count() == 0
