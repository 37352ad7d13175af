"""The step graph of a pipeline: steps by name and the edges between them, in insertion order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from stillroom.constants import ROUTING_BATCH_FUNCTION_ATTR_NAME, STEP_ATTR_NAME

if TYPE_CHECKING:
    from stillroom.steps.base import _Step


class DAG:
    """Steps keyed by name, with ordered successor and predecessor lists."""

    def __init__(self) -> None:
        self.steps: dict[str, _Step] = {}
        self._successors: dict[str, list[str]] = {}
        self._predecessors: dict[str, list[str]] = {}
        self.routing: dict[str, Any] = {}
        """Step name -> the routing batch function choosing which successors get a batch."""

    @property
    def G(self) -> Mapping[str, list[str]]:
        """Step name -> its successors (distilabel's `dag.G[name]`, read-only)."""
        return MappingProxyType(self._successors)

    def get_step(self, name: str) -> dict[str, Any]:
        """The step's node as distilabel shapes it: the step under "step", and its routing
        batch function under "routing_batch_function" when it has one."""
        node: dict[str, Any] = {STEP_ATTR_NAME: self.steps[name]}
        if name in self.routing:
            node[ROUTING_BATCH_FUNCTION_ATTR_NAME] = self.routing[name]
        return node

    def __contains__(self, name: object) -> bool:
        return name in self.steps

    def __iter__(self) -> Iterator[str]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def add_step(self, step: _Step) -> None:
        assert step.name is not None
        self.steps[step.name] = step
        self._successors.setdefault(step.name, [])
        self._predecessors.setdefault(step.name, [])

    def add_edge(self, source: str, target: str) -> None:
        if target not in self._successors[source]:
            self._successors[source].append(target)
            self._predecessors[target].append(source)

    def successors(self, name: str) -> list[str]:
        return list(self._successors[name])

    def predecessors(self, name: str) -> list[str]:
        return list(self._predecessors[name])

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(a, b) for a, targets in self._successors.items() for b in targets]

    @property
    def leaves(self) -> list[str]:
        """Steps with no successors: the ones whose rows form the datasets."""
        return [name for name, targets in self._successors.items() if not targets]

    def find_cycle(self) -> list[str] | None:
        """A list of step names forming a cycle (first name repeated at the end), or None."""
        state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
        path: list[str] = []

        def visit(name: str) -> list[str] | None:
            state[name] = 1
            path.append(name)
            for nxt in self._successors[name]:
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in state:
                    found = visit(nxt)
                    if found:
                        return found
            path.pop()
            state[name] = 2
            return None

        for name in self.steps:
            if name not in state:
                found = visit(name)
                if found:
                    return found
        return None

    def topological_order(self) -> list[str]:
        """Steps so that each comes after its predecessors (insertion order among equals)."""
        remaining = {name: len(self._predecessors[name]) for name in self.steps}
        ready = [name for name, count in remaining.items() if count == 0]
        order: list[str] = []
        while ready:
            name = ready.pop(0)
            order.append(name)
            for nxt in self._successors[name]:
                remaining[nxt] -= 1
                if remaining[nxt] == 0:
                    ready.append(nxt)
        if len(order) != len(self.steps):
            raise ValueError("the graph has a cycle")
        return order

    def reachable_from(self, names: list[str]) -> set[str]:
        """`names` and every step downstream of them."""
        return _closure(names, self._successors)

    def reaching(self, names: Iterable[str]) -> set[str]:
        """`names` and every step upstream of them."""
        return _closure(names, self._predecessors)


def _closure(names: Iterable[str], neighbours: dict[str, list[str]]) -> set[str]:
    """The steps reached from `names` by following `neighbours`, `names` included."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(neighbours[name])
    return seen
