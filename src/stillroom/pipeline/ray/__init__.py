"""Running a pipeline on a Ray cluster (the `[ray]` extra): `RayPipeline`, `pipeline.ray()`.

Importing this package does not import Ray; running a `RayPipeline` does.
"""

from stillroom.pipeline.ray.pipeline import RayPipeline

__all__ = ["RayPipeline"]
