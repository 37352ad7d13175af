"""Routing batches on Ray: the driver schedules, so `sample_n_steps` routes each batch as the
local engine does, and the branches' replicas run only the batches routed to them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray_steps import Logged, server_llm

from stillroom.pipeline import Pipeline, sample_n_steps
from stillroom.steps import GroupColumns, LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def routed(cache_dir: Path, server: MockLLMServer) -> Pipeline:
    with Pipeline(name="ray-routing", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(30)], batch_size=5
        )
        branches = [
            TextGeneration(name=name, llm=server_llm(server), input_batch_size=5)
            for name in ("a", "b", "c")
        ]
        load >> sample_n_steps(2) >> branches >> GroupColumns(columns=["generation"])
    return pipeline


def rows_of(distiset: Any) -> list[dict[str, Any]]:
    return distiset["default"]["train"].to_list()


def test_ray_routes_each_batch_as_the_local_engine_does(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    local = routed(tmp_path / "local", server).run(progress=False)
    server.reset()
    on_ray = routed(tmp_path / "ray", server).ray().run(progress=False)
    assert rows_of(on_ray) == rows_of(local)
    assert all(len(row["grouped_generation"]) == 2 for row in rows_of(on_ray))
    assert on_ray.summary is not None and on_ray.summary.requests_sent == 60
    assert server.stats().requests_total == 60


def test_load_groups_on_ray_stop_a_groups_replicas_before_the_next_group_starts(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    log = tmp_path / "log"

    def staged(cache_dir: Path) -> Pipeline:
        with Pipeline(name="ray-stages", cache_dir=cache_dir) as pipeline:
            load = LoadDataFromDicts(
                name="load", data=[{"instruction": f"question {i}"} for i in range(20)]
            )
            first = Logged(name="first", log=str(log), input_batch_size=5)
            answer = TextGeneration(name="answer", llm=server_llm(server), input_batch_size=5)
            load >> first >> Logged(name="second", log=str(log), input_batch_size=5) >> answer
        return pipeline

    groups = [["load", "first"], ["second", "answer"]]
    local = staged(tmp_path / "local").run(progress=False, load_groups=groups)
    assert log.read_text().split("\n")[:-1] == [
        "load first",
        "unload first",
        "load second",
        "unload second",
    ]
    log.unlink()
    on_ray = staged(tmp_path / "ray").ray().run(progress=False, load_groups=groups)
    assert log.read_text().split("\n")[:-1] == [
        "load first",
        "unload first",
        "load second",
        "unload second",
    ]
    assert rows_of(on_ray) == rows_of(local)
    assert on_ray.summary is not None and on_ray.summary.completed
    assert set(on_ray.summary.placements) == {"load", "first", "second", "answer"}
