"""Routing batch functions: send each batch of a step to a chosen subset of its successors.

    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=rows)
        answers = [TextGeneration(name=f"answer_{i}", llm=llm) for i in range(3)]
        load >> sample_n_steps(2) >> answers

`routing_batch_function` turns a function `(downstream step names) -> chosen names` into a
`RoutingBatchFunction`; `sample_n_steps(n)` is the built-in that picks `n` at random.

The graph records the routing (distilabel's API and `dag.get_step(name)` shape) and the
engine asks it, through `route`, where each batch of the upstream step goes: the chosen
steps get the batch, the others a `RoutedAway` in its place (`batch.py`).

A choice depends only on the run and the batch: `route` seeds the random draws with the
pipeline's signature, the step and the batch's number, so a resumed run routes each batch
as the interrupted one did. `sample_n_steps` draws from that seeded generator alone; a
function of your own that draws from the `random` module gets the same seeding (another
thread drawing from `random` at that instant could still disturb it), and one that draws
elsewhere should be deterministic for resumes to be exact.
"""

from __future__ import annotations

import contextvars
import random
import threading
from collections.abc import Callable
from typing import Any

from stillroom.errors import SerializationError, StillroomUserError

RoutingBatchFunc = Callable[[list[str]], list[str]]
"""`(names of the downstream steps) -> names of those that receive the batch`."""


class RoutingBatchFunction:
    """A routing function, placed between an upstream step and a list of downstream steps
    with `upstream >> routing >> [a, b, c]`."""

    def __init__(self, routing_function: RoutingBatchFunc, description: str | None = None):
        self.routing_function = routing_function
        self.description = description
        self._step: Any = None
        self._factory: tuple[str, dict[str, Any]] | None = None
        """(name, keyword arguments) of the built-in factory that made it, if one did."""

    def identity(self) -> list[Any]:
        """What the pipeline's signature records of it: the factory and its arguments, or
        the function's qualified name and the description."""
        if self._factory is not None:
            return ["factory", *self._factory]
        function = self.routing_function
        name = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"
        return ["function", name, self.description]

    def dump(self, step: str | None = None) -> dict[str, Any]:
        """The `routing_batch_functions` entry of a pipeline dump (distilabel's shape) for
        the step it routes (by default the one `step >> self` named); only one made by a
        factory (`sample_n_steps`) can be rebuilt from it."""
        data: dict[str, Any] = {"step": step or getattr(self._step, "name", None)}
        if self.description:
            data["description"] = self.description
        if self._factory is not None:
            name, kwargs = self._factory
            data["type_info"] = {"module": __name__, "name": name, "kwargs": kwargs}
        return data

    def __repr__(self) -> str:
        name = getattr(self.routing_function, "__name__", repr(self.routing_function))
        return f"RoutingBatchFunction({name})"

    def __call__(self, steps: list[str]) -> list[str]:
        """The names of `steps` that receive the next batch (checked to be among them)."""
        return checked_choice(self, steps, self.routing_function(list(steps)))

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


_RNG: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar(
    "stillroom_routing_rng", default=None
)
"""The seeded generator of the routing call in progress (`route`)."""

_SEEDING = threading.Lock()


def route(routing: Callable[[list[str]], Any], steps: list[str], seed: str) -> list[str]:
    """The steps of `steps` that get a batch, as `routing` chooses with its random draws
    seeded by `seed` (the same seed, the same choice); checked as `checked_choice` does."""
    token = _RNG.set(random.Random(seed))
    try:
        with _SEEDING:
            saved = random.getstate()
            random.seed(seed)
            try:
                chosen = routing(list(steps))
            finally:
                random.setstate(saved)
    finally:
        _RNG.reset(token)
    return checked_choice(routing, steps, chosen)


def checked_choice(routing: Any, steps: list[str], chosen: Any) -> list[str]:
    """`chosen` as a list of distinct names among `steps`, or an error saying what is wrong."""
    if isinstance(chosen, str) or not isinstance(chosen, (list, tuple, set, frozenset)):
        raise StillroomUserError(
            f"{routing!r} returned {chosen!r}; a routing batch function returns a list of "
            f"names taken from the list it is given ({steps})."
        )
    picked = list(dict.fromkeys(chosen))
    unknown = [name for name in picked if name not in steps]
    if unknown:
        raise StillroomUserError(
            f"{routing!r} chose {unknown}, which are not downstream of the step it routes "
            f"({steps}); it must return names from the list it is given."
        )
    if not picked:
        raise StillroomUserError(
            f"{routing!r} chose no step for a batch, whose rows would be lost; return at "
            f"least one of {steps} (to drop rows, filter them in a step instead)."
        )
    return picked


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
        return (_RNG.get() or random).sample(steps, n)

    routing = RoutingBatchFunction(
        sample_n, description=f"Sample {n} steps from the list of steps."
    )
    routing._factory = ("sample_n_steps", {"n": n})
    return routing


FACTORIES: dict[str, Callable[..., RoutingBatchFunction]] = {"sample_n_steps": sample_n_steps}
"""The factories a pipeline file may name to rebuild a routing batch function."""


def routing_from_dict(data: Any) -> RoutingBatchFunction:
    """The routing batch function of a `routing_batch_functions` entry (distilabel's or
    stillroom's), rebuilt by the built-in factory it names."""
    info = data.get("type_info") if isinstance(data, dict) else None
    step = data.get("step") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise SerializationError(
            f"The routing batch function of step {step!r} was not made by a factory "
            f"({', '.join(FACTORIES)}), so the file cannot rebuild it; connect it again in "
            "Python after loading the pipeline."
        )
    module, name, kwargs = info.get("module", ""), info.get("name"), info.get("kwargs") or {}
    known = module in (__name__, "distilabel.pipeline.routing_batch_function") and name in FACTORIES
    if not known or not isinstance(kwargs, dict):
        raise SerializationError(
            f"The routing batch function of step {step!r} names {module}.{name}({kwargs!r}); "
            f"a pipeline file can only name {', '.join(FACTORIES)} with its keyword arguments."
        )
    routing = FACTORIES[str(name)](**kwargs)
    if data.get("description"):
        routing.description = data["description"]
    return routing
