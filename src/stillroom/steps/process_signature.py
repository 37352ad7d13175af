"""The signature of a step's `process`: which parameters receive rows, what a generator's
must look like, and the wrapper every `process` gets when its class is created.

The wrapper checks that the step was loaded and that the rows of a call carry the required
columns, then normalises what `process` yields (`_Step._normalized`), so that a step behaves
the same called directly and in a pipeline.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Annotated, Any, ClassVar, Literal, Protocol, get_args, get_type_hints

from stillroom.errors import StepDefinitionError
from stillroom.steps.bookkeeping import check_required_columns, grouped_batches

StepInput = Annotated[list[dict[str, Any]], "StepInput"]
"""Annotation of the parameter(s) of `Step.process` that receive input rows."""


StepKind = Literal["normal", "generator", "global"]


class _Step(Protocol):
    """What the checks and the wrapper use of a step (`steps.base._Step`, which imports this
    module)."""

    _step_kind: ClassVar[StepKind]
    name: str | None
    input_mappings: dict[str, str]
    _built_from_decorator: bool

    @classmethod
    def _step_family(cls) -> str: ...

    def _ensure_loaded(self, action: str) -> None: ...

    def _required_inputs(self) -> list[str]: ...

    def _normalized(self, result: Any, generator: bool) -> Iterator[Any]: ...


def _is_step_input(annotation: Any) -> bool:
    return annotation is StepInput or "StepInput" in get_args(annotation)


def _input_parameters(cls: type, method: Callable[..., Any]) -> list[inspect.Parameter]:
    """Parameters of `process` that receive rows: *args, annotated StepInput, or named inputs."""
    try:
        hints = get_type_hints(method, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to names only
        hints = {}
    params = list(inspect.signature(method).parameters.values())[1:]
    return [
        p
        for p in params
        if p.kind is p.VAR_POSITIONAL or p.name == "inputs" or _is_step_input(hints.get(p.name))
    ]


def generator_process_problem(cls: type[_Step]) -> str | None:
    """What is wrong with a generator's `process` signature (None: nothing).

    A generator creates rows, so its `process` takes `offset`, not rows. Reported when the
    step is run (pipeline validation, or a direct call of `process`) rather than when the
    class is defined: distilabel accepts such a class until it runs, and its users' test
    doubles define some that never do.
    """
    method = getattr(cls, "process")  # noqa: B009  # declared by the subclasses
    method = getattr(method, "__wrapped__", method)
    params = list(inspect.signature(method).parameters.values())[1:]
    rows = _input_parameters(cls, method)
    if rows:
        shown = ", ".join(str(p) for p in params)
        return (
            f"{cls.__name__}.process(self, {shown}) is not allowed: {cls.__name__} is a "
            f"{cls._step_family()}, which creates rows instead of receiving them, so its "
            f"process must not take {rows[0].name!r}. Define it as "
            "`def process(self, offset: int = 0)`."
        )
    if not any(p.name == "offset" or p.kind is p.VAR_KEYWORD for p in params):
        return (
            f"{cls.__name__}.process must accept `offset` (how many rows were already "
            "produced, for resuming). Define it as `def process(self, offset: int = 0)`."
        )
    return None


def process_takes_rows(step_cls: type[_Step]) -> bool:
    """Whether a (non-generator) step's `process` has a parameter that can receive rows.

    Checked when a pipeline is validated rather than when the class is defined: a class
    whose `process` takes no rows is harmless until rows are sent to it (distilabel's own
    test doubles define such classes and never run them).
    """
    process = getattr(step_cls, "process")  # noqa: B009  # declared by the subclasses
    params = list(inspect.signature(process).parameters.values())[1:]
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in kinds or p.kind is p.VAR_POSITIONAL for p in params)


def _row_lists(
    signature: inspect.Signature, step: _Step, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[Any], ...]:
    """The lists of rows a call of `process` passes, by position or by keyword."""
    try:
        bound = signature.bind(step, *args, **kwargs)
    except TypeError:  # let the call itself raise Python's error about its arguments
        return ()
    values: list[Any] = []
    for name, value in list(bound.arguments.items())[1:]:
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            values.extend(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            values.extend(value.values())
        else:
            values.append(value)
    return tuple(v for v in values if isinstance(v, list))


def _wrap_process(cls: type[_Step], method: Callable[..., Any]) -> Callable[..., Any]:
    """Check load state and input columns on call; normalise what the generator yields."""
    generator = cls._step_kind == "generator"
    signature = inspect.signature(method)

    @functools.wraps(method)
    def process(self: _Step, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._ensure_loaded("process()")
        if generator:
            problem = generator_process_problem(cls)
            if problem is not None:
                raise StepDefinitionError(problem)
        else:
            batches = _row_lists(signature, self, args, kwargs)
            if self._built_from_decorator:
                batches = grouped_batches(batches) or batches
            check_required_columns(self.name, self._required_inputs(), batches, self.input_mappings)
        result = method(self, *args, **kwargs)
        return self._normalized(result, generator)

    process.__stillroom_wrapped__ = True  # type: ignore[attr-defined]
    return process
