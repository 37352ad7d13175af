"""Alias of `stillroom.models.embeddings` (distilabel's `distilabel.embeddings`).

Every name is looked up there on access, so the model classes stay lazy; type checkers read
the star import, which gives them the real classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.models import embeddings as _embeddings

if TYPE_CHECKING:
    from stillroom.models.embeddings import *  # noqa: F403

__all__ = _embeddings.__all__


def __getattr__(name: str) -> Any:
    return getattr(_embeddings, name)


def __dir__() -> list[str]:
    return sorted(__all__)
