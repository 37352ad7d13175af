"""`TextClustering`: an LLM names each cluster of texts from a few of its members.

The clusters come from earlier steps (`UMAP` then `DBSCAN`); this task sends one request per
cluster, with a sample of its texts, through `TextClassification`'s prompt, and gives every
row its cluster's labels. With `savefig`, a scatter plot of the projections with the cluster
names is kept as an artifact (matplotlib, from the `[text-clustering]` extra).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import MissingExtraError, StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.steps.base import StepInput
from stillroom.steps.tasks.base import GlobalTask
from stillroom.steps.tasks.text_classification import TextClassification
from stillroom.steps.typing import StepColumns, StepOutput
from stillroom.utils.metadata import add_metadata

NOISE = -1
"""The cluster label DBSCAN gives to rows in no cluster."""


class TextClustering(TextClassification, GlobalTask):
    """Label each cluster of texts with the LLM, and each row with its cluster's labels.

    For every cluster (rows sharing a `cluster_label`, except -1, noise), up to
    `samples_per_cluster` of its texts, drawn with a fixed seed so that a rerun sends the same
    requests, are shown to the LLM as numbered examples; it answers the labels that describe
    them all, as `TextClassification` does (same fields: `n`, `context`, `available_labels`,
    `default_label`, ...). Every row of the cluster then gets those labels, JSON-encoded, in
    `summary_label`; noise rows get `default_label`. A cluster whose request fails or whose
    reply is malformed gives its rows `summary_label = None`, with the error in their
    `stillroom_metadata`. All rows arrive at once (a global step).

    Attributes:
        savefig: keep a scatter plot of the projections, named by cluster, as the artifact
            `Text clusters` (`figure_clustering.png`); needs matplotlib.
        samples_per_cluster: texts shown to the LLM for each cluster.

    Input columns:
        - text (`str`): the text.
        - projection (`list[float]`): its 2-D position (from `UMAP`), used for the figure.
        - cluster_label (`int`): its cluster (from `DBSCAN`); -1 for none.

    Output columns:
        - summary_label (`str`): the cluster's labels, as JSON (a string, or a list with `n > 1`).
        - model_name (`str`): the LLM's model name.

    Example:
        ```python
        clustering = TextClustering(llm=llm, n=1, savefig=False, samples_per_cluster=5)
        clustering.load()
        rows = next(clustering.process(rows_with_text_projection_and_cluster_label))
        rows[0]["summary_label"]  # '"Cooking"'
        ```
    """

    savefig: RuntimeParameter[bool] = Field(
        default=True, description="Keep a figure of the clusters as an artifact."
    )
    samples_per_cluster: PositiveInt = Field(
        default=10, description="Texts shown to the LLM for each cluster."
    )

    @property
    def inputs(self) -> StepColumns:
        return ["text", "projection", "cluster_label"]

    @property
    def outputs(self) -> StepColumns:
        return ["summary_label", "model_name"]

    def load(self) -> None:
        super().load()
        if self.savefig:
            try:
                import matplotlib  # noqa: F401
            except ImportError as exc:
                raise MissingExtraError(
                    f"{self._label()} with savefig=True", "text-clustering", "matplotlib"
                ) from exc

    def process(self, inputs: StepInput) -> StepOutput:
        members: dict[int, list[int]] = {}
        for index, row in enumerate(inputs):
            label = row.get("cluster_label")
            if not isinstance(label, int):
                raise StillroomUserError(
                    f"{self._label()}: row {index} has cluster_label={label!r}; expected an "
                    "integer (run DBSCAN first, or map your column with input_mappings)."
                )
            members.setdefault(label, []).append(index)
        clusters = sorted(label for label in members if label != NOISE)
        samples = [self._sample_texts(inputs, members[label], label) for label in clusters]
        summaries = next(super().process(samples)) if samples else []
        per_cluster = len(summaries) // len(samples) if samples else 0
        by_label = {label: summaries[i * per_cluster] for i, label in enumerate(clusters)}
        for row in inputs:
            summary = by_label.get(row["cluster_label"])
            if summary is None:
                row["summary_label"] = json.dumps(self.default_label)
            else:
                labels = summary.get("labels")
                row["summary_label"] = None if labels is None else json.dumps(labels)
                extra = summary.get(STILLROOM_METADATA_KEY) or {}
                if extra:
                    row[STILLROOM_METADATA_KEY] = add_metadata(
                        row.get(STILLROOM_METADATA_KEY), extra
                    )
            row["model_name"] = self.llm.model_name
        if self.savefig:
            self._save_figure(inputs)
        yield inputs

    def _sample_texts(
        self, rows: list[dict[str, Any]], indices: list[int], label: int
    ) -> dict[str, Any]:
        """The request row for one cluster: some of its texts, numbered, in input order (with
        the cluster's label and first projection, so the row has every input column)."""
        count = min(self.samples_per_cluster, len(indices))
        chosen = sorted(random.Random(label).sample(indices, count))
        text = "\n\n".join(
            f"Example {number}:\n{rows[i]['text']}" for number, i in enumerate(chosen, start=1)
        )
        first = rows[indices[0]]
        return {"text": text, "projection": first.get("projection"), "cluster_label": label}

    def _save_figure(self, rows: list[dict[str, Any]]) -> None:
        """A scatter plot of the rows' 2-D projections, coloured and named by cluster."""
        if self.artifacts_directory is None:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(12, 8), dpi=150)
        labels = sorted({row["cluster_label"] for row in rows})
        for label in labels:
            points = [row["projection"][:2] for row in rows if row["cluster_label"] == label]
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            colour = "black" if label == NOISE else None
            axes.scatter(xs, ys, s=4, alpha=0.8, color=colour)
            if label != NOISE:
                name = next(r["summary_label"] for r in rows if r["cluster_label"] == label)
                axes.annotate(
                    str(name),
                    (sum(xs) / len(xs), sum(ys) / len(ys)),
                    ha="center",
                    fontsize=6,
                    bbox={"facecolor": "white", "alpha": 0.9, "linewidth": 0},
                )
        axes.set_axis_off()

        def write(folder: Path) -> None:
            figure.savefig(folder / "figure_clustering.png")

        self.save_artifact(
            name="Text clusters",
            write_function=write,
            metadata={"type": "image", "library": "matplotlib"},
        )
        plt.close(figure)
