"""`PushToHub`: upload the rows a step receives as one split of a Hub dataset.

The rows become one Parquet file, `data/<split>-00000-of-00001.parquet`, committed to the
dataset repository (created if missing) through huggingface_hub's HTTP API; the Hub reads
the split from the file name. Offline mode, a missing token, an unreachable Hub and a refused
token are each reported as such, never with the token.
"""

from __future__ import annotations

import io

from pydantic import Field, SecretStr

from stillroom.distiset import hub
from stillroom.errors import StillroomError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GlobalStep, StepInput
from stillroom.steps.typing import StepColumns, StepOutput


class PushToHub(GlobalStep):
    """Push every row this step receives to the Hugging Face Hub, then pass them on.

    The rows (all their columns) are written as one Parquet file for `split` in the dataset
    repository `repo_id`, created (`private` or public) when it does not exist; pushing the
    same split again replaces that file. The rows are yielded unchanged, so the step can end
    a pipeline or sit in the middle of one. The token is `token`, else `$HF_TOKEN`, else the
    one saved by `hf auth login`; it needs write access.

    Attributes:
        repo_id: the dataset repository, `owner/name` (required).
        split: the split the rows become.
        private: create the repository as private.
        token: a Hub token with write access (kept secret).

    Input columns:
        - dynamic (all): every column of the rows.

    Output columns:
        - none: the rows pass through unchanged.

    Example:
        ```python
        from stillroom.pipeline import Pipeline
        from stillroom.steps import LoadDataFromDicts, PushToHub

        with Pipeline(name="export") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "Hi", "generation": "Hello"}])
            push = PushToHub(repo_id="me/greetings", split="train", private=True)
            load >> push
        ```
    """

    repo_id: RuntimeParameter[str] = Field(description="The dataset repository, owner/name.")
    split: RuntimeParameter[str] = Field(default="train", description="The split to write.")
    private: RuntimeParameter[bool] = Field(
        default=False, description="Create the repository as private."
    )
    token: RuntimeParameter[SecretStr] | None = Field(
        default=None, description="Hub token with write access (default $HF_TOKEN)."
    )

    @property
    def inputs(self) -> StepColumns:
        return []

    @property
    def outputs(self) -> StepColumns:
        return []

    def process(self, inputs: StepInput) -> StepOutput:
        who = f"{self._label()} (repo_id={self.repo_id!r})"
        if hub.hub_offline():
            raise StillroomError(
                f"{who}: the Hugging Face Hub's offline mode is on (HF_HUB_OFFLINE or "
                "HF_DATASETS_OFFLINE is set), so nothing can be uploaded. Unset it to push."
            )
        given = self.token.get_secret_value() if self.token is not None else None
        token = hub.resolve_token(given, caller=who)
        try:
            self._upload(inputs, token)
        except Exception as exc:
            raise self._explained(who, exc) from exc
        yield inputs

    def _upload(self, rows: list[dict[str, object]], token: str) -> None:
        from datasets import Dataset
        from huggingface_hub import CommitOperationAdd, HfApi

        buffer = io.BytesIO()
        Dataset.from_list(rows).to_parquet(buffer)
        api = HfApi(token=token)
        api.create_repo(self.repo_id, repo_type="dataset", private=self.private, exist_ok=True)
        path = f"data/{self.split}-00000-of-00001.parquet"
        api.create_commit(
            self.repo_id,
            repo_type="dataset",
            operations=[CommitOperationAdd(path_in_repo=path, path_or_fileobj=buffer.getvalue())],
            commit_message=f"Upload the {self.split} split ({len(rows)} rows) with stillroom",
        )

    def _explained(self, who: str, error: Exception) -> StillroomError:
        """A message for a failed upload: unreachable, refused token, or the Hub's answer."""
        from huggingface_hub import constants

        if hub.is_connection_error(error):
            return StillroomError(
                f"{who}: the Hugging Face Hub at {constants.ENDPOINT} could not be reached. "
                "Check the network connection (and HF_ENDPOINT), then run again."
            )
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            return StillroomError(
                f"{who}: the Hub refused the token (HTTP {status}). Give a token with write "
                "access to this repository in PushToHub(token=...) or the HF_TOKEN "
                "environment variable."
            )
        return StillroomError(f"{who}: the upload failed: {type(error).__name__}: {error}")
