"""Running a pipeline on a Ray cluster (the `[ray]` extra): `RayPipeline`, `pipeline.ray()`.

Importing this package does not import Ray; running a `RayPipeline` does. `RayPipeline` is
imported on first access, so a Ray worker importing the actors' module does not pull in the
driver's side of the engine (`Pipeline`, its runner and progress display).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillroom.pipeline.ray.pipeline import RayPipeline

__all__ = ["RayPipeline"]


def __getattr__(name: str) -> Any:
    if name == "RayPipeline":
        from stillroom.pipeline.ray.pipeline import RayPipeline

        return RayPipeline
    raise AttributeError(f"module 'stillroom.pipeline.ray' has no attribute {name!r}")
