"""`@requirements([...])`: the Python packages a step class needs, as pip requirement
strings (e.g. `"nltk>=3.8"`). A run checks them, and `Pipeline(requirements=...)`, before
any step loads (`mixins.requirements.missing_requirements`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_C = TypeVar("_C", bound=type)


def requirements(names: list[str]) -> Callable[[_C], _C]:
    """Class decorator: the class needs these pip requirements."""

    def decorate(cls: _C) -> _C:
        cls.requirements = list(names)  # type: ignore[attr-defined]
        return cls

    return decorate


__all__ = ["requirements"]
