"""A Ray run survives losing a node or a replica's process: the replicas are replaced on
nodes that are still there, their batches run again, and no request answered and journaled
is sent again. Run on the session's two-raylet cluster, plus a third raylet killed by PID."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import ray
from ray_steps import AlwaysDies, CrashingLoader, server_llm

from stillroom.pipeline import Pipeline
from stillroom.pipeline.ray.replicas import ClusterLostError
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer
from stillroom.testing.ray_cluster import LocalCluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(150)]


def rows_of(distiset: Any) -> list[dict[str, Any]]:
    return distiset["default"]["train"].to_list()


def expected_generations(count: int) -> list[str | None]:
    return [None if str(i).endswith("3") else f"answer to question {i}" for i in range(count)]


def sent_twice(server: MockLLMServer) -> dict[str, int]:
    """Prompts the server answered more than once (those ending in 3 always fail, and a
    failure is never cached, so they are left out)."""
    return {
        prompt: count
        for prompt, count in server.stats().requests_by_prompt.items()
        if count > 1 and not prompt.endswith("3")
    }


def alive_nodes() -> set[str]:
    return {node["NodeID"] for node in ray.nodes() if node.get("Alive")}


def test_a_lost_node_is_survived_with_exact_rows_and_nothing_answered_sent_again(
    ray_cluster: LocalCluster,
    server: MockLLMServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = alive_nodes()
    ray_cluster.add_node("doomed", cpus=1)
    deadline = time.monotonic() + 30
    while len(alive_nodes()) <= len(before) and time.monotonic() < deadline:
        time.sleep(0.2)
    (doomed,) = alive_nodes() - before
    server.configure(latency=0.1)
    rows = 200
    with Pipeline(name="ray-node-loss", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(rows)], batch_size=10
        )
        generate = TextGeneration(
            llm=server_llm(server, concurrency=2),
            input_batch_size=10,
            resources={"replicas": len(before) + 1},  # one per node, the doomed one included
        )
        load >> generate

    killed = threading.Event()

    def kill_mid_run() -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if server.stats(include_prompts=False).requests_total >= 50:
                ray_cluster.kill_node("doomed")
                killed.set()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_mid_run, daemon=True)
    killer.start()
    with caplog.at_level(logging.WARNING, logger="stillroom.pipeline"):
        distiset = pipeline.ray().run(progress=False)
    killer.join(5)

    assert killed.is_set(), "the node was not killed mid-run"
    assert "A Ray replica of step 'text_generation_0' stopped" in caplog.text
    replaced = [r.getMessage() for r in caplog.records if "now runs on node" in r.getMessage()]
    assert replaced, "no replica was replaced"
    assert all(doomed[:12] not in message for message in replaced), replaced
    assert doomed not in alive_nodes()
    got = rows_of(distiset)
    assert [row["instruction"] for row in got] == [f"question {i}" for i in range(rows)]
    assert [row["generation"] for row in got] == expected_generations(rows)
    # only the requests in flight on the lost node (its replica sends 2 at once) went twice
    assert sum(count - 1 for count in sent_twice(server).values()) <= 2, sent_twice(server)
    assert distiset.summary is not None and distiset.summary.completed


def test_a_generator_whose_replica_dies_goes_on_from_the_rows_it_emitted(
    ray_address: str, server: MockLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "crash"
    marker.touch()
    with Pipeline(name="ray-generator-dies", cache_dir=tmp_path / "cache") as pipeline:
        load = CrashingLoader(rows=100, crash_at=40, marker=str(marker))
        load >> TextGeneration(llm=server_llm(server), input_batch_size=10)
    with caplog.at_level(logging.WARNING, logger="stillroom.pipeline"):
        distiset = pipeline.ray().run(progress=False)

    assert not marker.exists(), "the generator's replica never died"
    assert "The Ray replica of generator 'crashing_loader_0' stopped" in caplog.text
    got = rows_of(distiset)
    assert [row["instruction"] for row in got] == [f"question {i}" for i in range(100)]
    assert [row["generation"] for row in got] == expected_generations(100)
    assert sent_twice(server) == {}


def test_a_run_the_cluster_cannot_finish_says_what_is_saved_and_how_to_resume(
    ray_address: str, tmp_path: Path
) -> None:
    with Pipeline(name="ray-cannot-go-on", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(20)], batch_size=5
        )
        load >> AlwaysDies(input_batch_size=5)
    with pytest.raises(ClusterLostError) as lost:
        pipeline.ray(storage=str(tmp_path / "state")).run(progress=False)

    message = str(lost.value)
    assert "cannot go on with step 'always_dies_0'" in message
    assert "died 4 times on one batch" in message
    assert str(tmp_path / "state" / "ray-cannot-go-on") in message
    assert "run the pipeline again with the same cache_dir and storage to resume" in message
    assert "fix the step" not in message
    assert (tmp_path / "state" / "ray-cannot-go-on" / "runs").is_dir()
