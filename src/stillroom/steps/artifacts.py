"""Artifacts: files a step writes beside its rows (a fitted model, a plot, an index).

`save_artifact(name, write_function, metadata)` gives `write_function` a fresh folder
`<artifacts path>/<step name>/<name>/` and writes `metadata` next to it as `metadata.json`.
The pipeline sets the artifacts path when a run starts, so artifacts land in the run's
`artifacts/` folder (and the Distiset's); a step used on its own has none, and
`save_artifact` then only logs that nothing was saved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, PrivateAttr

logger = logging.getLogger("stillroom.step")


class ArtifactsMixin(BaseModel):
    """`save_artifact` and the folder it writes into."""

    _artifacts_path: Path | None = PrivateAttr(default=None)

    def set_pipeline_artifacts_path(self, path: str | Path) -> None:
        """The folder holding every step's artifacts (the step's own is a subfolder)."""
        self._artifacts_path = Path(path)

    @property
    def artifacts_directory(self) -> Path | None:
        """This step's artifacts folder, or None when no pipeline run has set one."""
        if self._artifacts_path is None:
            return None
        return self._artifacts_path / str(getattr(self, "name", None))

    def save_artifact(
        self,
        name: str,
        write_function: Callable[[Path], Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Call `write_function(folder)` on a new folder for the artifact `name`, then write
        `metadata` there as `metadata.json`; logs and does nothing outside a run."""
        directory = self.artifacts_directory
        if directory is None:
            logger.warning(
                "Step %r: artifact %r not saved, because the step has no artifacts folder "
                "(it is set when a pipeline runs the step).",
                getattr(self, "name", None),
                name,
            )
            return
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        write_function(folder)
        text = json.dumps(metadata or {}, separators=(",", ":"), ensure_ascii=False)
        (folder / "metadata.json").write_text(text, encoding="utf-8")
