"""`RequirementsMixin`: the pip requirements a step declares (see `utils.requirements`)."""

from __future__ import annotations

from typing import ClassVar

from stillroom.utils.requirements import missing_requirements


class RequirementsMixin:
    """`requirements`: pip requirement strings the class needs (set by `@requirements`)."""

    requirements: ClassVar[list[str]] = []

    def requirements_to_install(self) -> list[str]:
        """The declared requirements the installed packages do not satisfy."""
        return missing_requirements(self.requirements)


__all__ = ["RequirementsMixin"]
