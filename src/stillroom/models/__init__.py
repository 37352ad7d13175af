"""Alias of `stillroom.models.llms`: the LLM contract, the backends and the mock LLMs."""

from __future__ import annotations

from typing import Any

from stillroom.models import llms as _llms
from stillroom.models.llms import LLM, AsyncLLM, AsyncMockLLM, MockCall, MockLLM  # noqa: F401

__all__ = _llms.__all__  # re-exported, lazily extended by the backends


def __getattr__(name: str) -> Any:
    return getattr(_llms, name)


def __dir__() -> list[str]:
    return sorted(__all__)
