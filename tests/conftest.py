"""Shared test setup: no test may reach the internet, and no real API key leaks in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "STILLROOM_LLM"):
        monkeypatch.delenv(name, raising=False)
