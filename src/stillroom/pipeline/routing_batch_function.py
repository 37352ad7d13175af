"""Routing batch functions: send each batch of a step to a chosen subset of its successors.

    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=rows)
        answers = [TextGeneration(name=f"answer_{i}", llm=llm) for i in range(3)]
        load >> sample_n_steps(2) >> answers

`routing_batch_function` turns a function `(downstream step names) -> chosen names` into a
`RoutingBatchFunction`; `sample_n_steps(n)` is the built-in that picks `n` at random.

The graph records the routing (distilabel's API and `dag.get_step(name)` shape); the local
engine does not route batches yet, so `run` refuses a pipeline that uses one rather than
sending every batch to every successor (see docs/porting.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from stillroom.errors import StillroomUserError

RoutingBatchFunc = Callable[[list[str]], list[str]]
"""`(names of the downstream steps) -> names of those that receive the batch`."""


class RoutingBatchFunction:
    """A routing function, placed between an upstream step and a list of downstream steps
    with `upstream >> routing >> [a, b, c]`."""

    def __init__(self, routing_function: RoutingBatchFunc, description: str | None = None):
        self.routing_function = routing_function
        self.description = description
        self._step: Any = None

    def __repr__(self) -> str:
        name = getattr(self.routing_function, "__name__", repr(self.routing_function))
        return f"RoutingBatchFunction({name})"

    def __call__(self, steps: list[str]) -> list[str]:
        """The names of `steps` that receive the next batch (checked to be among them)."""
        chosen = list(self.routing_function(list(steps)))
        unknown = [name for name in chosen if name not in steps]
        if unknown:
            raise StillroomUserError(
                f"{self!r} chose {unknown}, which are not downstream of the step it routes "
                f"({steps}); it must return names from the list it is given."
            )
        return chosen

    def _attach_upstream(self, step: Any) -> RoutingBatchFunction:
        """`step >> self`: remember the upstream step; `>> [steps]` then connects them."""
        self._step = step
        return self

    def __rshift__(self, other: list[Any]) -> list[Any]:
        if not isinstance(other, list):
            raise StillroomUserError(
                f"{self!r} >> {other!r}: a routing function routes to a list of steps; write "
                "`upstream >> routing >> [step_a, step_b, ...]`."
            )
        if self._step is None:
            raise StillroomUserError(
                f"{self!r} has no upstream step yet: write `upstream >> routing >> [...]`, "
                "connecting the upstream step first."
            )
        self._step.connect(*other, routing_batch_function=self)
        return other


def routing_batch_function(
    description: str | None = None,
) -> Callable[[RoutingBatchFunc], RoutingBatchFunction]:
    """Decorator making a `RoutingBatchFunction` of `f(steps: list[str]) -> list[str]`."""

    def decorator(func: RoutingBatchFunc) -> RoutingBatchFunction:
        return RoutingBatchFunction(func, description=description or func.__doc__)

    return decorator


def sample_n_steps(n: int) -> RoutingBatchFunction:
    """A routing function sending each batch to `n` downstream steps picked at random."""
    if n < 1:
        raise StillroomUserError(f"sample_n_steps({n}): n must be at least 1.")

    def sample_n(steps: list[str]) -> list[str]:
        if n > len(steps):
            raise StillroomUserError(
                f"sample_n_steps({n}) routes to {n} steps, but only {len(steps)} follow the "
                f"step it routes ({steps}): connect more steps or lower n."
            )
        return random.sample(steps, n)

    return RoutingBatchFunction(sample_n, description=f"Sample {n} steps from the list of steps.")
