"""The code examples of docs/library/steps.md run as written.

Blocks that need the engine, data files or the Hub (they build a Pipeline or load files) are
covered by the other tests instead; every other block is executed as-is.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "library" / "steps.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text("utf-8"), flags=re.S)
NEEDS_MORE = ("Pipeline(", "LoadDataFromFileSystem(", "LoadDataFromHub(", "LoadDataFromDisk(")
RUNNABLE = [block for block in BLOCKS if not any(word in block for word in NEEDS_MORE)]


def test_the_page_has_an_example_per_step() -> None:
    assert len(RUNNABLE) >= 13


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.splitlines()[0][:50])
def test_example_runs(block: str) -> None:
    exec(compile(block, str(PAGE), "exec"), {})
