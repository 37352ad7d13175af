"""Pushing a Distiset to the Hugging Face Hub.

Each configuration goes up as a config of one dataset repository (`DatasetDict.push_to_hub`
with `config_name`), then the steps' artifacts, `pipeline.yaml`, `pipeline.log`, the
running script when asked, and the card. Before anything is sent, a missing token or the
Hub's offline mode is reported as such; a Hub that cannot be reached is reported with the
address tried, never as a bare connection error. The token never appears in a message.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from stillroom.constants import PIPELINE_CONFIG_FILENAME, PIPELINE_LOG_FILENAME
from stillroom.errors import StillroomError

_TRUE = {"1", "true", "yes", "on"}

_CONNECTION_ERRORS = {
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "NewConnectionError",
    "OfflineModeIsEnabled",
    "NameResolutionError",
}


def hub_offline() -> bool:
    """Whether the Hub's offline mode is on (`HF_HUB_OFFLINE`, or `HF_DATASETS_OFFLINE`)."""
    from huggingface_hub import constants

    env = (
        os.environ.get(name, "").strip().lower()
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )
    return bool(constants.HF_HUB_OFFLINE) or any(value in _TRUE for value in env)


def resolve_token(token: str | None, caller: str = "Distiset.push_to_hub") -> str:
    """`token`, else `$HF_TOKEN` or the token saved by `hf auth login`; an error naming
    `caller` and saying how to give one when there is none."""
    if token:
        return token
    from huggingface_hub import get_token

    found = get_token()
    if not found:
        raise StillroomError(
            f"{caller} needs a Hugging Face token with write access: pass "
            "token=..., set the HF_TOKEN environment variable, or run `hf auth login`."
        )
    return found


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_connection_error(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a failure to reach the server."""
    return any(
        type(e).__name__ in _CONNECTION_ERRORS or isinstance(e, ConnectionError)
        for e in _chain(error)
    )


def _unreachable(repo_id: str) -> StillroomError:
    from huggingface_hub import constants

    return StillroomError(
        f"Distiset.push_to_hub({repo_id!r}): the Hugging Face Hub at {constants.ENDPOINT} "
        "could not be reached. Check the network connection (and HF_ENDPOINT), then push again; "
        "what was already uploaded stays on the Hub."
    )


def push(
    datasets: Mapping[str, Any],
    repo_id: str,
    *,
    private: bool,
    token: str | None,
    card: Callable[[str | None], Any] | None,
    include_script: bool,
    pipeline_path: Path | None,
    log_filename_path: Path | None,
    artifacts_path: Path | None,
    **kwargs: Any,
) -> None:
    """Upload `datasets` and the run's files to the dataset repository `repo_id`."""
    if hub_offline():
        raise StillroomError(
            f"Distiset.push_to_hub({repo_id!r}): the Hugging Face Hub's offline mode is on "
            "(HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set), so nothing can be uploaded. Unset "
            "it to push, or keep the data locally with save_to_disk."
        )
    token = resolve_token(token)
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if include_script and (script is None or not script.is_file()):
        raise StillroomError(
            "Distiset.push_to_hub(include_script=True): this process was not started from a "
            f"script file (sys.argv[0] is {sys.argv[0] if sys.argv else ''!r}); run the "
            "pipeline from a script, or push with include_script=False."
        )
    try:
        _upload(
            datasets,
            repo_id,
            private=private,
            token=token,
            card=card,
            script=script if include_script else None,
            pipeline_path=pipeline_path,
            log_filename_path=log_filename_path,
            artifacts_path=artifacts_path,
            **kwargs,
        )
    except Exception as exc:
        if is_connection_error(exc):
            raise _unreachable(repo_id) from None
        raise


def _upload(
    datasets: Mapping[str, Any],
    repo_id: str,
    *,
    private: bool,
    token: str,
    card: Callable[[str | None], Any] | None,
    script: Path | None,
    pipeline_path: Path | None,
    log_filename_path: Path | None,
    artifacts_path: Path | None,
    **kwargs: Any,
) -> None:
    from huggingface_hub import upload_file, upload_folder

    for name, dataset in datasets.items():
        dataset.push_to_hub(repo_id, config_name=name, private=private, token=token, **kwargs)
    if artifacts_path is not None and artifacts_path.is_dir():
        upload_folder(
            folder_path=str(artifacts_path),
            path_in_repo="artifacts",
            commit_message="Add the pipeline's artifacts",
            repo_id=repo_id,
            repo_type="dataset",
            token=token,
        )
    for source, name in (
        (pipeline_path, PIPELINE_CONFIG_FILENAME),
        (log_filename_path, PIPELINE_LOG_FILENAME),
    ):
        if source is not None and source.is_file():
            upload_file(
                path_or_fileobj=str(source),
                path_in_repo=name,
                commit_message=f"Add {name}",
                repo_id=repo_id,
                repo_type="dataset",
                token=token,
            )
    if script is not None:
        upload_file(
            path_or_fileobj=str(script),
            path_in_repo=script.name,
            commit_message="Add the pipeline's script",
            repo_id=repo_id,
            repo_type="dataset",
            token=token,
        )
    if card is not None:
        card(script.name if script is not None else None).push_to_hub(
            repo_id, repo_type="dataset", token=token, commit_message="Add the dataset card"
        )
