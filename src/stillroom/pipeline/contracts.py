"""The engine's contracts: what a run is asked, what it gives back, and the seams behind it.

`Pipeline.run` turns its arguments into a `RunConfig` and hands it, with the pipeline, to
`run_pipeline`, which returns a `RunOutcome`. Where the steps execute is an `Executor`
(`runner.py`): the local one (one process, asyncio) or the Ray one. Both keep the run's
request cache and checkpoints in a `Store`: the SQLite database on this machine, or the Ray
checkpoints and request ledgers a Ray run keeps under a URL (`RayStore`). See
docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stillroom.errors import StorageError
    from stillroom.pipeline.writers import StorageFormat
    from stillroom.run_summary import RunSummary


@dataclass(frozen=True)
class RunConfig:
    """What a run is asked to do (`Pipeline.run`'s arguments; see its docstring)."""

    parameters: Mapping[str, Any] | None = None
    use_cache: bool = True
    storage_format: StorageFormat = "jsonl"
    checkpoint_interval: float = 1.0
    progress: bool | None = None
    log_interval: float = 10.0
    row_limit: int | None = None
    """A dry run: each generator stops after this many rows (its own checkpoint and data)."""
    max_failed_fraction: float | None = None
    strict_cache: bool = False
    view: bool = False
    """Serve the run's datasets in the browser while it runs (`stillroom.viewer`)."""
    load_groups: list[list[str]] | None = None
    """Steps loaded together, stage after stage (`load_stages.py`); None: all at the start."""


@dataclass(frozen=True)
class RunIdentity:
    """Which run an engine executes: the pipeline signature (a dry run has its own), the run
    id that keys its duplicate counts, and the settings saved with its checkpoint."""

    signature: str
    run_id: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run gives back: where its datasets are, and its summary."""

    data_dir: Path
    summary: RunSummary


class Store(Protocol):
    """Where a run keeps its checkpoints (and, behind them, its request cache)."""

    @property
    def failure(self) -> StorageError | None:
        """The first write that failed; the run stops once it is set."""

    def load_run(
        self, signature: str
    ) -> tuple[str, bytes | None, list[tuple[str, int, bytes]]]: ...

    def save_run(
        self,
        signature: str,
        status: str,
        state: bytes,
        added: list[tuple[str, int, bytes]],
        removed: Iterable[tuple[str, int]],
        updated: float,
    ) -> None: ...

    def clear_run(self, signature: str, run: str | None = None) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...
