"""Hugging Face backends at distilabel's path (`stillroom.models.llms.huggingface`):
`InferenceEndpointsLLM` (Inference Providers, dedicated Inference Endpoints, TGI servers) and
`TransformersLLM` (a model run in-process).

Both are imported on first access, so that this package stays light (transformers and torch
load only with `TransformersLLM`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.utils.lazy import import_lazily

if TYPE_CHECKING:
    from stillroom.models.llms.huggingface.inference_endpoints import (
        InferenceEndpointsLLM as InferenceEndpointsLLM,
    )
    from stillroom.models.llms.huggingface.transformers import TransformersLLM as TransformersLLM

_MODULES = {"InferenceEndpointsLLM": "inference_endpoints", "TransformersLLM": "transformers"}

_WHERE = {name: f"{__name__}.{module}" for name, module in _MODULES.items()}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    return import_lazily(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return sorted(__all__)
