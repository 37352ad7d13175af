"""Exceptions a step or an LLM may raise and the engine handles (mirrors
`distilabel.exceptions`, renamed). Errors meant for the user are in `stillroom.errors`.
"""

from __future__ import annotations


class StillroomException(Exception):
    """Base of the exceptions the engine knows how to handle."""


class StillroomGenerationException(StillroomException):
    """An LLM could not generate what was asked."""


class StillroomOfflineBatchGenerationNotFinishedException(StillroomGenerationException):
    """A provider's batch job is still running: its `jobs_ids` are to be checked later."""

    def __init__(self, jobs_ids: tuple[str, ...]) -> None:
        self.jobs_ids = jobs_ids
        super().__init__(f"The batch jobs {', '.join(jobs_ids)} have not finished yet.")


__all__ = [
    "StillroomException",
    "StillroomGenerationException",
    "StillroomOfflineBatchGenerationNotFinishedException",
]
