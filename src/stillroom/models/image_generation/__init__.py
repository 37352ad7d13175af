"""Image generation models (distilabel's `models.image_generation`): prompts in, base64 images out."""

from stillroom.models.image_generation.base import (
    AsyncImageGenerationModel,
    ImageGenerationModel,
)
from stillroom.models.image_generation.huggingface.inference_endpoints import (
    InferenceEndpointsImageGeneration,
)
from stillroom.models.image_generation.openai import OpenAIImageGeneration

__all__ = [
    "AsyncImageGenerationModel",
    "ImageGenerationModel",
    "InferenceEndpointsImageGeneration",
    "OpenAIImageGeneration",
]
