"""LLM backends. Also reachable as `stillroom.models` and `stillroom.llms`.

Backend classes are imported on first access, through `registry` (built-ins and plugins
alike), so that `import stillroom` stays fast and a missing extra only matters to the code
that uses it. Type checkers see the built-in classes through the `TYPE_CHECKING` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.models.llms import registry
from stillroom.models.llms.base import LLM, AsyncLLM
from stillroom.models.llms.fallback import FallbackLLM
from stillroom.models.llms.moa import MixtureOfAgentsLLM
from stillroom.models.llms.mock import AsyncMockLLM, MockCall, MockLLM
from stillroom.models.llms.spec import llm_from_env, llm_from_spec

if TYPE_CHECKING:
    from stillroom.models.llms.anthropic import AnthropicLLM as AnthropicLLM
    from stillroom.models.llms.anyscale import AnyscaleLLM as AnyscaleLLM
    from stillroom.models.llms.azure import AzureOpenAILLM as AzureOpenAILLM
    from stillroom.models.llms.cohere import CohereLLM as CohereLLM
    from stillroom.models.llms.groq import GroqLLM as GroqLLM
    from stillroom.models.llms.huggingface.inference_endpoints import (
        InferenceEndpointsLLM as InferenceEndpointsLLM,
    )
    from stillroom.models.llms.huggingface.transformers import TransformersLLM as TransformersLLM
    from stillroom.models.llms.litellm import LiteLLM as LiteLLM
    from stillroom.models.llms.llamacpp import LlamaCppLLM as LlamaCppLLM
    from stillroom.models.llms.mistral import MistralLLM as MistralLLM
    from stillroom.models.llms.mlx import MlxLLM as MlxLLM
    from stillroom.models.llms.ollama import OllamaLLM as OllamaLLM
    from stillroom.models.llms.openai import OpenAILLM as OpenAILLM
    from stillroom.models.llms.together import TogetherLLM as TogetherLLM
    from stillroom.models.llms.vertexai import VertexAILLM as VertexAILLM
    from stillroom.models.llms.vllm import ClientvLLM as ClientvLLM
    from stillroom.models.llms.vllm import vLLM as vLLM

__all__ = [
    "LLM",
    "AnthropicLLM",
    "AnyscaleLLM",
    "AsyncLLM",
    "AsyncMockLLM",
    "AzureOpenAILLM",
    "ClientvLLM",
    "CohereLLM",
    "FallbackLLM",
    "GroqLLM",
    "InferenceEndpointsLLM",
    "LiteLLM",
    "LlamaCppLLM",
    "MistralLLM",
    "MixtureOfAgentsLLM",
    "MlxLLM",
    "MockCall",
    "MockLLM",
    "OllamaLLM",
    "OpenAILLM",
    "TogetherLLM",
    "TransformersLLM",
    "VertexAILLM",
    "llm_from_env",
    "llm_from_spec",
    "vLLM",
]


def __getattr__(name: str) -> Any:
    return registry.class_attribute(__name__, name)


def __dir__() -> list[str]:
    return sorted(__all__)
