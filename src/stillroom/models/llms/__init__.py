"""LLM backends. Also reachable as `stillroom.models` and `stillroom.llms`.

Backends that pull in an SDK or an optional extra are imported on first access, so that
`import stillroom` stays fast and a missing extra only matters to the code that uses it.
"""

from __future__ import annotations

import importlib
from typing import Any

from stillroom.models.llms.base import LLM, AsyncLLM
from stillroom.models.llms.mock import AsyncMockLLM, MockCall, MockLLM
from stillroom.models.llms.spec import llm_from_env, llm_from_spec

# Public name -> module that defines it, imported on first access.
LAZY_BACKENDS: dict[str, str] = {
    "OpenAILLM": "stillroom.models.llms.openai",
    "AnthropicLLM": "stillroom.models.llms.anthropic",
    "LlamaCppLLM": "stillroom.models.llms.llamacpp",
}

__all__ = [
    "LLM",
    "AsyncLLM",
    "AsyncMockLLM",
    "MockCall",
    "MockLLM",
    "llm_from_env",
    "llm_from_spec",
    *LAZY_BACKENDS,
]


def __getattr__(name: str) -> Any:
    module = LAZY_BACKENDS.get(name)
    if module is None:
        raise AttributeError(f"module 'stillroom.models.llms' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
