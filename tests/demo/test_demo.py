"""The demo pipeline (`stillroom demo`): its shape on a mock LLM, and a real run offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillroom.cli import main
from stillroom.demo import TOPICS, build_pipeline
from stillroom.distiset import Distiset


def test_demo_pipeline_runs_on_a_mock_llm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["demo", "--llm", "mock", "--rows", "3", "--output", str(tmp_path / "out")])
    assert status == 0
    rows = [r for d in Distiset.load_from_disk(tmp_path / "out").values() for r in d["train"]]
    assert [r["topic"] for r in rows] == TOPICS[:3]
    assert set(rows[0]) == {"topic", "instruction", "generation", "model_name"}
    out = capsys.readouterr().out
    assert "Wrote 3 rows to" in out
    assert f"stillroom view {tmp_path / 'out'}" in out


def test_demo_pipeline_shape() -> None:
    pipeline = build_pipeline("mock", rows=2)
    assert list(pipeline.steps) == ["topics", "write_question", "answer", "dataset"]
    pipeline.validate()


@pytest.mark.local_model
@pytest.mark.timeout(300)
def test_demo_runs_offline_on_the_embedded_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    status = main(["demo", "--rows", "2", "--output", str(tmp_path / "out")])
    assert status == 0
    rows = [r for d in Distiset.load_from_disk(tmp_path / "out").values() for r in d["train"]]
    assert len(rows) == 2
    assert all(isinstance(r["generation"], str) and r["generation"] for r in rows)
    assert rows[0]["model_name"] == "SmolLM2-135M-Instruct.Q4_1"
    # the embedded model writes the questions as a student would (Magpie), on the topic
    assert all(isinstance(r["instruction"], str) and r["instruction"].strip() for r in rows)


def test_the_question_is_written_with_magpie_on_a_model_rendering_its_own_prompts() -> None:
    from stillroom.steps.tasks import Magpie, TextGeneration

    assert isinstance(build_pipeline("mock", rows=1).steps["write_question"], TextGeneration)
    pipeline = build_pipeline("local", rows=1)
    ask = pipeline.steps["write_question"]
    assert isinstance(ask, Magpie) and ask.only_instruction
