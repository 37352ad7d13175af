"""`run(load_groups=...)`: steps loaded group by group, a group's steps unloaded before the
next group loads (two local models on one GPU never in memory together), as in distilabel."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stillroom.errors import StillroomUserError
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import GlobalStep, KeepColumns, LoadDataFromDicts, StepInput
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.typing import StepOutput

pytestmark = pytest.mark.timeout(60)

EVENTS: list[tuple[str, str]] = []
"""(what, step or model) in the order they happened, across the threads of a run."""


class TrackedLLM(MockLLM):
    """A stand-in for a local model: notes when it is loaded, used and unloaded; sends the
    process a Ctrl-C when it answers prompt `interrupt_at` (a class variable, so that the
    pipeline's signature ignores it)."""

    interrupt_at: ClassVar[str | None] = None

    def load(self) -> None:
        super().load()
        EVENTS.append(("load", self.model))

    def unload(self) -> None:
        EVENTS.append(("unload", self.model))
        super().unload()

    def generate_results(self, inputs: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        EVENTS.append(("generate", self.model))
        outputs = super().generate_results(inputs, num_generations, **kwargs)
        prompts = [messages[-1]["content"] for messages in inputs]
        if TrackedLLM.interrupt_at in prompts:
            TrackedLLM.interrupt_at = None
            os.kill(os.getpid(), signal.SIGINT)
        return outputs


class TrackedLoad(LoadDataFromDicts):
    def load(self) -> None:
        super().load()
        EVENTS.append(("load", self.name or ""))

    def unload(self) -> None:
        EVENTS.append(("unload", self.name or ""))
        super().unload()


class CountAll(GlobalStep):
    """Adds the number of rows it received to each row."""

    @property
    def outputs(self) -> list[str]:
        return ["total"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        yield [{**row, "total": len(inputs)} for row in inputs]


@pytest.fixture(autouse=True)
def _fresh_events() -> None:
    EVENTS.clear()
    TrackedLLM.interrupt_at = None


def two_models(rows: int = 12) -> Pipeline:
    """load >> first (model-a) >> second (model-b) >> keep: two "local models" in a row."""
    with Pipeline(name="two-models") as pipeline:
        load = TrackedLoad(name="load", data=[{"instruction": f"q{i}"} for i in range(rows)])
        load.batch_size = 3
        first = TextGeneration(
            name="first", llm=TrackedLLM(model="model-a"), output_mappings={"generation": "a"}
        )
        second = TextGeneration(
            name="second",
            llm=TrackedLLM(model="model-b"),
            template="{{ a }}",
            columns=["a"],
            output_mappings={"generation": "b"},
        )
        load >> first >> second >> KeepColumns(name="keep", columns=["instruction", "a", "b"])
    return pipeline


def loaded_together(events: list[tuple[str, str]]) -> list[set[str]]:
    """What was loaded after each event."""
    loaded: set[str] = set()
    states = []
    for what, name in events:
        if what == "load":
            loaded.add(name)
        elif what == "unload":
            loaded.discard(name)
        states.append(set(loaded))
    return states


def rows_of(distiset: Any) -> list[dict[str, Any]]:
    return distiset["default"]["train"].to_list()


def test_without_groups_everything_is_loaded_at_the_start() -> None:
    reference = rows_of(two_models().run(progress=False))
    assert len(reference) == 12
    assert {event for event in EVENTS[:3]} == {("load", n) for n in ("load", "model-a", "model-b")}
    assert any({"model-a", "model-b"} <= state for state in loaded_together(EVENTS))


def test_a_group_is_unloaded_before_the_next_one_loads() -> None:
    reference = rows_of(two_models().run(progress=False))
    EVENTS.clear()
    pipeline = two_models()
    distiset = pipeline.run(
        progress=False, use_cache=False, load_groups=[["first"], [pipeline.get_step("second")]]
    )
    assert rows_of(distiset) == reference
    assert not any({"model-a", "model-b"} <= state for state in loaded_together(EVENTS))
    for index, (what, name) in enumerate(EVENTS):
        if what == "generate":  # a model is used only while it is loaded
            assert name in loaded_together(EVENTS)[index]
    assert EVENTS.count(("generate", "model-a")) == EVENTS.count(("generate", "model-b")) == 4
    a_unloaded = EVENTS.index(("unload", "model-a"))
    assert EVENTS.index(("load", "model-b")) > a_unloaded
    assert ("generate", "model-a") not in EVENTS[a_unloaded:]  # all of a's rows first
    assert EVENTS.count(("load", "model-a")) == EVENTS.count(("unload", "model-a")) == 1
    assert EVENTS.count(("load", "model-b")) == EVENTS.count(("unload", "model-b")) == 1
    # the steps in no group form stages between the groups, in the graph's order
    assert pipeline.get_load_stages([["first"], ["second"]]) == (
        [["load"], ["first"], ["second"], ["keep"]],
        [["load"], ["first"], ["second"], ["keep"]],
    )


def test_sequential_step_execution_loads_one_step_at_a_time() -> None:
    reference = rows_of(two_models().run(progress=False))
    EVENTS.clear()
    distiset = two_models().run(
        progress=False, use_cache=False, load_groups="sequential_step_execution"
    )
    assert ("generate", "model-b") in EVENTS
    assert rows_of(distiset) == reference
    assert all(len(state) <= 1 for state in loaded_together(EVENTS))
    order = [name for what, name in EVENTS if what == "load"]
    assert order == ["load", "model-a", "model-b"]


def test_a_global_step_has_a_stage_of_its_own() -> None:
    with Pipeline(name="global-stage") as pipeline:
        load = LoadDataFromDicts(name="load", data=[{"instruction": f"q{i}"} for i in range(5)])
        gen = TextGeneration(name="gen", llm=TrackedLLM(model="m"))
        load >> gen >> CountAll(name="count") >> KeepColumns(name="keep", columns=["total"])
    stages, last = pipeline.get_load_stages([["keep"]])
    assert stages == [["load", "gen"], ["count"], ["keep"]]
    assert last == [["gen"], ["count"], ["keep"]]
    assert pipeline.get_load_stages() == ([["load", "gen", "count", "keep"]], [["keep"]])
    distiset = pipeline.run(progress=False, load_groups=[["keep"]])
    assert [row["total"] for row in rows_of(distiset)] == [5] * 5
    assert ("unload", "m") in EVENTS


def test_a_resumed_run_does_not_load_a_finished_stage_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = rows_of(two_models().run(progress=False))
    monkeypatch.setenv("STILLROOM_CACHE_DIR", str(tmp_path / "interrupted"))
    EVENTS.clear()
    TrackedLLM.interrupt_at = "mock reply"  # model-b's prompts (model-a's replies): stage 3
    groups = [["first"], ["second"]]
    stopped = two_models().run(progress=False, load_groups=groups)
    assert stopped.summary is not None and not stopped.summary.completed
    assert ("unload", "model-b") in EVENTS  # the interrupted stage was unloaded too
    EVENTS.clear()
    resumed = two_models().run(progress=False, load_groups=groups)
    assert resumed.summary is not None and resumed.summary.completed and resumed.summary.resumed
    assert rows_of(resumed) == reference
    loaded = [name for what, name in EVENTS if what == "load"]
    assert loaded == ["model-b"]  # the generator and model-a had finished


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        ([["nope"]], "'nope', which is not a step"),
        ([["first"], ["first", "second"]], "'first' is in group 0 and in group 1"),
        ([["load", "second"]], r"\['first'\] lie between steps of the group"),
        ("everything", "a list of lists of steps"),
        ([["second"], ["first"], ["keep", "load"]], r"\['first', 'second'\] lie between"),
    ],
)
def test_load_groups_that_cannot_work_are_refused_before_anything_runs(
    groups: Any, problem: str
) -> None:
    with pytest.raises(StillroomUserError, match=problem):
        two_models().run(progress=False, load_groups=groups)
    assert EVENTS == []


def test_a_global_step_grouped_with_others_is_refused() -> None:
    with Pipeline(name="global-grouped") as pipeline:
        load = LoadDataFromDicts(name="load", data=[{"instruction": "q"}])
        load >> CountAll(name="count") >> KeepColumns(name="keep", columns=["total"])
    with pytest.raises(StillroomUserError, match="global step 'count' is grouped"):
        pipeline.run(progress=False, load_groups=[["count", "keep"]])


@pytest.mark.timeout(90)
def test_cpu_bound_steps_get_a_process_pool_per_stage() -> None:
    from pipeline_helpers import PidStep

    with Pipeline(name="cpu-stages") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(6)], batch_size=2)
        first, second = PidStep(name="first", output_mappings={"pid": "p1"}), PidStep(name="second")
        load >> first >> second
    rows = rows_of(pipeline.run(progress=False, load_groups=[["first"], ["second"]]))
    assert [row["instruction"] for row in rows] == [f"q{i}" for i in range(6)]
    first_pids, second_pids = {row["p1"] for row in rows}, {row["pid"] for row in rows}
    assert os.getpid() not in first_pids | second_pids
    assert not first_pids & second_pids  # the first stage's pool was shut down with it
