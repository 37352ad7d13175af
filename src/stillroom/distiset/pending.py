"""A configuration of a run's Distiset that is not built yet, and how it is built.

`Pipeline.run` returns its Distiset before any `datasets.DatasetDict` exists: each value is a
`PendingLeaf` naming the run's data files, and the Distiset builds every pending value at
once the first time a value is asked for (`Distiset._resolve`). Importing `datasets` costs
about 110 MB and half a second, and turning the files into Arrow files a pass over them, so a
run whose caller never looks at the rows (a CLI run, a benchmark, a script that only reads
`distiset.summary`) pays for neither.

A pending leaf remembers each split's files as they were when the run ended (`fingerprint`).
A run of the same pipeline in this process builds the pending leaves of its folder before it
touches the files (`base.build_pending_distisets`). Built later from files that changed
otherwise (another process ran the same pipeline), a leaf would hold another run's rows, and
from files removed (a temporary cache folder deleted), none: it raises instead, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stillroom.distiset.arrow_files import fingerprint, source_files
from stillroom.distiset.io import from_files
from stillroom.errors import StillroomError


@dataclass(frozen=True)
class PendingSplit:
    """One split: its folder, its data files and their fingerprint when the run ended."""

    name: str
    folder: Path
    files: tuple[Path, ...]
    stamp: str

    @classmethod
    def of(cls, name: str, folder: Path, drop: tuple[str, ...]) -> PendingSplit:
        files = source_files(folder)
        return cls(name, folder, tuple(files), fingerprint(files, drop))


@dataclass(frozen=True)
class PendingLeaf:
    """A configuration of a Distiset, to be built from its splits' data files into Arrow
    files under `arrow_dir` (one `<split>.arrow` per split), without the columns in `drop`."""

    config: str
    splits: tuple[PendingSplit, ...]
    arrow_dir: Path
    drop: tuple[str, ...]
    use_cache: bool

    def build(self) -> Any:
        """The `datasets.DatasetDict`, memory-mapped from the Arrow files made now (or reused,
        see `arrow_files.arrow_file`)."""
        import datasets

        built = {}
        for split in self.splits:
            self._check_unchanged(split)
            target = self.arrow_dir / f"{split.name}.arrow"
            built[split.name] = from_files(
                list(split.files), target, split.name, self.drop, self.use_cache
            )
        return datasets.DatasetDict(built)

    def reads_from(self, directory: Path) -> bool:
        """Whether any of this leaf's files are under `directory`."""
        directory = directory.resolve()
        return any(
            directory == split.folder.resolve() or directory in split.folder.resolve().parents
            for split in self.splits
        )

    def _check_unchanged(self, split: PendingSplit) -> None:
        try:
            now = source_files(split.folder)
            same = now == list(split.files) and fingerprint(now, self.drop) == split.stamp
        except OSError:
            same = False
        if not same:
            raise StillroomError(
                f"Distiset: the data files of configuration {self.config!r} (split "
                f"{split.name!r}) in {split.folder} changed or were removed after the run "
                "that returned this Distiset (the same pipeline run by another process, or its "
                "cache folder deleted?), so its rows can no longer be read. Use a Distiset's "
                "datasets (or distiset.save_to_disk(...)) before that; "
                "create_distiset(data_dir) reads the files as they are now."
            )
