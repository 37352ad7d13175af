"""RayPipeline's set-up: lazy import of Ray, the missing-extra error, connection arguments,
what a step's resources ask of Ray, and the checks made before any step starts."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from ray_steps import Digest, build

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline, RayPipeline
from stillroom.pipeline.errors import PipelineValidationError
from stillroom.pipeline.ray.cluster import RayConnection
from stillroom.steps import LoadDataFromDicts, Step, StepInput
from stillroom.steps.typing import StepOutput


def test_importing_pipelines_does_not_import_ray() -> None:
    code = (
        "import sys\n"
        "import stillroom.pipeline\n"
        "from stillroom.pipeline import Pipeline, RayPipeline\n"
        "from stillroom.steps import LoadDataFromDicts\n"
        "with Pipeline(name='p') as p:\n"
        "    LoadDataFromDicts(data=[{'a': 1}])\n"
        "assert type(p.ray()) is RayPipeline\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_running_without_ray_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an absent package looks like
    with Pipeline(name="no-ray", cache_dir=tmp_path) as pipeline:
        LoadDataFromDicts(data=[{"a": 1}])
    with pytest.raises(MissingExtraError, match=r"stillroom\[ray\]") as error:
        pipeline.ray().run(progress=False)
    assert error.value.extra == "ray"


def test_connection_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    local = RayConnection(num_cpus=2).init_arguments()
    assert local["address"] == "local" and local["num_cpus"] == 2
    assert local["include_dashboard"] is False
    assert RayConnection("auto").init_arguments()["address"] == "auto"
    remote = RayConnection("ray://head:10001", init_kwargs={"namespace": "x"}).init_arguments()
    assert remote["address"] == "ray://head:10001" and remote["namespace"] == "x"
    assert "num_cpus" not in remote
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # a job submitted with `ray job submit`
    assert "address" not in RayConnection().init_arguments()


def test_pipeline_ray_keeps_the_graph() -> None:
    pipeline = build(Path("unused"), AsyncMockLLM())
    on_ray = pipeline.ray(address="auto", num_cpus=2, init_kwargs={"namespace": "n"})
    assert isinstance(on_ray, RayPipeline)
    assert on_ray.dag is pipeline.dag and on_ray.name == pipeline.name
    assert on_ray.signature == pipeline.signature
    assert (on_ray.address, on_ray.num_cpus, on_ray.init_kwargs) == ("auto", 2, {"namespace": "n"})


def test_ray_pipeline_is_a_pipeline_that_saves_and_loads(tmp_path: Path) -> None:
    with RayPipeline(name="direct", address="auto") as pipeline:
        LoadDataFromDicts(data=[{"a": 1}]) >> Digest(rounds=1, input_mappings={"generation": "a"})
    path = pipeline.save(tmp_path / "p.yaml")
    loaded = RayPipeline.from_yaml(path, allowed_modules=["ray_steps"])
    assert isinstance(loaded, RayPipeline) and list(loaded.steps) == list(pipeline.steps)


def test_resources_are_runtime_parameters() -> None:
    pipeline = build(Path("unused"), AsyncMockLLM())
    pipeline.validate({"digest_0": {"resources": {"replicas": 3, "cpus": 0.5}}})
    resources = pipeline.get_step("digest_0").resources
    assert (resources.replicas, resources.cpus) == (3, 0.5)


def test_resources_do_not_change_signatures() -> None:
    """How a step runs (replicas, CPUs) is not what it computes: a run resumes with other
    resources, on Ray or locally."""
    pipeline = build(Path("unused"), AsyncMockLLM())
    before = (pipeline.signature, pipeline.step_signatures())
    pipeline.validate({"digest_0": {"resources": {"replicas": 4, "cpus": 2, "gpus": 1}}})
    assert (pipeline.signature, pipeline.step_signatures()) == before


@pytest.mark.ray
@pytest.mark.timeout(60)
def test_a_generator_cannot_have_replicas(ray_address: str, tmp_path: Path) -> None:
    pipeline = build(tmp_path, AsyncMockLLM()).ray()
    with pytest.raises(PipelineValidationError, match=r"load_data_from_dicts_0.*replicas=2"):
        pipeline.run({"load_data_from_dicts_0": {"resources": {"replicas": 2}}}, progress=False)


@pytest.mark.ray
@pytest.mark.timeout(60)
def test_asking_for_resources_no_node_has_fails_before_running(
    ray_address: str, tmp_path: Path
) -> None:
    pipeline = build(tmp_path, AsyncMockLLM()).ray()
    with pytest.raises(StillroomError, match=r"'digest_0'.*GPU=1.*no node"):
        pipeline.run({"digest_0": {"resources": {"gpus": 1}}}, progress=False)


class Holding(Step):
    """Keeps a lock in a field: configuration that cannot travel."""

    handle: Any = None

    @property
    def inputs(self) -> list[str]:
        return ["a"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield inputs


@pytest.mark.ray
@pytest.mark.timeout(60)
def test_a_step_that_cannot_be_pickled_is_named(ray_address: str, tmp_path: Path) -> None:
    with Pipeline(name="unpicklable", cache_dir=tmp_path) as pipeline:
        LoadDataFromDicts(data=[{"a": 1}]) >> Holding(handle=threading.Lock())
    with pytest.raises(StillroomError, match=r"Step 'holding_0' cannot be sent to Ray.*load\(\)"):
        pipeline.ray().run(progress=False)


_RUN_ON_RAY = """
import sys
import ray
from stillroom.pipeline import Pipeline
from stillroom.steps import KeepColumns, LoadDataFromDicts

address = sys.argv[2] if len(sys.argv) > 2 else None
with Pipeline(name="connect", cache_dir=sys.argv[1]) as pipeline:
    load = LoadDataFromDicts(data=[{"a": i, "b": -i} for i in range(30)], batch_size=7)
    load >> KeepColumns(columns=["a"])
rows = pipeline.ray(address, num_cpus=1).run(progress=False)["default"]["train"].to_list()
assert rows == [{"a": i} for i in range(30)], rows
assert not ray.is_initialized(), "the run left its Ray connection open"
print("ok")
"""


@pytest.mark.ray
@pytest.mark.timeout(120)
@pytest.mark.parametrize("connect", ["start a local instance", "join a running cluster"])
def test_a_script_starts_or_joins_ray_and_leaves_no_connection_behind(
    connect: str, ray_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    script = tmp_path / "run_on_ray.py"
    script.write_text(_RUN_ON_RAY)
    args = [str(tmp_path / "cache")] + ([ray_address] if connect.startswith("join") else [])
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_replicas_reserving_no_cpu_are_spread_over_the_nodes_and_the_summary_says_where(
    ray_address: str, tmp_path: Path
) -> None:
    import ray
    from ray_steps import SlowLoad

    with Pipeline(name="ray-spread", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": f"question {i}"} for i in range(40)], batch_size=5
        )
        # each unit waits until both replicas have loaded, so both run some
        load >> SlowLoad(
            name="upper",
            folder=str(tmp_path),
            peers=2,
            resources={"replicas": 2},
            input_batch_size=5,
        )
    distiset = pipeline.ray().run(progress=False)

    rows = distiset["default"]["train"].to_list()
    assert [row["upper"] for row in rows] == [f"QUESTION {i}" for i in range(40)]
    assert distiset.summary is not None
    placements = distiset.summary.placements
    alive = {node["NodeID"] for node in ray.nodes() if node.get("Alive")}
    assert len(placements["upper"]) == 2 and set(placements["upper"]) <= alive
    assert sum(placements["upper"].values()) == 8
    assert sum(placements["load_data_from_dicts_0"].values()) == 8
