"""A Ray run's state on its storage (checkpoint, request ledgers, parts of the batches between
steps) loads back without running code: a hostile pickle put in place of any of them is
refused, the code never runs (on the driver or on a replica), and the error names the file
and what to do."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ray_steps import build, server_llm

from stillroom.errors import UnsafeStateError
from stillroom.pipeline.errors import StepFailedError
from stillroom.pipeline.ray.between import Piece, fetch
from stillroom.pipeline.ray.engine import RayEngine
from stillroom.pipeline.ray.state import RayStore, StateRoot, read_counts
from stillroom.testing import MockLLMServer

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def test_a_hostile_checkpoint_is_refused(tmp_path: Path, hostile_pickles: Any) -> None:
    checkpoint = tmp_path / "state" / "runs" / "sig" / "checkpoint.pkl"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(hostile_pickles.payloads["os.system"])
    with pytest.raises(
        UnsafeStateError, match=re.escape(f"Refused to load {checkpoint}")
    ) as raised:
        RayStore(str(tmp_path / "state")).load_run("sig")
    assert not hostile_pickles.marker.exists()
    assert "names posix.system, which can run code" in str(raised.value)


def test_a_hostile_ledger_segment_is_refused(tmp_path: Path, hostile_pickles: Any) -> None:
    root = StateRoot(str(tmp_path / "state"))
    ledger = root.join("runs", "sig", "ledger", "run-00000000.pkl")
    root.write(ledger, hostile_pickles.payloads["functools.partial"])
    with pytest.raises(UnsafeStateError, match=re.escape(f"Refused to load {ledger}")):
        read_counts(root, [ledger], "answer")
    assert not hostile_pickles.marker.exists()


def test_a_hostile_part_is_refused(tmp_path: Path, hostile_pickles: Any) -> None:
    root = StateRoot(str(tmp_path / "state"))
    part = root.join("runs", "sig", "between", "step-0.pkl")
    root.write(part, hostile_pickles.payloads["builtins.exec"])
    with pytest.raises(UnsafeStateError, match=re.escape(f"Refused to load {part}")):
        asyncio.run(fetch(root, Piece([], part)))
    assert not hostile_pickles.marker.exists()


def _failed_run_with_parts(
    server: MockLLMServer, tmp_path: Path
) -> tuple[Any, dict[str, str], list[Path], Path]:
    """A Ray run on storage under `tmp_path` whose tally fails while the returned marker
    exists, leaving its input as parts: (pipeline, run arguments, the parts, the marker)."""
    broken = tmp_path / "broken"
    broken.touch()
    pipeline = build(tmp_path / "cache", server_llm(server), rows=30, tally_fail_while=broken)
    storage = {"storage": str(tmp_path / "state")}
    with pytest.raises(StepFailedError):
        pipeline.ray(**storage).run(progress=False)
    parts = list((tmp_path / "state").rglob("between/*.pkl"))
    assert parts, "the failed run left the tally's input as parts"
    return pipeline, storage, parts, broken


def test_a_resumed_run_refuses_hostile_parts_on_its_replicas(
    ray_address: str, server: MockLLMServer, tmp_path: Path, hostile_pickles: Any
) -> None:
    """The parts a checkpoint names are read by the replicas of a resumed run: replaced by
    a hostile pickle, they stop the run with the refusal, and nothing runs."""
    pipeline, storage, parts, broken = _failed_run_with_parts(server, tmp_path)
    for part in parts:
        part.write_bytes(hostile_pickles.payloads["os.system"])
    broken.unlink()
    with pytest.raises(StepFailedError, match=r"Refused to load .*between.*names posix\.system"):
        pipeline.ray(**storage).run(progress=False)
    assert not hostile_pickles.marker.exists()


def test_a_checkpoint_naming_parts_outside_its_folder_is_refused(
    ray_address: str, server: MockLLMServer, tmp_path: Path
) -> None:
    """The driver removes the parts a checkpoint names once they are done, and replicas read
    them: a checkpoint pointing them at other files is refused before either happens."""
    pipeline, storage, parts, broken = _failed_run_with_parts(server, tmp_path)
    (checkpoint,) = (tmp_path / "state").rglob("checkpoint.pkl")
    # the same paths one folder over (same length, so the pickle stays well formed)
    checkpoint.write_bytes(checkpoint.read_bytes().replace(b"/between/", b"/elsewhere"[:9]))
    victims = [Path(str(part).replace("/between/", "/elsewhere"[:9])) for part in parts]
    for part, victim in zip(parts, victims, strict=True):
        victim.parent.mkdir(parents=True, exist_ok=True)
        victim.write_bytes(part.read_bytes())
    broken.unlink()
    with pytest.raises(UnsafeStateError, match=r"batch part\(s\) outside .*between"):
        pipeline.ray(**storage).run(progress=False)
    assert all(victim.exists() for victim in victims)


@pytest.mark.parametrize(
    "name",
    ["..", ".", "", "step-0.pkl", "sub/step-00000000000000000000000000000000.pkl"],
)
def test_only_part_names_stillroom_writes_are_taken_from_a_checkpoint(name: str) -> None:
    folder = "/state/runs/sig/between"
    good = f"{folder}/text_generation_0-{'ab' * 16}.pkl"
    engine = SimpleNamespace(
        _parts={good},
        signature="sig",
        ray_store=SimpleNamespace(checkpoint_path=lambda signature: f"/state/{signature}.pkl"),
    )
    RayEngine._check_part_paths(engine, folder)  # type: ignore[arg-type]
    engine._parts = {good, f"{folder}/{name}"}
    with pytest.raises(UnsafeStateError, match="batch part"):
        RayEngine._check_part_paths(engine, folder)  # type: ignore[arg-type]
