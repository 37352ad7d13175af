"""`RequirementsMixin`: the pip requirements a step declares (`utils.requirements`'s
decorator sets them), and `missing_requirements`, which a run checks before any step loads."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from typing import TYPE_CHECKING, ClassVar

from stillroom.errors import StillroomUserError

if TYPE_CHECKING:
    from packaging.requirements import Requirement


def parse_requirement(text: str) -> Requirement:
    """`text` as a pip requirement (a clear error when it is not one)."""
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
        requirement = parse_requirement(name)
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            missing.append(name)
    return missing


class RequirementsMixin:
    """`requirements`: pip requirement strings the class needs (set by `@requirements`)."""

    requirements: ClassVar[list[str]] = []

    def requirements_to_install(self) -> list[str]:
        """The declared requirements the installed packages do not satisfy."""
        return missing_requirements(self.requirements)


__all__ = ["RequirementsMixin", "missing_requirements", "parse_requirement"]
