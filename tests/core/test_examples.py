"""The examples in examples/ run as documented."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_generator_task_example_prints_a_joke_row(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "generator_task.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "'output_field': 'Why did the scarecrow" in out and "'model_name': 'gpt-4'" in out
