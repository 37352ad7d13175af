"""Shared test setup: no test may reach the internet, and no real API key leaks in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "STILLROOM_LLM"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelines run by any test cache under a temporary directory, never ~/.cache/stillroom."""
    monkeypatch.setenv("STILLROOM_CACHE_DIR", str(tmp_path_factory.mktemp("stillroom-cache")))
