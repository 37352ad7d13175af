"""Errors the pipeline raises: a pipeline that cannot run, and a step that failed while running."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillroom.errors import StillroomError

if TYPE_CHECKING:
    from stillroom.run_summary import ErrorTally


class PipelineValidationError(StillroomError, ValueError):
    """The pipeline was checked before running and cannot run; `problems` lists every reason."""

    def __init__(self, pipeline_name: str, problems: list[str]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"Pipeline {pipeline_name!r} cannot run ({len(self.problems)} problem"
            f"{'s' if len(self.problems) != 1 else ''}); nothing was executed:\n{listed}"
        )


class StepFailedError(StillroomError, RuntimeError):
    """A step raised while processing rows. What was finished is saved; fix it and run again."""

    def __init__(self, step_name: str, seq: int | None, error: BaseException) -> None:
        self.step_name = step_name
        self.error = error
        where = f" on batch {seq}" if seq is not None else ""
        detail = str(error)
        if not detail.endswith((".", "!", "?")):  # the error's own full stop ends the sentence
            detail += "."
        super().__init__(
            f"Step {step_name!r} failed{where}: {type(error).__name__}: {detail} Everything "
            "finished before the failure is saved; fix the step and run the pipeline again to "
            "resume from there."
        )


def batch_pending_message(step_name: str, jobs_ids: tuple[str, ...]) -> str:
    """What a run stopped by a task's running offline batch says (distilabel's pipeline
    stops there too, and returns what it has)."""
    return (
        f"Step {step_name!r} is waiting for its offline batch generation (jobs "
        f"{', '.join(jobs_ids)}); the run stopped there and everything else finished is "
        "saved. Run the pipeline again later to collect the results: it polls the same jobs "
        "and creates no new batch (or set offline_batch_generation_block_until_done on the "
        "LLM to wait for them)."
    )


class TooManyFailuresError(StillroomError, RuntimeError):
    """A step's share of failed rows went over `max_failed_fraction`, so the run was stopped.

    Raised after the requests in flight finished and the cache was saved; `messages` holds
    the first distinct error messages, with how many rows each one hit.
    """

    def __init__(
        self, step_name: str, failed: int, rows: int, threshold: float, errors: ErrorTally
    ) -> None:
        self.step_name = step_name
        self.failed = failed
        self.rows = rows
        self.threshold = threshold
        self.messages = dict(errors.counts)
        self.reason = (
            f"step {step_name!r}: {failed:,} of {rows:,} rows failed ({failed / rows:.0%}), "
            f"more than max_failed_fraction={threshold:g}"
        )
        listed = "\n".join(errors.lines("  "))
        super().__init__(
            f"Stopped: {self.reason}. First errors:\n{listed}\nFix the cause (a server "
            "down, a wrong model name or key...) and run the pipeline again: the requests "
            "already answered come from the cache and the failed rows are sent again."
        )
