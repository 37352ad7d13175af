"""A leaf step's rows are written by its Ray replicas as part files under the run's storage
(here on S3: moto's server on 127.0.0.1),
recorded by the driver's checkpoints and copied into the leaf's folder when the run ends: a
run that stops keeps the parts it recorded, and its resume gives every row once, in order,
without sending an answered request again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray_steps import RaisingLoader, server_llm

from stillroom.pipeline import Pipeline
from stillroom.pipeline.errors import StepFailedError
from stillroom.steps.tasks import TextGeneration
from stillroom.testing import MockLLMServer

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]

ROWS = 60


def _pipeline(cache_dir: Path, server: MockLLMServer, marker: Path) -> Pipeline:
    with Pipeline(name="ray-leaves", cache_dir=cache_dir) as pipeline:
        load = RaisingLoader(rows=ROWS, raise_at=30, marker=str(marker))
        load >> TextGeneration(
            llm=server_llm(server), input_batch_size=10, resources={"replicas": 2}
        )
    return pipeline


def test_a_leafs_replicas_write_its_parts_and_a_stopped_run_resumes_exactly(
    ray_address: str, server: MockLLMServer, tmp_path: Path, s3_options: dict[str, Any]
) -> None:
    import s3fs

    marker = tmp_path / "stop"
    marker.touch()
    cache = tmp_path / "cache"
    on_s3 = {"storage": "s3://stillroom-state/runs", "storage_options": s3_options}
    with pytest.raises(StepFailedError):
        _pipeline(cache, server, marker).ray(**on_s3).run(progress=False, storage_format="parquet")
    fs = s3fs.S3FileSystem(**s3_options)
    (run,) = fs.ls("stillroom-state/runs/ray-leaves/runs", refresh=True)
    stored = f"{run}/leaves/text_generation_0"
    first = sorted(path.rsplit("/", 1)[-1] for path in fs.ls(stored, refresh=True))
    assert len(first) == 3 and all(name.endswith(".parquet") for name in first)

    marker.unlink()
    distiset = (
        _pipeline(cache, server, marker).ray(**on_s3).run(progress=False, storage_format="parquet")
    )
    rows = distiset["default"]["train"].to_list()
    assert [row["instruction"] for row in rows] == [f"question {i}" for i in range(ROWS)]
    assert [row["generation"] for row in rows] == [
        None if str(i).endswith("3") else f"answer to question {i}" for i in range(ROWS)
    ]
    assert distiset.summary is not None and distiset.summary.resumed
    assert distiset.summary.rows == {"default": ROWS}
    assert distiset.summary.failed_rows == {"text_generation_0": 6}
    answered = {p: n for p, n in server.stats().requests_by_prompt.items() if not p.endswith("3")}
    assert len(answered) == 54 and set(answered.values()) == {1}
    # the leaf's folder holds the parts its replicas wrote, those of the first run kept
    (folder,) = {path.parent for path in cache.glob("pipelines/ray-leaves/*/data/*/*/ray-*")}
    parts = sorted(path.name for path in folder.glob("ray-*"))
    assert len(parts) == ROWS // 10 and set(first) <= set(parts)
    assert sorted(path.rsplit("/", 1)[-1] for path in fs.ls(stored, refresh=True)) == parts
