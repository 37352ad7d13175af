"""`Batch`: rows travelling between steps, and what the leaf writers write.

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
