"""`DeitaFiltering`: DEITA's data selection (Liu et al., 2023, arXiv:2312.15685).

Rows are ranked by complexity times quality and taken best first, skipping any whose embedding
is too close to another row's, until the data budget is met.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, PositiveInt

from stillroom.errors import StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GlobalStep, StepInput
from stillroom.steps.embeddings.nearest_neighbour import embedding_matrix
from stillroom.steps.typing import StepColumns, StepOutput

_SCORES = ("evol_instruction_score", "evol_response_score")


class DeitaFiltering(GlobalStep):
    """Keep the `data_budget` best-scored rows that are not near-copies of another row.

    Each row's DEITA score is its instruction score (from `ComplexityScorer`) times its
    response score (from `QualityScorer`); when one is missing the other is used alone, and
    0 when both are. Its distance to its nearest other row is computed on the embeddings
    (cosine distance, on normalised vectors unless `normalize_embeddings=False`, or the
    Manhattan distance). Rows are then taken by score, best first, keeping only those at
    least `diversity_threshold` away from their nearest neighbour, until `data_budget` rows
    are kept. The step's output holds only those rows, best first.

    Attributes:
        data_budget: how many rows to keep (required).
        diversity_threshold: the least distance to the nearest row for a row to be kept.
        normalize_embeddings: scale the embeddings to unit length first.
        distance_metric: `"cosine"` or `"manhattan"`.

    Input columns:
        - evol_instruction_score (`float`): the instruction's complexity score.
        - evol_response_score (`float`): the response's quality score.
        - embedding (`list[float]`): the instruction-response pair's embedding.

    Output columns:
        - deita_score (`float`): the product of the two scores.
        - nearest_neighbor_distance (`float`): the distance to the closest other row.
        - deita_score_computed_with (`list[str]`): the score columns the score used.

    Example:
        ```python
        deita = DeitaFiltering(data_budget=1, diversity_threshold=0.5)
        deita.load()
        rows = [
            {"evol_instruction_score": 2, "evol_response_score": 3, "embedding": [1, 0]},
            {"evol_instruction_score": 4, "evol_response_score": 4, "embedding": [0, 1]},
        ]
        [r["deita_score"] for r in next(deita.process(rows))]
        # [16]
        ```
    """

    data_budget: RuntimeParameter[PositiveInt] = Field(description="How many rows to keep.")
    diversity_threshold: RuntimeParameter[float] = Field(
        default=0.9, description="Least distance to the nearest row for a row to be kept."
    )
    normalize_embeddings: RuntimeParameter[bool] = Field(
        default=True, description="Scale the embeddings to unit length before comparing."
    )
    distance_metric: RuntimeParameter[Literal["cosine", "manhattan"]] = Field(
        default="cosine", description="'cosine' or 'manhattan'."
    )

    @property
    def inputs(self) -> StepColumns:
        return [*_SCORES, "embedding"]

    @property
    def outputs(self) -> StepColumns:
        return ["deita_score", "nearest_neighbor_distance", "deita_score_computed_with"]

    def load(self) -> None:
        super().load()
        if getattr(self, "data_budget", None) is None:
            raise StillroomUserError(
                f"{self._label()} needs data_budget, the number of rows to keep: pass "
                "DeitaFiltering(data_budget=...) or set it in the run's parameters."
            )

    def process(self, inputs: StepInput) -> StepOutput:
        for row in inputs:
            used = [name for name in _SCORES if row.get(name) is not None]
            row["deita_score"] = math.prod(row[name] for name in used) if used else 0
            row["deita_score_computed_with"] = used
        for row, distance in zip(inputs, self._nearest_distances(inputs), strict=True):
            row["nearest_neighbor_distance"] = distance
        ranked = sorted(inputs, key=lambda row: row["deita_score"], reverse=True)
        diverse = [r for r in ranked if r["nearest_neighbor_distance"] >= self.diversity_threshold]
        yield diverse[: self.data_budget]

    def _nearest_distances(self, rows: list[dict[str, Any]]) -> list[float]:
        """Each row's distance to its closest other row (infinite for a lone row)."""
        import numpy as np

        if not rows:
            return []
        vectors = np.asarray(embedding_matrix(self._label(), rows), dtype="float64")
        if self.normalize_embeddings:
            vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        if self.distance_metric == "cosine":
            distances = 1.0 - vectors @ vectors.T
        else:
            distances = np.abs(vectors[:, None, :] - vectors[None, :, :]).sum(axis=-1)
        np.fill_diagonal(distances, np.inf)
        return [float(d) for d in distances.min(axis=1)]
