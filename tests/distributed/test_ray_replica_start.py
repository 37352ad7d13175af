"""A step's replicas join the run as they start: the first one to start takes units at
once, a slow or unschedulable one holds back none, and one that cannot start fails the run
with its reason. The replicas of `SlowLoad` coordinate through files, so each case happens
in the order it names whatever the machine's load."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from ray_steps import SlowLoad

from stillroom.errors import StillroomError
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import StepFailedError
from stillroom.steps import LoadDataFromDicts

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]

UNITS = 30  # of 2 rows


def slow_load_pipeline(tmp_path: Path, **step: Any) -> Pipeline:
    """60 questions, 2 a unit, through a `SlowLoad` step named "slow" on Ray."""
    with Pipeline(name=f"ray-{tmp_path.name}", cache_dir=tmp_path / "cache") as pipeline:
        data = [{"instruction": f"question {i}"} for i in range(2 * UNITS)]
        load = LoadDataFromDicts(data=data, batch_size=2)
        load >> SlowLoad(name="slow", folder=str(tmp_path), input_batch_size=2, **step)
    return pipeline


def run_logged(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> Any:
    with caplog.at_level(logging.INFO, logger="stillroom.pipeline"):
        distiset = pipeline.ray().run(progress=False)
    rows = distiset["default"]["train"].to_list()
    assert [row["upper"] for row in rows] == [f"QUESTION {i}" for i in range(2 * UNITS)]
    assert distiset.summary is not None
    return distiset


def test_a_replica_with_no_room_holds_back_no_unit(
    ray_address: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # three replicas of one CPU each on two one-CPU nodes: the third never finds room (the
    # units wait for the second, so both that started run some)
    pipeline = slow_load_pipeline(tmp_path, peers=2, resources={"replicas": 3, "cpus": 1})
    distiset = run_logged(pipeline, caplog)

    assert len(distiset.summary.placements["slow"]) == 2
    assert re.search(
        r"Step 'slow' ran on 2 of its 3 replicas: replica\(s\) \d had not started by the end "
        r"\(waiting for a node with room for \{'CPU': 1.0\}, or still loading\)",
        caplog.text,
    )


def test_a_slow_replica_joins_the_run_once_it_has_loaded(
    ray_address: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = slow_load_pipeline(tmp_path, join_after=10, resources={"replicas": 2})
    distiset = run_logged(pipeline, caplog)

    placements = distiset.summary.placements["slow"]
    # the first replica ran 10 units before the second had loaded, then they shared the
    # rest (a replica holds 2 units at most)
    assert len(placements) == 2 and sum(placements.values()) == UNITS
    assert max(placements.values()) >= 10, placements
    assert re.search(r"Step 'slow': replica \d joined after", caplog.text)
    assert "had not started by the end" not in caplog.text


@pytest.mark.parametrize("cause", ["load() raises", "its process dies at each try"])
def test_a_replica_that_cannot_start_after_another_did_fails_the_run_with_its_reason(
    cause: str, ray_address: str, tmp_path: Path
) -> None:
    exits = tmp_path / "exits"
    exits.write_text("4")  # the first try and REPLICA_RESTARTS more
    pipeline = slow_load_pipeline(
        tmp_path,
        join_after=3,
        fail=cause == "load() raises",
        exits=str(exits),
        resources={"replicas": 2},
    )
    with pytest.raises(StepFailedError) as failed:
        pipeline.ray().run(progress=False)

    assert failed.value.step_name == "slow"
    error = failed.value.error
    assert isinstance(error, StillroomError)
    assert "Step 'slow' could not start on Ray" in str(error)
    if cause == "load() raises":
        assert "this node's model folder is unreadable" in str(error)
    else:
        assert "A Ray replica of step 'slow' stopped" in str(error)
        assert exits.read_text() == "0"


@pytest.mark.parametrize("deaths", [1, 3])
def test_a_replica_whose_process_dies_as_it_starts_is_started_again(
    deaths: int, ray_address: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exits = tmp_path / "exits"
    exits.write_text(str(deaths))
    pipeline = slow_load_pipeline(
        tmp_path, join_after=3, exits=str(exits), resources={"replicas": 2}
    )
    distiset = run_logged(pipeline, caplog)

    assert exits.read_text() == "0"
    assert caplog.text.count("A Ray replica of step 'slow' stopped as it started") == deaths
    assert re.search(r"Step 'slow': replica \d joined after", caplog.text)
    assert len(distiset.summary.placements["slow"]) >= 1
