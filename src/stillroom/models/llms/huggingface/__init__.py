"""Hugging Face backends at distilabel's path (`stillroom.models.llms.huggingface`).

`TransformersLLM` is imported on first access, so that this package stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillroom.models.llms.huggingface.transformers import TransformersLLM as TransformersLLM

__all__ = ["TransformersLLM"]


def __getattr__(name: str) -> Any:
    if name == "TransformersLLM":
        from stillroom.models.llms.huggingface.transformers import TransformersLLM

        return TransformersLLM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
