"""`UMAP`: project embeddings to a few dimensions with umap-learn (the `[umap]` extra)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt, PrivateAttr

from stillroom.errors import MissingExtraError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GlobalStep, StepInput
from stillroom.steps.clustering.saving import save_fitted_model
from stillroom.steps.embeddings.nearest_neighbour import embedding_matrix
from stillroom.steps.typing import StepColumns, StepOutput


class UMAP(GlobalStep):
    """Reduce every row's `embedding` to an `n_components`-dimensional `projection`.

    UMAP (McInnes et al., 2018) is fitted on all rows at once, so that clusters in the
    embedding space stay together in the projection, ready for `DBSCAN` and plotting. The
    fitted model is kept as the artifact `UMAP_model` (`UMAP.joblib`) when run in a pipeline.
    Set `random_state` for the same projection on every run (umap-learn then runs on one
    thread). Needs the `[umap]` extra: `pip install 'stillroom[umap]'`.

    Attributes:
        n_components: dimensions of the projection.
        metric: the distance in the embedding space (any umap-learn metric name).
        n_jobs: threads.
        random_state: seed; None for a faster, unseeded run.

    Input columns:
        - embedding (`list[float]`): the row's vector.

    Output columns:
        - projection (`list[float]`): the row's position in the projection.

    Example:
        ```python
        umap = UMAP(n_components=2, random_state=0)
        umap.load()
        rows = next(umap.process([{"embedding": [float(i), float(i % 3)]} for i in range(20)]))
        rows[0]["projection"]  # two numbers
        ```
    """

    n_components: RuntimeParameter[PositiveInt] = Field(
        default=2, description="Dimensions of the projection."
    )
    metric: RuntimeParameter[str] = Field(
        default="euclidean", description="Distance in the embedding space (umap-learn's names)."
    )
    n_jobs: RuntimeParameter[int] = Field(default=8, description="Threads.")
    random_state: RuntimeParameter[int] | None = Field(
        default=None, description="Seed for a reproducible projection."
    )

    _umap: Any = PrivateAttr(default=None)

    @property
    def inputs(self) -> StepColumns:
        return ["embedding"]

    @property
    def outputs(self) -> StepColumns:
        return ["projection"]

    def load(self) -> None:
        super().load()
        try:
            from umap import UMAP as Projector
        except ImportError as exc:
            raise MissingExtraError(self._label(), "umap", "umap-learn") from exc
        self._umap = Projector(
            n_components=self.n_components,
            metric=self.metric,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def unload(self) -> None:
        self._umap = None
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        if not inputs:
            yield inputs
            return
        fitted = self._umap.fit(embedding_matrix(self._label(), inputs))
        for row, projection in zip(inputs, fitted.embedding_, strict=True):
            row["projection"] = [float(x) for x in projection]
        save_fitted_model(
            self, "UMAP", fitted, {"n_components": self.n_components, "metric": self.metric}
        )
        yield inputs
