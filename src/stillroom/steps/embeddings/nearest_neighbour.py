"""`FaissNearestNeighbour`: each row's nearest rows by embedding, searched with faiss.

faiss comes with the `[faiss-cpu]` extra and is imported by `load()`; the index is built over
every row of the dataset (a global step), searched in batches, and kept as an artifact.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt, PrivateAttr

from stillroom.errors import MissingExtraError, StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import GlobalStep, StepInput
from stillroom.steps.typing import StepColumns, StepOutput


class FaissNearestNeighbour(GlobalStep):
    """Find the `k` nearest rows of each row by its `embedding`, with a faiss index.

    All rows go into one index (`string_factory`, faiss's index description; a flat exact
    index by default), which is then searched for every row. A row is never its own
    neighbour. `nn_indices` are positions in the step's input (0 for the first row it
    received), `nn_scores` what the index measures: squared L2 distances by default (lower is
    closer), inner products with `metric_type=faiss.METRIC_INNER_PRODUCT` (higher is closer;
    on normalised vectors, cosine similarity, which `EmbeddingDedup` expects). The index is
    saved as the artifact `faiss_index` (file `index.faiss`) when the step runs in a pipeline.
    Needs the `[faiss-cpu]` extra: `pip install 'stillroom[faiss-cpu]'`.

    Attributes:
        device: unused on CPU; kept for distilabel's signature (faiss-gpu device ids).
        string_factory: faiss `index_factory` description, e.g. `"Flat"` or `"IVF4,Flat"`.
        metric_type: a `faiss.METRIC_*` value; faiss's default (L2) when None.
        k: neighbours to find for each row.
        search_batch_size: rows searched per call.
        train_size: rows used to train an index that needs training (all rows when None).

    Input columns:
        - embedding (`list[float]`): the row's vector.

    Output columns:
        - nn_indices (`list[int]`): positions of the nearest rows, nearest first.
        - nn_scores (`list[float]`): their distances or similarities, in the same order.

    Example:
        ```python
        nn = FaissNearestNeighbour(k=1)
        nn.load()
        rows = [{"embedding": [0.0, 1.0]}, {"embedding": [0.0, 0.9]}, {"embedding": [5.0, 5.0]}]
        [r["nn_indices"] for r in next(nn.process(rows))]
        # [[1], [0], [0]]
        ```
    """

    device: RuntimeParameter[int | list[int]] | None = Field(
        default=None, description="CUDA device id(s) for faiss-gpu; unused with faiss-cpu."
    )
    string_factory: RuntimeParameter[str] | None = Field(
        default=None, description="faiss index_factory description; a flat index when None."
    )
    metric_type: RuntimeParameter[int] | None = Field(
        default=None, description="A faiss.METRIC_* value; L2 when None."
    )
    k: RuntimeParameter[PositiveInt] = Field(default=1, description="Neighbours per row.")
    search_batch_size: RuntimeParameter[PositiveInt] = Field(
        default=50, description="Rows searched per call."
    )
    train_size: RuntimeParameter[PositiveInt] | None = Field(
        default=None, description="Rows used to train an index that needs training."
    )

    _faiss: Any = PrivateAttr(default=None)

    @property
    def inputs(self) -> StepColumns:
        return ["embedding"]

    @property
    def outputs(self) -> StepColumns:
        return ["nn_indices", "nn_scores"]

    def load(self) -> None:
        super().load()
        try:
            import faiss
        except ImportError as exc:
            raise MissingExtraError(self._label(), "faiss-cpu", "faiss-cpu") from exc
        self._faiss = faiss

    def process(self, inputs: StepInput) -> StepOutput:
        import numpy as np

        if not inputs:
            yield inputs
            return
        vectors = np.asarray(embedding_matrix(self._label(), inputs), dtype="float32")
        index = self._build_index(vectors)
        found = min(self.k + 1, len(inputs))
        for start in range(0, len(inputs), self.search_batch_size):
            scores, indices = index.search(vectors[start : start + self.search_batch_size], found)
            for offset, (row_scores, row_indices) in enumerate(zip(scores, indices, strict=True)):
                own = start + offset
                pairs = [
                    (int(i), float(s))
                    for i, s in zip(row_indices, row_scores, strict=True)
                    if i not in (own, -1)
                ][: self.k]
                inputs[own]["nn_indices"] = [i for i, _ in pairs]
                inputs[own]["nn_scores"] = [s for _, s in pairs]
        self._save_index(index, len(inputs), vectors.shape[1])
        yield inputs

    def _build_index(self, vectors: Any) -> Any:
        faiss = self._faiss
        metric = faiss.METRIC_L2 if self.metric_type is None else self.metric_type
        try:
            index = faiss.index_factory(vectors.shape[1], self.string_factory or "Flat", metric)
        except RuntimeError as exc:
            raise StillroomUserError(
                f"{self._label()}: faiss cannot build string_factory={self.string_factory!r} "
                f"with metric_type={self.metric_type!r}: {exc}. See faiss's index_factory "
                "documentation for valid descriptions."
            ) from exc
        if not index.is_trained:
            index.train(vectors[: self.train_size] if self.train_size else vectors)
        index.add(vectors)
        return index

    def _save_index(self, index: Any, rows: int, dimension: int) -> None:
        if self.artifacts_directory is None:
            return
        faiss = self._faiss
        self.save_artifact(
            name="faiss_index",
            write_function=lambda path: faiss.write_index(index, str(path / "index.faiss")),
            metadata={"num_rows": rows, "embedding_dim": dimension},
        )


def embedding_matrix(label: str, rows: list[dict[str, Any]]) -> list[list[float]]:
    """The rows' `embedding` vectors, checked to be lists of numbers of one length."""
    vectors: list[list[float]] = []
    for index, row in enumerate(rows):
        vector = row.get("embedding")
        if not isinstance(vector, list | tuple) or not vector:
            raise StillroomUserError(
                f"{label}: row {index} has embedding={vector!r}; expected a non-empty list of "
                "numbers (run EmbeddingGeneration first, and drop rows it could not embed)."
            )
        if vectors and len(vector) != len(vectors[0]):
            raise StillroomUserError(
                f"{label}: row {index}'s embedding has {len(vector)} numbers, row 0's has "
                f"{len(vectors[0])}; every row needs a vector from the same model."
            )
        vectors.append(list(vector))
    return vectors
