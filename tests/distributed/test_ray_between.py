"""Rows between two steps on Ray go from replica to replica (`between.py`): the driver gets
references, counts and errors, never a non-leaf step's rows, and a batch whose reference is
lost (its replica gone) is read back from the part its replica wrote under the storage."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from ray_steps import Upper, build, server_llm

from stillroom.pipeline.execution import execute_unit
from stillroom.pipeline.ray.actors import StepReplicaActor
from stillroom.pipeline.ray.between import Between, Piece, RemoteRows, RowStore
from stillroom.pipeline.ray.leaves import LeafPart
from stillroom.pipeline.ray.replicas import RemoteBatches, ReplicaPool
from stillroom.pipeline.ray.transfer import pack
from stillroom.testing import MockLLMServer

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def test_the_driver_gets_no_rows_of_a_step_whose_output_goes_to_other_steps(
    ray_address: str, server: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    returned: dict[str, list[Any]] = {}
    fetched: list[str] = []
    run, next_batch = ReplicaPool.run, RemoteBatches.next_batch
    read = RemoteRows.__getitem__

    async def recording_run(self: ReplicaPool, *args: Any, **kwargs: Any) -> Any:
        result = await run(self, *args, **kwargs)
        returned.setdefault(self.name, []).append(result)
        return result

    def recording_next_batch(self: RemoteBatches, *args: Any) -> Any:
        item = next_batch(self, *args)
        if item is not None:
            returned.setdefault(self.pool.name, []).append(item[0])
        return item

    def recording_read(self: RemoteRows, index: Any) -> Any:
        fetched.append(self.path)
        return read(self, index)

    monkeypatch.setattr(ReplicaPool, "run", recording_run)
    monkeypatch.setattr(RemoteBatches, "next_batch", recording_next_batch)
    monkeypatch.setattr(RemoteRows, "__getitem__", recording_read)

    distiset = build(tmp_path, server_llm(server)).ray().run(progress=False)

    rows = distiset["default"]["train"].to_list()
    assert len(rows) == 120 and {row["rows"] for row in rows} == {120}
    assert distiset.summary is not None
    # the in-code rows are read on the driver (they are there already), each unit's batch
    # put in the object store once; the task and the CPU step (two replicas) return
    # references and counts only
    assert "load_data_from_dicts_0" not in returned
    assert distiset.summary.placements["load_data_from_dicts_0"] == {"driver": 12}
    for step in ("text_generation_0", "digest_0"):
        assert returned[step], step
        assert all(isinstance(result, Between) for result in returned[step]), step
    assert sum(result.rows for result in returned["digest_0"]) == 120
    failed = sum(len(result.errors) for result in returned["text_generation_0"])
    assert failed == 12
    assert distiset.summary.failed_rows == {"text_generation_0": 12}
    # the global leaf fetched its input itself; its output comes to the driver, which writes it
    assert all(not isinstance(result, LeafPart) for result in returned["tally_0"])
    assert fetched == [], "the driver read rows between steps"
    # the parts are removed once no checkpoint needs them
    assert list(tmp_path.rglob("between/*.pkl")) == []


def test_a_batch_whose_replica_is_gone_is_read_from_its_part(
    ray_address: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    store = RowStore(str(state), {}, str(state / "between"))
    first, second = sorted(node["NodeID"] for node in ray.nodes() if node.get("Alive"))[:2]

    def on(node: str) -> Any:
        return NodeAffinitySchedulingStrategy(node, soft=False)

    producer = StepReplicaActor.options(scheduling_strategy=on(first)).remote(
        pack(Upper(name="first")), None, None, store
    )
    ray.get(producer.start.remote())
    rows = [{"instruction": f"question {i}"} for i in range(7)]
    between, _, _ = ray.get(producer.run.remote(execute_unit, [[rows]], None, None, True))
    assert isinstance(between, Between) and between.rows == 7
    part = Path(between.path)
    # (nothing here fetches the reference: a copy on another node would outlive its owner)
    assert pickle.loads(part.read_bytes()) == [
        {**row, "upper": row["instruction"].upper()} for row in rows
    ]
    ray.kill(producer)
    with pytest.raises(RayActorError):  # once Ray knows it is gone
        ray.get(producer.start.remote(), timeout=30)
    # the part marked, to see which copy the next replica read
    part.write_bytes(
        pickle.dumps([{**row, "instruction": row["instruction"] + " (part)"} for row in rows])
    )

    consumer = StepReplicaActor.options(scheduling_strategy=on(second)).remote(
        pack(Upper(name="second")), None, None, store
    )
    ray.get(consumer.start.remote())
    piece = Piece(between.refs, between.path)
    out, _, _ = ray.get(consumer.run.remote(execute_unit, [[piece]], None, None, False))
    ray.kill(consumer)
    assert [row["upper"] for row in out] == [f"QUESTION {i} (PART)" for i in range(7)]
