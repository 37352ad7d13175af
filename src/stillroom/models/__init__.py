"""Alias of `stillroom.models.llms`: the LLM contract, the backends and the mock LLMs.

Every name is looked up there on access, so the backend classes stay lazy; type checkers read
the star import, which gives them the real classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.models import llms as _llms

if TYPE_CHECKING:
    from stillroom.models.llms import *  # noqa: F403

__all__ = _llms.__all__


def __getattr__(name: str) -> Any:
    return getattr(_llms, name)


def __dir__() -> list[str]:
    return sorted(__all__)
