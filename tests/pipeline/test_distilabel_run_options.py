"""distilabel's Pipeline/run options: enable_metadata, requirements, logging_handlers,
the moot storage options, and load_groups (honoured: see test_load_groups.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stillroom.errors import StillroomUserError
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.utils.requirements import requirements

pytestmark = pytest.mark.timeout(60)


def build(tmp_path: Path, **options) -> Pipeline:
    with Pipeline(name="p", cache_dir=tmp_path, **options) as pipeline:
        LoadDataFromDicts(data=[{"instruction": "q"}]) >> TextGeneration(llm=MockLLM())
    return pipeline


def test_enable_metadata_false_drops_the_metadata_column(tmp_path: Path) -> None:
    kept = build(tmp_path / "a").run()["default"]["train"]
    assert METADATA_COLUMN in kept.column_names
    dropped = build(tmp_path / "b", enable_metadata=False).run()["default"]["train"]
    assert METADATA_COLUMN not in dropped.column_names
    assert dropped.to_list()[0]["generation"]


def test_missing_requirements_stop_the_run_before_any_step(tmp_path: Path) -> None:
    pipeline = build(tmp_path, requirements=["pydantic>=2", "no-such-package-xyz>=1"])
    assert pipeline.requirements_to_install() == ["no-such-package-xyz>=1"]
    with pytest.raises(StillroomUserError, match="no-such-package-xyz>=1"):
        pipeline.run()
    assert not list(tmp_path.rglob("*.jsonl"))  # nothing ran


def test_a_steps_requirements_count_too(tmp_path: Path) -> None:
    @requirements(["no-such-package-abc"])
    class NeedsAbc(LoadDataFromDicts):
        pass

    with Pipeline(name="p", cache_dir=tmp_path) as pipeline:
        NeedsAbc(data=[{"a": 1}])
    assert pipeline.requirements_to_install() == ["no-such-package-abc"]
    with pytest.raises(StillroomUserError, match="not a pip requirement"):
        Pipeline(name="bad", requirements=["not a requirement !!"]).requirements_to_install()


def test_run_takes_distilabels_options(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stillroom")
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    distiset = build(tmp_path).run(
        None, None, True, {"path": str(tmp_path)}, True, logging_handlers=[handler]
    )
    assert distiset["default"]["train"].num_rows == 1
    assert records  # the run logged through the handler while it lasted
    assert handler not in logging.getLogger("stillroom").handlers
    grouped = build(tmp_path / "g").run(load_groups=[["text_generation_0"]])  # honoured:
    assert grouped["default"]["train"].num_rows == 1  # see test_load_groups.py


def test_draw_writes_a_mermaid_flowchart(tmp_path: Path) -> None:
    pipeline = build(tmp_path)
    path = pipeline.draw(tmp_path / "graph.mmd")
    text = path.read_text()
    assert text.startswith("flowchart LR\n")
    assert 'step0["load_data_from_dicts_0<br/><i>LoadDataFromDicts</i>"]' in text
    assert "step0 -->|" in text and "| step1" in text  # labelled with the columns sent
    plain = pipeline.draw(tmp_path / "graph.md", top_to_bottom=True, show_edge_labels=False)
    assert plain.read_text().startswith("```mermaid\nflowchart TB\n")
    assert "step0 --> step1" in plain.read_text()
    with pytest.raises(StillroomUserError, match="Mermaid text, not an image"):
        pipeline.draw(tmp_path / "pipeline.png")
