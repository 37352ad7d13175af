"""Pipelines: wire steps into a graph and run them (mirrors `distilabel.pipeline`).

`Pipeline` is imported on first access: `stillroom.steps` imports
`stillroom.pipeline.context`, and must not pull the engine in with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillroom.pipeline.base import Pipeline

__all__ = ["Pipeline"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from stillroom.pipeline.base import Pipeline

        return Pipeline
    raise AttributeError(f"module 'stillroom.pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
