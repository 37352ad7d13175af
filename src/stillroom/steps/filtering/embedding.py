"""`EmbeddingDedup`: flag rows whose nearest neighbour is too similar to keep both."""

from __future__ import annotations

from pydantic import Field

from stillroom.errors import StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GlobalStep, StepInput
from stillroom.steps.typing import StepColumns, StepOutput

KEEP_COLUMN = "keep_row_after_embedding_filtering"


class EmbeddingDedup(GlobalStep):
    """Mark near-duplicate rows from their nearest neighbours' similarity scores.

    Reads what `FaissNearestNeighbour` writes: for each row, the positions of its nearest
    rows (`nn_indices`, positions in this step's input) and their scores (`nn_scores`). Two
    rows whose score is above `threshold` are duplicates; the first of them, in input order,
    is kept and the later one gets `keep_row_after_embedding_filtering = False`. A row
    dropped as a duplicate does not in turn drop its own later neighbours unless they are
    also above the threshold with a kept row. Scores are similarities (higher is closer):
    build the neighbour index with `metric_type=faiss.METRIC_INNER_PRODUCT` on normalised
    embeddings, so that the scores are cosine similarities. Rows are flagged, not removed.

    Attributes:
        threshold: similarity above which two rows are duplicates.

    Input columns:
        - nn_indices (`list[int]`): positions of the row's nearest rows.
        - nn_scores (`list[float]`): their similarity scores.

    Output columns:
        - keep_row_after_embedding_filtering (`bool`): False for a duplicate of an earlier row.

    Example:
        ```python
        dedup = EmbeddingDedup(threshold=0.9)
        dedup.load()
        rows = [
            {"nn_indices": [1], "nn_scores": [0.95]},
            {"nn_indices": [0], "nn_scores": [0.95]},
            {"nn_indices": [0], "nn_scores": [0.2]},
        ]
        [r["keep_row_after_embedding_filtering"] for r in next(dedup.process(rows))]
        # [True, False, True]
        ```
    """

    threshold: RuntimeParameter[float] = Field(
        default=0.9, description="Similarity above which two rows are duplicates."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["nn_scores", "nn_indices"]

    @property
    def outputs(self) -> StepColumns:
        return [KEEP_COLUMN]

    def process(self, inputs: StepInput) -> StepOutput:
        twins: list[set[int]] = [set() for _ in inputs]
        for position, row in enumerate(inputs):
            indices, scores = row.get("nn_indices"), row.get("nn_scores")
            if (
                not isinstance(indices, list)
                or not isinstance(scores, list)
                or len(indices) != len(scores)
            ):
                raise StillroomUserError(
                    f"{self._label()}: row {position} has nn_indices={indices!r} and "
                    f"nn_scores={scores!r}; expected two lists of one length (run FaissNearestNeighbour first)."
                )
            for other, score in zip(indices, scores, strict=True):
                if score is not None and score > self.threshold and 0 <= other < len(inputs):
                    twins[position].add(int(other))
                    twins[int(other)].add(position)
        kept: set[int] = set()
        for position, row in enumerate(inputs):
            keep = not any(other < position and other in kept for other in twins[position])
            row[KEEP_COLUMN] = keep
            if keep:
                kept.add(position)
        yield inputs
