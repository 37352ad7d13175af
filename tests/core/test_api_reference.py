"""The API reference in docs/api is generated from the docstrings and kept up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_api_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "api_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_public_llm_class_is_documented() -> None:
    import stillroom.models.llms as llms

    text = (ROOT / "docs" / "api" / "llms.md").read_text("utf-8")
    for name in llms.__all__:
        assert f"## `{name}`" in text
