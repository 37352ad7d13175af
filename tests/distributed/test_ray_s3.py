"""A Ray run keeps its state on S3 (moto's S3 server on 127.0.0.1, never the internet): the
replicas' reply segments are put as parts, the checkpoint as one object, and a stopped run
resumes from the same URL without sending an answered request again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from ray_steps import build, server_llm

from stillroom.pipeline.errors import StepFailedError
from stillroom.testing import MockLLMServer

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def test_state_on_s3_and_a_resume_from_it(
    ray_address: str,
    server: MockLLMServer,
    tmp_path: Path,
    s3_options: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import s3fs

    marker = tmp_path / "broken"
    marker.touch()
    # 4 requests at a time: the 4 units finish one after another, each flushing its replies
    llm = server_llm(server, concurrency=4)
    pipeline = build(tmp_path / "cache", llm, rows=40, tally_fail_while=marker)
    on_s3 = {"storage": "s3://stillroom-state/runs", "storage_options": s3_options}
    with (
        caplog.at_level(logging.WARNING, logger="stillroom.pipeline"),
        pytest.raises(StepFailedError),
    ):
        pipeline.ray(**on_s3).run(progress=False)
    assert "keeps its state in" not in caplog.text  # every node reaches this storage

    fs = s3fs.S3FileSystem(**s3_options)
    root = "stillroom-state/runs/ray-test"
    parts = fs.ls(f"{root}/requests/text_generation_0", refresh=True)
    assert len(parts) >= 2, "one part per flush, not one object rewritten"
    (run,) = fs.ls(f"{root}/runs", refresh=True)
    assert fs.exists(f"{run}/checkpoint.pkl") and fs.ls(f"{run}/ledger", refresh=True)
    assert not (tmp_path / "cache" / "pipelines" / "ray-test" / "ray").exists()

    marker.unlink()
    resumed = pipeline.ray(**on_s3).run(progress=False)
    rows = resumed["default"]["train"].to_list()
    assert sorted(row["instruction"] for row in rows) == sorted(f"question {i}" for i in range(40))
    assert resumed.summary is not None and resumed.summary.resumed
    answered = {p: n for p, n in server.stats().requests_by_prompt.items() if not p.endswith("3")}
    assert len(answered) == 36 and set(answered.values()) == {1}
