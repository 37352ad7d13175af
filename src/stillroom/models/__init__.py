"""Alias of `stillroom.models.llms`: the LLM contract, the backends and the mock LLMs.

Every name is looked up there on access, so the backend classes stay lazy; type checkers read
the star import, which gives them the real classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.models import embeddings as _embeddings
from stillroom.models import llms as _llms

if TYPE_CHECKING:
    from stillroom.models.embeddings import *  # noqa: F403
    from stillroom.models.image_generation import *  # noqa: F403
    from stillroom.models.llms import *  # noqa: F403
    from stillroom.models.mixins.cuda_device_placement import (
        CudaDevicePlacementMixin as CudaDevicePlacementMixin,
    )

_IMAGE_GENERATION = (
    "AsyncImageGenerationModel",
    "ImageGenerationModel",
    "InferenceEndpointsImageGeneration",
    "OpenAIImageGeneration",
)
"""Names of `stillroom.models.image_generation`, imported on first access."""

__all__ = [*_llms.__all__, *_embeddings.__all__, *_IMAGE_GENERATION, "CudaDevicePlacementMixin"]


def __getattr__(name: str) -> Any:
    if name in _embeddings.__all__:
        return getattr(_embeddings, name)
    if name in _IMAGE_GENERATION:
        from stillroom.models import image_generation

        return getattr(image_generation, name)
    if name == "CudaDevicePlacementMixin":
        from stillroom.models.mixins.cuda_device_placement import CudaDevicePlacementMixin

        return CudaDevicePlacementMixin
    return getattr(_llms, name)


def __dir__() -> list[str]:
    return sorted(__all__)
