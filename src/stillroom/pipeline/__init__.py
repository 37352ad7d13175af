"""Pipelines: wire steps into a graph and run them (mirrors `distilabel.pipeline`).

`Pipeline` and `RayPipeline` are imported on first access, so that importing a module of
this package (its errors, its logs) does not pull the whole engine in with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.pipeline.routing_batch_function import routing_batch_function, sample_n_steps

if TYPE_CHECKING:
    from stillroom.pipeline.base import Pipeline
    from stillroom.pipeline.ray import RayPipeline

__all__ = ["Pipeline", "RayPipeline", "routing_batch_function", "sample_n_steps"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from stillroom.pipeline.base import Pipeline

        return Pipeline
    if name == "RayPipeline":
        from stillroom.pipeline.ray import RayPipeline

        return RayPipeline
    raise AttributeError(f"module 'stillroom.pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
