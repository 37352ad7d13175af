"""`RunnablePipeline`: what the runner needs of a pipeline, as a structural type.

`Pipeline.run` calls the runner, so the runner must not import `Pipeline` back (not even for
its annotations): it names this protocol instead, which every `Pipeline` satisfies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from stillroom.distiset import SavablePipeline
from stillroom.pipeline.graph import DAG


class RunnablePipeline(SavablePipeline, Protocol):
    """A named DAG of steps, with the cache directory its runs use (None: the default)."""

    @property
    def dag(self) -> DAG: ...

    @property
    def cache_dir(self) -> str | Path | None: ...
