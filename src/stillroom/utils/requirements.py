"""Python packages a step or pipeline needs, checked before a run starts.

`@requirements(["nltk>=3.8"])` on a step class (or `Pipeline(requirements=[...])`) names
them as pip requirement strings; `missing_requirements` lists those not satisfied by the
installed distributions, so a run can say what to install before any step loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata
from typing import TYPE_CHECKING, TypeVar

from stillroom.errors import StillroomUserError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

_C = TypeVar("_C", bound=type)


def requirements(names: list[str]) -> Callable[[_C], _C]:
    """Class decorator: the class needs these pip requirements (e.g. `"nltk>=3.8"`)."""
    for name in names:
        _parsed(name)  # a malformed requirement is an error where it is written

    def decorate(cls: _C) -> _C:
        cls.requirements = list(names)  # type: ignore[attr-defined]
        return cls

    return decorate


def _parsed(text: str) -> Requirement:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise StillroomUserError(
            f"{text!r} is not a pip requirement ({exc}); write it as pip does, e.g. 'nltk>=3.8'."
        ) from None


def missing_requirements(names: Iterable[str]) -> list[str]:
    """The requirements of `names` that the installed packages do not satisfy, in order."""
    missing = []
    for name in dict.fromkeys(names):
        requirement = _parsed(name)
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            missing.append(name)
    return missing


__all__ = ["missing_requirements", "requirements"]
