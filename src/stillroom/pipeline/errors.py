"""Errors the pipeline raises: a pipeline that cannot run, and a step that failed while running."""

from __future__ import annotations

from stillroom.errors import StillroomError


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
        super().__init__(
            f"Step {step_name!r} failed{where}: {type(error).__name__}: {error}. Everything "
            "finished before the failure is saved; fix the step and run the pipeline again to "
            "resume from there."
        )
