"""Where `stillroom pipeline run|info` gets its pipeline: a saved file (`--config`, a path or
an http(s) URL) or a Python script defining it (`--script`, a path or URL), as distilabel's
CLI does.

A script is run as a module (its `if __name__ == "__main__":` block does not run), and the
pipeline is the variable `--pipeline-variable-name` names. Running a script runs its code:
that is what the user asks for by naming it; a saved file only imports classes from the
modules `--allow-module` names (`Pipeline.from_dict`).
"""

from __future__ import annotations

import runpy
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from stillroom.errors import StillroomUserError

_DOWNLOAD_TIMEOUT = 60.0


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read_text(location: str) -> str:
    """The text at a path or an http(s) URL (a clear error when it cannot be read)."""
    try:
        if is_url(location):
            with urllib.request.urlopen(location, timeout=_DOWNLOAD_TIMEOUT) as reply:
                return str(reply.read().decode("utf-8"))
        return Path(location).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StillroomUserError(f"Cannot read {location!r}: {exc}") from None


def pipeline_from_config(location: str, allowed_modules: list[str]) -> Any:
    """The pipeline saved at `location` (YAML or JSON, a path or a URL)."""
    from stillroom.pipeline import Pipeline

    if not is_url(location):
        return Pipeline.from_file(location, allowed_modules=allowed_modules)
    try:
        data = yaml.safe_load(read_text(location))  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise StillroomUserError(f"{location!r} is not a YAML/JSON pipeline file: {exc}") from None
    return Pipeline.from_dict(data, allowed_modules=allowed_modules)


def pipeline_from_script(location: str, variable: str) -> Any:
    """Run the script at `location` as a module and return its pipeline variable."""
    from stillroom.pipeline import Pipeline

    with tempfile.TemporaryDirectory() as folder:
        path = Path(location)
        if is_url(location):
            path = Path(folder) / "pipeline_script.py"
            path.write_text(read_text(location), encoding="utf-8")
        elif not path.is_file():
            raise StillroomUserError(f"No script at {location!r}.")
        namespace = runpy.run_path(str(path), run_name="stillroom_pipeline_script")
    pipeline = namespace.get(variable)
    if not isinstance(pipeline, Pipeline):
        found = sorted(k for k, v in namespace.items() if isinstance(v, Pipeline))
        hint = f" Pipelines it defines: {', '.join(found)}." if found else ""
        raise StillroomUserError(
            f"The script {location!r} defines no Pipeline named {variable!r}; pass "
            f"--pipeline-variable-name NAME.{hint}"
        )
    return pipeline
