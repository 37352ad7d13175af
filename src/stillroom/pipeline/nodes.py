"""The engine's data model: batches, units of work, and each step's runtime state.

A generator's batches are numbered (`seq`); every other step turns the rows it receives for
one seq (one list per predecessor) into exactly one output batch with the same seq. A step's
*slots* hold, per predecessor, the batches it has not started; a *unit* is what it takes from
them at once (one seq, or everything for a global step) and keeps until it has emitted the
output. Everything a step has not finished is in a slot or a unit, which is what checkpoints
store.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# `as` re-exports: the scheduler imports `Batch` and `RoutedAway` from here.
from stillroom.pipeline.batch import Batch as Batch
from stillroom.pipeline.batch import RoutedAway as RoutedAway
from stillroom.pipeline.execution import uses_row_path
from stillroom.pipeline.workers import is_cpu_bound

if TYPE_CHECKING:
    from stillroom.models.embeddings.base import Embeddings
    from stillroom.models.llms.base import LLM
    from stillroom.pipeline.cached_embeddings import CachedEmbeddings
    from stillroom.pipeline.cached_llm import CachedLLM
    from stillroom.pipeline.requests import RequestCache, RequestStats
    from stillroom.pipeline.writers import Encoded, LeafWriter
    from stillroom.steps.base import _Step
    from stillroom.steps.typing import Row

SLOT_BATCHES = 4
"""Batches waiting in a step's slot, per predecessor, before its producer pauses."""

WAIT, READY, DONE = range(3)
"""What `Node.readiness()` returns."""


@dataclass
class Unit:
    """The batches a step consumes together: per predecessor, those of one seq (or all)."""

    seq: int
    batches: list[list[Batch]]
    hashes: list[bytes] = field(default_factory=list)

    def inputs(self) -> list[list[Row]]:
        """One row list per predecessor, of the `kept` batches."""
        return [[row for batch in batches for row in batch.rows] for batches in self.kept()]

    def kept(self) -> list[list[Batch]]:
        """The batches per predecessor, without those whose batches were all routed to
        other steps (as distilabel gives a step joining routed branches the rows of the
        branches that processed them)."""
        kept = [batches for batches in self.batches if not _routed_away(batches)]
        if not kept:  # a global step whose inputs were all routed away: empty lists
            kept = [[] for _ in self.batches]
        return kept

    @property
    def routed_away(self) -> bool:
        """Every batch of this unit was routed to other steps: nothing to run, and the step
        passes a `RoutedAway` on."""
        return any(self.batches) and all(map(_routed_away, filter(None, self.batches)))

    @property
    def size(self) -> int:
        return sum(len(batch.rows) for batches in self.batches for batch in batches)


def _routed_away(batches: list[Batch]) -> bool:
    return bool(batches) and all(isinstance(batch, RoutedAway) for batch in batches)


@dataclass
class NodeStats:
    rows_in: int = 0
    rows_out: int = 0
    failed_rows: int = 0


class Node:
    """One step's runtime state: its input slots, position, counters and outputs."""

    def __init__(self, name: str, step: _Step, preds: list[str]) -> None:
        self.name = name
        self.step = step
        self.preds = preds
        self.succs: list[Node] = []
        self.writer: LeafWriter | None = None
        self.requests: RequestCache | None = None
        """A task's request cache: its counters, and the counts `_complete` commits."""
        self.own_llm: LLM | None = None
        """A task's own LLM, while `cached` stands in for it (local engine)."""
        self.cached: CachedLLM | None = None
        self.own_embeddings: Embeddings | None = None
        """A step's own embedding model, while `cached_embeddings` stands in for it."""
        self.cached_embeddings: CachedEmbeddings | None = None
        self.routing: Any = None
        """The routing batch function choosing which successors get each batch, if any."""
        if step.is_generator:
            self.kind = "generator"
        elif step.is_global:
            self.kind = "global"
        elif uses_row_path(step):
            self.kind = "rows"
        else:
            self.kind = "batches"
        self.cpu_bound = is_cpu_bound(step)
        self.capacity: int | None = None if step.is_global else SLOT_BATCHES
        self.slots: dict[str, deque[Batch]] = {p: deque() for p in preds}
        self.closed: set[str] = set()
        self.inflight: dict[int, Unit] = {}
        self.next_seq = 0
        self.done = False
        self.gen_offset = 0
        self.stats = NodeStats()
        self.expected_rows: int | None = None
        self.held = 0

    @property
    def request_stats(self) -> RequestStats | None:
        return self.requests.stats if self.requests is not None else None

    @property
    def rows_done(self) -> int:
        return self.stats.rows_out if self.kind == "generator" else self.stats.rows_in

    def room_for(self, pred: str) -> bool:
        return self.capacity is None or len(self.slots[pred]) < self.capacity

    def readiness(self) -> int:
        """READY when the next unit can be taken, DONE when no more will come, else WAIT."""
        if self.kind == "global":
            if all(p in self.closed for p in self.preds):
                return DONE if self.done else READY
            return WAIT
        heads = []
        for pred in self.preds:
            slot = self.slots[pred]
            if slot:
                heads.append(slot[0].seq)
            elif pred not in self.closed:
                return WAIT
        if not heads:
            return DONE
        if self.next_seq not in heads:  # predecessors from other sources ran out earlier
            self.next_seq = min(heads)
        return READY

    def take(self) -> Unit:
        if self.kind == "global":
            batches = [list(self.slots[p]) for p in self.preds]
            for pred in self.preds:
                self.slots[pred].clear()
            unit = Unit(0, batches)
        else:
            batches = []
            for pred in self.preds:
                slot = self.slots[pred]
                batches.append([slot.popleft()] if slot and slot[0].seq == self.next_seq else [])
            unit = Unit(self.next_seq, batches)
            self.next_seq += 1
        self.inflight[unit.seq] = unit
        return unit

    def state(self) -> dict[str, Any]:
        return {
            "next_seq": min(self.inflight, default=self.next_seq),
            "closed": sorted(self.closed),
            "done": self.done,
            "gen_offset": self.gen_offset,
            "stats": [self.stats.rows_in, self.stats.rows_out, self.stats.failed_rows],
            **({"llm": llm.learnt_state()} if (llm := self._llm()) is not None else {}),
        }

    def _llm(self) -> LLM | None:
        """The task's LLM (behind the run's cache while it runs), None for other steps."""
        llm = getattr(self.step, "llm", None)
        return llm if hasattr(llm, "learnt_state") else None

    def restore(self, state: dict[str, Any]) -> None:
        self.next_seq = state["next_seq"]
        self.closed = set(state["closed"])
        self.done = state["done"]
        self.gen_offset = state["gen_offset"]
        self.stats = NodeStats(*state["stats"])
        llm = self._llm()
        if llm is not None and state.get("llm"):  # what it found out about its server
            llm.restore_learnt_state(state["llm"])

    def pending(self) -> list[tuple[str, Batch | Encoded]]:
        """(location, batch) of every batch this step has not finished, for checkpoints."""
        found: list[tuple[str, Batch | Encoded]] = [
            (f"{self.name}<{p}", b) for p, slot in self.slots.items() for b in slot
        ]
        for unit in self.inflight.values():
            for pred, batches in zip(self.preds, unit.batches, strict=True):
                found.extend((f"{self.name}<{pred}", b) for b in batches)
        if self.writer is not None:
            found.extend((f"{self.name}>", b) for b in self.writer.pending())
        return found
