"""Exceptions stillroom raises for a user's mistake.

Every message names the step (or LLM) involved, what was expected and what to do, in the
spirit of pydantic's validation errors: the user should not need a debugger to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from stillroom.constants import STILLROOM_DOCS_URL


class StillroomError(Exception):
    """Base class of every error stillroom raises on purpose.

    `page` (a path of the documentation) adds where to read more to the message, as
    distilabel's errors do.
    """

    def __init__(self, *args: object, page: str | None = None) -> None:
        super().__init__(*args)
        self.page = page

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        text = super().__str__()
        if self.page is None:
            return text
        return f"{text}\n\nFor further information visit {STILLROOM_DOCS_URL}{self.page}"


class StillroomUserError(StillroomError, ValueError):
    """A user's mistake: a value, a configuration or a call that cannot work as given."""


class StillroomTypeError(StillroomError, TypeError):
    """A value of the wrong type was given."""


class StillroomNotImplementedError(StillroomError, NotImplementedError):
    """What was asked is not available for this step, LLM or setting."""


class StepDefinitionError(StillroomError, TypeError):
    """A step or task class is defined in a way the framework cannot run (raised at class
    creation, or for a generator's `process` signature before the step runs)."""


class NotLoadedError(StillroomError, RuntimeError):
    """`process()`/`generate()` was called before `load()`."""


class MissingColumnsError(StillroomError, ValueError):
    """Rows given to a step lack columns the step requires."""


class InvalidRowsError(StillroomError, ValueError):
    """Rows given to a step hold values it cannot use (a wrong type, lists of unequal length...)."""


class UnknownRuntimeParameterError(StillroomError, ValueError):
    """A runtime parameter name that the step or LLM does not have."""


class MissingExtraError(StillroomError, ImportError):
    """An optional dependency (an extra such as `[local]` or `[ray]`) is not installed."""

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(
            f"{feature} needs the optional package {package!r}, which is not installed. "
            f"Install it with: pip install 'stillroom[{extra}]'"
        )
        self.extra = extra
        self.package = package


class LLMRequestError(StillroomError, RuntimeError):
    """A request to an LLM failed for good: a non-retryable HTTP status, a malformed reply, or
    retries exhausted. The message names the LLM, what happened and what to check; it never
    holds an API key."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class StorageError(StillroomError, RuntimeError):
    """Writing what a run keeps failed: its datasets, request cache, journal or checkpoint
    (a full disk, a permission, a removed mount).

    It is never recorded as a row's error: it stops the run, whose work saved before the
    failure stays saved. `path` is the file involved and `cause` the underlying OS or SQLite
    error."""

    def __init__(self, what: str, path: object, cause: BaseException) -> None:
        super().__init__(
            f"Cannot write {what} at {path}: {cause}. The run stopped; what it saved before "
            "is kept. Free space or fix the problem (permissions, a read-only or missing "
            "disk), then run the pipeline again to resume."
        )
        self.what = what
        self.path = path
        self.cause = cause


class DamagedCacheError(StillroomError):
    """A pipeline's request cache was found damaged or behind its last commit, and the run
    asked for `strict_cache`: raised before any request is sent."""


class UnsafeStateError(StillroomError):
    """A run's saved state (checkpoint, pending batch, Ray part or ledger) names a class or
    function stillroom does not load, since unpickling it could run code. The message names
    the file, what it names and how to allow a trusted class (`STILLROOM_PICKLE_ALLOW`)."""


class StructuredOutputError(StillroomError, ValueError):
    """Every reply to a structured-output request failed validation, retries included."""


class SerializationError(StillroomError, ValueError):
    """A dump or a file could not be turned back into objects (bad YAML, unknown type, ...)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix for an error message, or '' when nothing is close."""
    close = get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def step_label(cls: type, name: str | None) -> str:
    """How a message names a step while its fields are validated: "Step 'gen' (TextGeneration)",
    or just the class when no name is given (the inferred name is not known yet)."""
    return f"Step {name!r} ({cls.__name__})" if name else cls.__name__
