"""Image generation models (distilabel's `models.image_generation`): prompts in, base64 images out.

The backend classes are imported on first access (`utils.lazy`), so that importing the base
classes (every task module does, through `steps.tasks`) does not import the HTTP backends;
type checkers read them from the `TYPE_CHECKING` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.models.image_generation.base import (
    AsyncImageGenerationModel,
    ImageGenerationModel,
)
from stillroom.utils.lazy import import_lazily

if TYPE_CHECKING:
    from stillroom.models.image_generation.huggingface.inference_endpoints import (
        InferenceEndpointsImageGeneration as InferenceEndpointsImageGeneration,
    )
    from stillroom.models.image_generation.openai import (
        OpenAIImageGeneration as OpenAIImageGeneration,
    )

__all__ = [
    "AsyncImageGenerationModel",
    "ImageGenerationModel",
    "InferenceEndpointsImageGeneration",
    "OpenAIImageGeneration",
]

_WHERE = {
    "InferenceEndpointsImageGeneration": (
        "stillroom.models.image_generation.huggingface.inference_endpoints"
    ),
    "OpenAIImageGeneration": "stillroom.models.image_generation.openai",
}


def __getattr__(name: str) -> Any:
    return import_lazily(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return sorted(__all__)
