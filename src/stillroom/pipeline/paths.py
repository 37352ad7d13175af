"""Where a pipeline keeps its cache, checkpoints and datasets.

The root is, in order: the `cache_dir` given to the pipeline, `$STILLROOM_CACHE_DIR`,
`$XDG_CACHE_HOME/stillroom`, `~/.cache/stillroom`. Under it each pipeline name gets a
directory holding its SQLite cache and one run directory per pipeline signature, which holds
the datasets (`data/`) and the run's progress and summary (`status.json`, for `stillroom view`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def cache_root(explicit: str | Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get("STILLROOM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "stillroom"


def pipeline_dir(root: Path, name: str) -> Path:
    """`<root>/pipelines/<name>`, with the name made safe for a file system."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "pipeline"
    return root / "pipelines" / safe


def run_dir(pipeline_directory: Path, signature: str) -> Path:
    return pipeline_directory / signature
