"""`DBSCAN`: cluster projected embeddings with scikit-learn (the `[scikit-learn]` extra)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveFloat, PositiveInt, PrivateAttr

from stillroom.errors import MissingExtraError, StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GlobalStep, StepInput
from stillroom.steps.clustering.saving import save_fitted_model
from stillroom.steps.typing import StepColumns, StepOutput


class DBSCAN(GlobalStep):
    """Give each row a `cluster_label` by density-based clustering of its `projection`.

    DBSCAN (Ester et al., 1996) groups points that have at least `min_samples` points
    (themselves included) within `eps`; points in no such group are noise, labelled -1. It is
    fitted on all rows at once, usually on `UMAP`'s low-dimensional projections. The fitted
    model is kept as the artifact `DBSCAN_model` (`DBSCAN.joblib`) when run in a pipeline.
    Needs the `[scikit-learn]` extra: `pip install 'stillroom[scikit-learn]'`.

    Attributes:
        eps: the neighbourhood radius.
        min_samples: points within `eps` that make a point a cluster's core.
        metric: the distance (any scikit-learn `pairwise_distances` metric name).
        n_jobs: parallel jobs.

    Input columns:
        - projection (`list[float]`): the row's point (e.g. from `UMAP`).

    Output columns:
        - cluster_label (`int`): the row's cluster, counted from 0; -1 for noise.

    Example:
        ```python
        dbscan = DBSCAN(eps=0.5, min_samples=2)
        dbscan.load()
        rows = [{"projection": p} for p in ([0, 0], [0, 0.1], [5, 5], [5, 5.1], [20, 20])]
        [r["cluster_label"] for r in next(dbscan.process(rows))]
        # [0, 0, 1, 1, -1]
        ```
    """

    eps: RuntimeParameter[PositiveFloat] = Field(
        default=0.3, description="The neighbourhood radius."
    )
    min_samples: RuntimeParameter[PositiveInt] = Field(
        default=30, description="Points within eps that make a point a cluster's core."
    )
    metric: RuntimeParameter[str] = Field(
        default="euclidean", description="The distance (scikit-learn's metric names)."
    )
    n_jobs: RuntimeParameter[int] = Field(default=8, description="Parallel jobs.")

    _clusterer: Any = PrivateAttr(default=None)

    @property
    def inputs(self) -> StepColumns:
        return ["projection"]

    @property
    def outputs(self) -> StepColumns:
        return ["cluster_label"]

    def load(self) -> None:
        super().load()
        try:
            from sklearn.cluster import DBSCAN as Clusterer
        except ImportError as exc:
            raise MissingExtraError(self._label(), "scikit-learn", "scikit-learn") from exc
        self._clusterer = Clusterer(
            eps=self.eps, min_samples=self.min_samples, metric=self.metric, n_jobs=self.n_jobs
        )

    def unload(self) -> None:
        self._clusterer = None
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        if not inputs:
            yield inputs
            return
        points = [row.get("projection") for row in inputs]
        for index, point in enumerate(points):
            if not isinstance(point, list | tuple) or not point:
                raise StillroomUserError(
                    f"{self._label()}: row {index} has projection={point!r}; expected a list "
                    "of numbers (run UMAP first, or map your column with input_mappings)."
                )
        fitted = self._clusterer.fit(points)
        for row, label in zip(inputs, fitted.labels_, strict=True):
            row["cluster_label"] = int(label)
        metadata = {"eps": self.eps, "min_samples": self.min_samples, "metric": self.metric}
        save_fitted_model(self, "DBSCAN", fitted, metadata)
        yield inputs
