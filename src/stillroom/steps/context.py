"""The pipeline that steps created right now join (`with Pipeline(...) as p:`).

It lives with the steps, below the pipeline layer: a step created inside the block finds its
pipeline here, and `stillroom.steps` never imports `stillroom.pipeline`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_current: ContextVar[Any | None] = ContextVar("stillroom_current_pipeline", default=None)


def current_pipeline() -> Any | None:
    """The pipeline whose `with` block is active, if any."""
    return _current.get()


def set_current_pipeline(pipeline: Any | None) -> Any:
    """Make `pipeline` current; returns a token for `reset_current_pipeline`."""
    return _current.set(pipeline)


def reset_current_pipeline(token: Any) -> None:
    _current.reset(token)
