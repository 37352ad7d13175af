"""Names shared across packages (mirrors `distilabel.constants`, renamed).

Most of them name things distilabel's engine keeps in its graph or its cache directory;
stillroom keeps the same names, with the same values where a user's code or files can see
them (the metadata column, the Distiset's folders and files, the environment variables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

STILLROOM_METADATA_KEY: Final[str] = "stillroom_metadata"
"""Column holding raw inputs/outputs, token statistics and errors, keyed by step name."""

BASE_CACHE_DIR: Final[Path] = Path.home() / ".cache" / "stillroom"
"""Where pipelines keep their caches and checkpoints by default (`STILLROOM_CACHE_DIR`)."""

PIPELINES_CACHE_DIR: Final[Path] = BASE_CACHE_DIR / "pipelines"

# attributes of the graph's nodes and edges
STEP_ATTR_NAME: Final[str] = "step"
INPUT_QUEUE_ATTR_NAME: Final[str] = "input_queue"
RECEIVES_ROUTED_BATCHES_ATTR_NAME: Final[str] = "receives_routed_batches"
ROUTING_BATCH_FUNCTION_ATTR_NAME: Final[str] = "routing_batch_function"
CONVERGENCE_STEP_ATTR_NAME: Final[str] = "convergence_step"
LAST_BATCH_SENT_FLAG: Final[str] = "last_batch_sent"

# environment of a running pipeline
PIPELINE_NAME_ENV_NAME: Final[str] = "STILLROOM_PIPELINE_NAME"
PIPELINE_CACHE_ID_ENV_NAME: Final[str] = "STILLROOM_PIPELINE_CACHE_ID"
SIGINT_HANDLER_CALLED_ENV_NAME: Final[str] = "sigint_handler_called"

# folders and files a run and its Distiset write
STEPS_OUTPUTS_PATH: Final[str] = "steps_outputs"
STEPS_ARTIFACTS_PATH: Final[str] = "steps_artifacts"
DISTISET_CONFIG_FOLDER: Final[str] = "distiset_configs"
DISTISET_ARTIFACTS_FOLDER: Final[str] = "artifacts"
PIPELINE_CONFIG_FILENAME: Final[str] = "pipeline.yaml"
PIPELINE_LOG_FILENAME: Final[str] = "pipeline.log"

STILLROOM_DOCS_URL: Final[str] = "https://example.invalid/stillroom/"
"""Where an error's `page` is read (the project's documentation site, once published)."""

__all__ = [
    "BASE_CACHE_DIR",
    "CONVERGENCE_STEP_ATTR_NAME",
    "DISTISET_ARTIFACTS_FOLDER",
    "DISTISET_CONFIG_FOLDER",
    "INPUT_QUEUE_ATTR_NAME",
    "LAST_BATCH_SENT_FLAG",
    "PIPELINES_CACHE_DIR",
    "PIPELINE_CONFIG_FILENAME",
    "PIPELINE_LOG_FILENAME",
    "RECEIVES_ROUTED_BATCHES_ATTR_NAME",
    "ROUTING_BATCH_FUNCTION_ATTR_NAME",
    "SIGINT_HANDLER_CALLED_ENV_NAME",
    "STEPS_ARTIFACTS_PATH",
    "STEPS_OUTPUTS_PATH",
    "STEP_ATTR_NAME",
    "STILLROOM_DOCS_URL",
    "STILLROOM_METADATA_KEY",
]

RUN_STATUS_FILE = "status.json"
"""In a run's directory: the run's progress while it runs, then its summary, as JSON (written
by the progress reporter, read by `stillroom view`)."""
