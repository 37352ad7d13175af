"""Embedding models (`stillroom.models.embeddings`, also `stillroom.embeddings`).

The classes are imported on first access, so that importing this package imports no heavy
library; each imports its own (sentence-transformers, llama-cpp-python, vllm) in `load()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.models.embeddings.base import Embeddings
from stillroom.utils.lazy import import_lazily

if TYPE_CHECKING:
    from stillroom.models.embeddings.llamacpp import LlamaCppEmbeddings as LlamaCppEmbeddings
    from stillroom.models.embeddings.openai import OpenAIEmbeddings as OpenAIEmbeddings
    from stillroom.models.embeddings.sentence_transformers import (
        SentenceTransformerEmbeddings as SentenceTransformerEmbeddings,
    )
    from stillroom.models.embeddings.vllm import vLLMEmbeddings as vLLMEmbeddings

_MODULES = {
    "LlamaCppEmbeddings": "llamacpp",
    "OpenAIEmbeddings": "openai",
    "SentenceTransformerEmbeddings": "sentence_transformers",
    "vLLMEmbeddings": "vllm",
}

_WHERE = {name: f"{__name__}.{module}" for name, module in _MODULES.items()}

__all__ = ["Embeddings", *_MODULES]


def __getattr__(name: str) -> Any:
    return import_lazily(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return sorted(__all__)
