"""Keep a fitted scikit-learn-style model as a step artifact (a joblib file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stillroom.steps.base import Step


def save_fitted_model(step: Step, name: str, model: Any, metadata: dict[str, Any]) -> None:
    """Write `model` to `<name>.joblib` in the artifact `<name>_model`; nothing outside a run."""
    if step.artifacts_directory is None:
        return
    import joblib

    def write(folder: Path) -> None:
        joblib.dump(model, folder / f"{name}.joblib")

    step.save_artifact(name=f"{name}_model", write_function=write, metadata=metadata)
