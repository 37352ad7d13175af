"""examples/sft_dpo_formatting.py imports without running (the engine runs it once merged)."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sft_dpo_formatting.py"


def test_example_is_importable_and_builds_lazily() -> None:
    namespace = runpy.run_path(str(EXAMPLE))
    assert callable(namespace["build_pipeline"])
    assert len(namespace["INSTRUCTIONS"]) == 3
