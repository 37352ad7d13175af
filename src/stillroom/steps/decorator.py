"""`@step`: turn a function into a step class (inputs, outputs and runtime parameters)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Literal, get_type_hints

from stillroom.errors import StillroomUserError
from stillroom.steps.base import GeneratorStep, GlobalStep, Step, StepInput, _Step
from stillroom.steps.bookkeeping import grouped_batches
from stillroom.steps.process_signature import _is_step_input
from stillroom.steps.typing import StepColumns

_BASES: dict[str, type[_Step]] = {"normal": Step, "global": GlobalStep, "generator": GeneratorStep}


def _parameter_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Each parameter's annotation, resolved one by one; the return annotation is ignored.

    distilabel's docs annotate step functions `-> "StepOutput"` with `StepOutput` imported
    only under `if TYPE_CHECKING:`, so resolving all hints at once raises NameError. A
    parameter annotation that cannot be resolved is kept as written (a string); a field with
    such an annotation accepts any value.
    """
    namespace = getattr(func, "__globals__", {})
    hints: dict[str, Any] = {}
    for name, annotation in inspect.get_annotations(func).items():
        if name == "return":
            continue
        holder = SimpleNamespace(__annotations__={name: annotation})
        try:
            hints[name] = get_type_hints(holder, globalns=namespace, include_extras=True)[name]
        except Exception:
            hints[name] = annotation
    return hints


def _receives_rows(annotation: Any) -> bool:
    """True for a `StepInput` annotation, resolved or still a string."""
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "StepInput"
    return _is_step_input(annotation)


def step(
    inputs: StepColumns | None = None,
    outputs: StepColumns | None = None,
    step_type: Literal["normal", "global", "generator"] = "normal",
) -> Callable[[Callable[..., Any]], type[_Step]]:
    """Make a step class out of a generator function.

    Parameters annotated `StepInput` receive the input rows; a generator's `offset` gets the
    offset; every other parameter becomes a field of the class (a runtime parameter when
    annotated `RuntimeParameter[...]`). Besides one argument per predecessor, the class's
    `process` and `process_applying_mappings` take the batches as one list holding them
    (`[rows_a, rows_b]`); each row is checked either way and the function gets flat batches.
    """
    if step_type not in _BASES:
        raise StillroomUserError(
            f"Invalid step type {step_type!r} given to @step: use 'normal' (a Step), 'global' "
            "(a GlobalStep) or 'generator' (a GeneratorStep)."
        )

    def decorator(func: Callable[..., Any]) -> type[_Step]:
        hints = _parameter_hints(func)
        signature = inspect.signature(func)
        row_params = [
            name
            for name, param in signature.parameters.items()
            if param.kind is not param.VAR_POSITIONAL and _receives_rows(hints.get(name))
        ]
        if len(row_params) > 1 and step_type != "generator":
            raise StillroomUserError(
                f"Function {func.__name__!r} has more than one parameter annotated with "
                f"`StepInput` ({', '.join(row_params)}): @step passes the rows of every "
                "predecessor to one; write `*inputs: StepInput` to receive one batch per "
                "predecessor."
            )
        annotations: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        field_names: list[str] = []
        for param in signature.parameters.values():
            if param.kind is param.VAR_POSITIONAL or _receives_rows(hints.get(param.name)):
                continue
            if param.name == "offset" and step_type == "generator":
                continue
            hint = hints.get(param.name, Any)
            annotations[param.name] = Any if isinstance(hint, str) else hint
            if param.default is not param.empty:
                defaults[param.name] = param.default
            field_names.append(param.name)
        takes_offset = "offset" in signature.parameters

        def settings(self: _Step) -> dict[str, Any]:
            return {name: getattr(self, name) for name in field_names}

        if step_type == "generator":

            def process(self: _Step, offset: int = 0) -> Any:
                extra = {"offset": offset} if takes_offset else {}
                yield from func(**extra, **settings(self))
        else:

            def process(self: _Step, *inputs: StepInput) -> Any:  # type: ignore[misc]
                yield from func(*(grouped_batches(inputs) or inputs), **settings(self))

        namespace: dict[str, Any] = {
            "__annotations__": annotations,
            "__module__": func.__module__,
            "__qualname__": func.__qualname__,
            "__doc__": func.__doc__,
            "inputs": property(lambda self: inputs or []),
            "outputs": property(lambda self: outputs or []),
            "process": process,
            "_built_from_decorator": True,
            **defaults,
        }
        return type(func.__name__, (_BASES[step_type],), namespace)

    return decorator
