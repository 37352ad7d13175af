"""Hugging Face backends at distilabel's path (`stillroom.models.llms.huggingface`):
`InferenceEndpointsLLM` (Inference Providers, dedicated Inference Endpoints, TGI servers) and
`TransformersLLM` (a model run in-process).

Both are imported on first access, so that this package stays light (transformers and torch
load only with `TransformersLLM`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillroom.models.llms.huggingface.inference_endpoints import (
        InferenceEndpointsLLM as InferenceEndpointsLLM,
    )
    from stillroom.models.llms.huggingface.transformers import TransformersLLM as TransformersLLM

_MODULES = {"InferenceEndpointsLLM": "inference_endpoints", "TransformersLLM": "transformers"}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
