"""Hugging Face image generation at distilabel's path."""

from stillroom.models.image_generation.huggingface.inference_endpoints import (
    InferenceEndpointsImageGeneration,
)

__all__ = ["InferenceEndpointsImageGeneration"]
