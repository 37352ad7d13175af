"""`stillroom port`: the rename over a small project holding every spelling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillroom.cli import main
from stillroom.utils.porting import missing_names, rename

SCRIPT = """import os
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.errors import DistilabelUserError
from distilabel.steps import NoSuchStep

os.environ["DISTILABEL_LOG_LEVEL"] = "DEBUG"
DATA = "distilabel-internal-testing/tiny-random-mistral"
URL = "https://github.com/argilla-io/distilabel"
COLUMN = "distilabel_metadata"
"""


def make_project(root: Path) -> None:
    (root / "pkg").mkdir()
    (root / "pkg" / "run.py").write_text(SCRIPT)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": ["from distilabel.steps.tasks import TextGeneration\n"],
            },
            {"cell_type": "markdown", "source": ["# A distilabel notebook"]},
        ]
    }
    (root / "nb.ipynb").write_text(json.dumps(notebook))
    (root / "pipeline.yaml").write_text(
        "type_info:\n  module: distilabel.pipeline.local\n  name: Pipeline\n"
    )
    (root / "data.json").write_text('{"requirements": ["distilabel>=1.5"]}')
    (root / "README.md").write_text("Install `distilabel`; see Distilabel's docs.\n")
    (root / "notes.txt").write_text("distilabel stays in files port does not handle\n")


def test_rename_covers_every_spelling_and_keeps_hub_ids_and_urls() -> None:
    ported = rename(SCRIPT)
    assert "from stillroom.pipeline import Pipeline" in ported
    assert "StillroomUserError" in ported and "STILLROOM_LOG_LEVEL" in ported
    assert '"stillroom_metadata"' in ported
    assert "distilabel-internal-testing/tiny-random-mistral" in ported
    assert "https://github.com/argilla-io/distilabel" in ported


def test_missing_names_lists_what_stillroom_lacks() -> None:
    gaps = missing_names(rename(SCRIPT) + "import stillroom.no_such_module\n")
    assert gaps.names == [("stillroom.steps", "NoSuchStep")]
    assert gaps.modules == ["stillroom.no_such_module"]


def test_port_prints_a_diff_and_writes_nothing_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(tmp_path)
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    status = main(["port", str(tmp_path)])
    out = capsys.readouterr().out
    assert {p: p.read_text() for p in before} == before
    assert "+from stillroom.pipeline import Pipeline" in out
    assert "-from distilabel.pipeline import Pipeline" in out
    assert "5 file(s) would change" in out
    assert (
        f"missing in stillroom: stillroom.steps.NoSuchStep (imported by {tmp_path / 'pkg' / 'run.py'})"
        in out
    )
    assert status == 1


def test_port_write_rewrites_each_kind_of_file(tmp_path: Path) -> None:
    make_project(tmp_path)
    (tmp_path / "pkg" / "run.py").write_text(
        SCRIPT.replace("from distilabel.steps import NoSuchStep\n", "")
    )
    assert main(["port", "--write", str(tmp_path)]) == 0
    assert (
        "from stillroom.errors import StillroomUserError"
        in (tmp_path / "pkg" / "run.py").read_text()
    )
    cells = json.loads((tmp_path / "nb.ipynb").read_text())["cells"]
    assert cells[0]["source"] == ["from stillroom.steps.tasks import TextGeneration\n"]
    assert "module: stillroom.pipeline.local" in (tmp_path / "pipeline.yaml").read_text()
    assert json.loads((tmp_path / "data.json").read_text()) == {"requirements": ["stillroom>=1.5"]}
    assert (tmp_path / "README.md").read_text() == "Install `stillroom`; see Stillroom's docs.\n"
    assert (tmp_path / "notes.txt").read_text().startswith("distilabel")  # not a ported suffix


def test_port_refuses_a_path_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["port", str(tmp_path / "nowhere")]) != 0
    assert "neither a file nor a folder" in capsys.readouterr().err
