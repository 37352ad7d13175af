"""RayPipeline runs the same pipelines as the local engine, with the same rows, failures and
resume, on one local Ray instance (2 CPUs) shared by the session (see conftest.py)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from ray_steps import DiesAfter, SameJoke, SlowOnce, build, server_llm

from stillroom.models import FallbackLLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import StepFailedError
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.testing import MockLLMServer

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def rows_of(distiset: Any) -> list[dict[str, Any]]:
    return distiset["default"]["train"].to_list()


def test_same_rows_as_the_local_engine(
    ray_address: str, server: MockLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local = build(tmp_path / "local", server_llm(server)).run(progress=False)
    server.reset()
    pipeline = build(tmp_path / "ray", server_llm(server), record_worker=True)
    with caplog.at_level(logging.WARNING, logger="stillroom.pipeline"):
        on_ray = pipeline.ray().run(progress=False)
    # no storage URL on a two-node cluster: the state on the driver's disk is warned about
    assert "has 2 nodes but the run keeps its state in" in caplog.text

    expected, got = rows_of(local), rows_of(on_ray)
    workers = {row.pop("worker") for row in got}
    assert got == expected
    assert len(got) == 120
    assert len(workers) == 2, "both replicas of the CPU-heavy step processed rows"
    # failed requests keep their rows, with None outputs and the error, as locally
    failed = [row for row in got if row["generation"] is None]
    assert len(failed) == 12
    assert all(row["digest"] is None for row in failed)
    assert all("no answer" in row[METADATA_COLUMN]["error_text_generation_0"] for row in failed)
    assert {row["rows"] for row in got} == {120} and {row["digested"] for row in got} == {108}
    assert on_ray.summary is not None and local.summary is not None
    assert on_ray.summary.failed_rows == local.summary.failed_rows == {"text_generation_0": 12}
    stats = server.stats()
    assert stats.requests_total == on_ray.summary.requests_sent == 120
    assert stats.max_requests_per_prompt == 1


def test_a_raising_replica_keeps_its_rows_with_the_error_like_the_local_engine(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    marker = tmp_path / "broken"
    marker.touch()
    local = build(tmp_path / "local", server_llm(server), fail_while=marker).run(progress=False)
    on_ray = (
        build(tmp_path / "ray", server_llm(server), fail_while=marker).ray().run(progress=False)
    )

    rows = rows_of(on_ray)
    assert rows == rows_of(local)
    assert [row["instruction"] for row in rows] == [f"question {i}" for i in range(120)]
    failed = [row for row in rows if (row[METADATA_COLUMN] or {}).get("error_digest_0") is not None]
    assert [row["instruction"] for row in failed] == [f"question {i}" for i in range(50, 60)]
    assert all(row["digest"] is None for row in failed)
    assert {row[METADATA_COLUMN]["error_digest_0"] for row in failed} == {
        "ValueError: cannot digest while broken exists"
    }
    assert on_ray.summary is not None and on_ray.summary.completed
    assert on_ray.summary.failed_rows == {"text_generation_0": 12, "digest_0": 10}


def test_a_raising_global_step_fails_the_run_like_the_local_engine_and_runs_resume_across_engines(
    ray_address: str, server: MockLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "broken"
    marker.touch()
    pipeline = build(tmp_path / "cache", server_llm(server), tally_fail_while=marker)
    with pytest.raises(StepFailedError) as local_error:
        pipeline.run(progress=False)
    # the same pipeline on Ray resumes the local run's checkpoint, and fails the same way
    with (
        caplog.at_level(logging.INFO, logger="stillroom.pipeline"),
        pytest.raises(StepFailedError) as ray_error,
    ):
        pipeline.ray().run(progress=False)
    assert "Resuming pipeline 'ray-test'" in caplog.text
    assert ray_error.value.step_name == local_error.value.step_name == "tally_0"
    assert type(ray_error.value.error) is type(local_error.value.error) is ValueError
    assert str(ray_error.value.error) == str(local_error.value.error)

    marker.unlink()
    # and Ray resumes its own checkpoint (kept under its state URL); resources are how a
    # step runs, not what it computes, so changing them keeps the checkpoint too
    resumed = pipeline.ray().run({"digest_0": {"resources": {"replicas": 1}}}, progress=False)
    rows = rows_of(resumed)
    assert sorted(row["instruction"] for row in rows) == sorted(f"question {i}" for i in range(120))
    assert resumed.summary is not None and resumed.summary.resumed
    # over the three runs each answer was asked for once: the runs after the first took
    # what it finished from the cache (failed requests are never cached, so are retried)
    answered = answered_prompts(server)
    assert len(answered) == 108 and set(answered.values()) == {1}


def answered_prompts(server: MockLLMServer) -> dict[str, int]:
    """Requests per prompt the server answered (those ending in 3 always fail)."""
    return {
        prompt: count
        for prompt, count in server.stats().requests_by_prompt.items()
        if not prompt.endswith("3")
    }


def test_a_slow_request_holds_back_no_other_batch_inside_a_replica(
    ray_address: str, tmp_path: Path
) -> None:
    log = tmp_path / "replies.log"
    with Pipeline(name="no-barrier", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(100)], batch_size=10
        )
        answer = TextGeneration(
            llm=SlowOnce(log=str(log), max_concurrent_requests=4), input_batch_size=10
        )
        load >> answer
    rows = rows_of(pipeline.ray().run(progress=False))

    assert [row["instruction"] for row in rows] == [f"question {i}" for i in range(100)]
    finished = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    # the slow request's batch waits for it; later batches' requests go on meanwhile
    # (with a barrier per batch, at most its 9 neighbours could finish first)
    assert finished.index("question 0") >= 50


def test_an_llm_made_of_other_llms_keeps_its_concurrency_limit_on_a_replica(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    """FallbackLLM has no request slot of its own; its `max_concurrent_requests` still holds
    the replica's rows, as on the local engine (its member alone would allow 16)."""
    server.configure(latency=0.05)
    with Pipeline(name="fallback-limit", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(40)], batch_size=10
        )
        llm = FallbackLLM(llms=[server_llm(server, concurrency=16)], max_concurrent_requests=3)
        load >> TextGeneration(llm=llm, input_batch_size=10)
    rows = rows_of(pipeline.ray().run(progress=False))
    assert [row["instruction"] for row in rows] == [f"question {i}" for i in range(40)]
    assert 1 < server.stats(include_prompts=False).max_in_flight <= 3


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import ray_steps
ray_steps.ship_by_value()
from pathlib import Path
from stillroom.models import OpenAILLM
llm = OpenAILLM(
    model="mock-model", base_url={base_url!r}, api_key="dummy", max_retries=0,
    max_concurrent_requests=4,
)
# a relative cache directory, from this driver's own working directory
pipeline = ray_steps.build(Path("cache"), llm, rows=200)
pipeline.ray(address={address!r}, storage={storage!r}).run(
    progress=False, checkpoint_interval=0.2
)
"""


def test_a_killed_run_resumes_from_the_cache(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    server.configure(latency=0.05)
    storage = (tmp_path / "shared").as_uri()  # a file:// URL, as an NFS mount would be given
    script = DRIVER.format(
        tests=str(Path(__file__).parent),
        base_url=server.base_url,
        address=ray_address,
        storage=storage,
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(os.path.abspath, sys.path))},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and driver.poll() is None:
            if server.stats(include_prompts=False).requests_total >= 85:  # mid-batch
                break
            time.sleep(0.02)
        assert driver.poll() is None, "the run ended before it could be killed"
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(10)
    sent_by_killed_run = settled_request_count(server)
    assert sent_by_killed_run < 200
    cache = tmp_path / "cache"
    # the checkpoint and the journal are under the storage URL, not in the cache directory
    assert len(list((tmp_path / "shared" / "ray-test" / "runs").iterdir())) == 1
    assert list((tmp_path / "shared" / "ray-test" / "requests").glob("text_generation_0/*.log"))
    assert not (cache / "pipelines" / "ray-test" / "ray").exists()

    # resumed from another working directory, naming the same cache directory absolutely
    pipeline = build(cache, server_llm(server, concurrency=4), rows=200).ray(storage=storage)
    distiset = pipeline.run(progress=False)

    rows = rows_of(distiset)
    assert sorted(row["instruction"] for row in rows) == sorted(f"question {i}" for i in range(200))
    assert distiset.summary is not None and distiset.summary.resumed
    assert distiset.summary.cache_hits > 0
    answered = answered_prompts(server)
    assert len(answered) == 180
    # a finished request is never sent again: only those in flight when the driver died
    # (at most the LLM's 4 concurrent requests) were answered twice
    assert sum(count - 1 for count in answered.values()) <= 4


def settled_request_count(server: MockLLMServer) -> int:
    """Requests the server received, once no more arrive (the killed run's actors are gone)."""
    count, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        current = server.stats(include_prompts=False).requests_total
        if current == count:
            break
        count = current
        time.sleep(0.5)
    return count


def test_a_generator_tasks_own_llm_calls_are_counted_and_cached_on_ray(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    def build_jokes() -> Pipeline:
        with Pipeline(name="ray-jokes", cache_dir=tmp_path / "cache") as pipeline:
            SameJoke(name="jokes", llm=server_llm(server))
        return pipeline

    first = build_jokes().ray().run(progress=False)
    assert [row["joke"] for row in rows_of(first)] == ["answer to a joke"] * 6
    assert first.summary is not None and first.summary.requests_sent == 6
    assert server.stats().requests_total == 6
    again = build_jokes().ray().run(progress=False)
    assert again.summary is not None and again.summary.cache_hits == 6
    assert server.stats().requests_total == 6  # nothing sent twice


def test_a_replica_that_dies_is_replaced_and_its_batch_runs_again_without_paying_twice(
    ray_address: str, server: MockLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "die"
    marker.touch()
    llm = DiesAfter(
        model="mock-model",
        base_url=server.base_url,
        api_key="dummy",
        max_retries=0,
        max_concurrent_requests=1,  # one request at a time: what was answered is known
        die_after="question 12",
        marker=str(marker),
    )
    with Pipeline(name="ray-dies", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(40)], batch_size=10
        )
        load >> TextGeneration(llm=llm, input_batch_size=10)
    with caplog.at_level(logging.WARNING, logger="stillroom.pipeline"):
        distiset = pipeline.ray().run(progress=False)

    assert not marker.exists(), "the replica never died"
    assert "A Ray replica of step 'text_generation_0' stopped" in caplog.text
    rows = rows_of(distiset)
    assert [row["instruction"] for row in rows] == [f"question {i}" for i in range(40)]
    for i, row in enumerate(rows):
        expected = None if str(i).endswith("3") else f"answer to question {i}"
        assert row["generation"] == expected
    counts = server.stats().requests_by_prompt
    answered = {p: n for p, n in counts.items() if not p.endswith("3") and p != "question 12"}
    # every reply the dead replica received and recorded came from the cache on the retry
    assert set(answered.values()) == {1}, answered
    assert counts["question 12"] <= 2  # its reply was received, but not recorded, when it died


def test_strict_cache_stops_a_ray_run_with_a_damaged_cache(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    """A Ray run reads the local SQLite cache's replies: a damaged one is refused with the same
    `DamagedCacheError`, before any request."""
    from stillroom.errors import DamagedCacheError

    def small() -> Pipeline:
        with Pipeline(name="damaged-on-ray", cache_dir=tmp_path) as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(4)])
            load >> TextGeneration(llm=server_llm(server))
        return pipeline

    small().run(progress=False)
    (database,) = tmp_path.glob("pipelines/damaged-on-ray/cache.sqlite")
    database.write_bytes(database.read_bytes()[:1500])
    server.reset()
    with pytest.raises(DamagedCacheError, match="integrity check"):
        small().ray().run(progress=False, strict_cache=True, use_cache=False)
    assert server.stats().requests_total == 0


def test_duplicate_prompts_across_replicas_get_one_key_each_and_a_rerun_sends_none(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    """Two replicas of a task hold copies of one prompt at once: each occurrence still gets
    its own key (the step's counter), so a rerun finds every one of them in the journals."""

    def build_same() -> Pipeline:
        with Pipeline(name="ray-duplicates", cache_dir=tmp_path / "cache") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "question 1"}] * 40, batch_size=5)
            load >> TextGeneration(
                llm=server_llm(server, concurrency=4),
                input_batch_size=5,
                resources={"replicas": 2},
            )
        return pipeline

    server.configure(latency=0.2)  # 4 s on one replica: the second joins well before
    first = build_same().ray().run(progress=False)
    assert first.summary is not None
    assert len(first.summary.placements["text_generation_0"]) == 2  # both held copies
    assert [row["generation"] for row in rows_of(first)] == ["answer to question 1"] * 40
    assert server.stats().requests_total == 40
    again = build_same().ray().run(progress=False, use_cache=True)
    assert again.summary is not None
    assert again.summary.cache_hits == 40 and again.summary.requests_sent == 0
    assert server.stats().requests_total == 40
