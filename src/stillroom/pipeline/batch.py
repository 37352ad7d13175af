"""`Batch`: rows travelling between steps, and what the leaf writers write; `RoutedAway`:
the place of a batch that a routing batch function sent to other steps.

Its own module so that the writers (which the engine's nodes hold) can name it without
importing the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stillroom.steps.typing import Row


@dataclass(slots=True)
class Batch:
    """Rows travelling between steps; `id` is unique within a run, `seq` is the source batch."""

    id: int
    seq: int
    rows: list[Row]


@dataclass(slots=True)
class RoutedAway(Batch):
    """Stands, in a step's slot, for batch `seq` of a predecessor that routed it to other
    steps (`routing_batch_function`). It holds no rows and the step runs nothing for it, but
    it keeps the step's seqs aligned: the step passes it on, and a step joining the routed
    branches knows which of them will bring seq and which will not."""
