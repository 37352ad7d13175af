"""UMAP, DBSCAN and TextClustering on small data built here (scikit-learn, umap-learn and
matplotlib from the `[text-clustering]` extra)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import MissingExtraError, StillroomUserError
from stillroom.models import MockLLM
from stillroom.steps.clustering.dbscan import DBSCAN
from stillroom.steps.clustering.text_clustering import TextClustering
from stillroom.steps.clustering.umap import UMAP

pytest.importorskip("sklearn", reason="needs the [scikit-learn] extra")


def _blobs(count: int, centres: list[tuple[float, float]]) -> list[list[float]]:
    draw = random.Random(7)
    return [
        [cx + draw.uniform(-0.05, 0.05), cy + draw.uniform(-0.05, 0.05)]
        for cx, cy in centres
        for _ in range(count)
    ]


def test_dbscan_labels_dense_groups_and_noise_and_keeps_the_model(tmp_path: Path) -> None:
    points = [*_blobs(5, [(0.0, 0.0), (3.0, 3.0)]), [10.0, -10.0]]
    dbscan = DBSCAN(eps=0.3, min_samples=3, n_jobs=1)
    dbscan.set_pipeline_artifacts_path(tmp_path)
    dbscan.load()
    rows = next(dbscan.process([{"projection": p} for p in points]))
    assert [r["cluster_label"] for r in rows] == [0] * 5 + [1] * 5 + [-1]
    assert all(type(r["cluster_label"]) is int for r in rows)
    folder = tmp_path / dbscan.name / "DBSCAN_model"
    assert (folder / "DBSCAN.joblib").stat().st_size > 0
    assert json.loads((folder / "metadata.json").read_text())["min_samples"] == 3


def test_dbscan_rejects_a_row_without_projection() -> None:
    dbscan = DBSCAN(min_samples=1)
    dbscan.load()
    with pytest.raises(StillroomUserError, match="row 1 has projection=None"):
        next(dbscan.process([{"projection": [0.0]}, {"projection": None}]))


def test_dbscan_without_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "sklearn.cluster", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[scikit-learn\]"):
        DBSCAN().load()


@pytest.mark.timeout(240)  # umap-learn compiles its numba kernels on first use
def test_umap_keeps_separate_groups_apart_in_two_dimensions() -> None:
    pytest.importorskip("umap", reason="needs the [umap] extra")
    draw = random.Random(1)
    groups = [[draw.gauss(10.0 * g, 0.1) for _ in range(8)] for g in range(2) for _ in range(15)]
    umap = UMAP(n_components=2, random_state=0, n_jobs=1)
    umap.load()
    rows = next(umap.process([{"embedding": v} for v in groups]))
    projections = [r["projection"] for r in rows]
    assert all(len(p) == 2 and all(isinstance(x, float) for x in p) for p in projections)

    def centre(points: list[list[float]]) -> list[float]:
        return [sum(p[i] for p in points) / len(points) for i in range(2)]

    def spread(points: list[list[float]]) -> float:
        c = centre(points)
        return max(abs(p[0] - c[0]) + abs(p[1] - c[1]) for p in points)

    first, second = projections[:15], projections[15:]
    gap = sum(abs(a - b) for a, b in zip(centre(first), centre(second), strict=True))
    assert gap > spread(first) and gap > spread(second)


def _clustered_rows() -> list[dict[str, object]]:
    texts = {0: ["pasta recipe", "bake bread", "soup stock"], 1: ["goal kick", "tennis serve"]}
    rows: list[dict[str, object]] = []
    for label, items in texts.items():
        rows += [
            {"text": t, "projection": [float(label), 0.0], "cluster_label": label} for t in items
        ]
    rows.append({"text": "random noise", "projection": [9.0, 9.0], "cluster_label": -1})
    return rows


def test_text_clustering_asks_once_per_cluster_and_labels_every_row(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="needs the [text-clustering] extra")

    def reply(messages: list[dict[str, str]]) -> str:
        prompt = messages[-1]["content"]
        cooking = any(word in prompt for word in ("pasta", "bread", "soup"))
        return '{"labels": "Cooking"}' if cooking else '{"labels": "Sport"}'

    task = TextClustering(llm=MockLLM(responses=reply), samples_per_cluster=2)
    task.set_pipeline_artifacts_path(tmp_path)
    task.load()
    rows = next(task.process(_clustered_rows()))
    assert len(task.llm.calls) == 2
    prompts = [call.messages[-1]["content"] for call in task.llm.calls]
    assert all(
        "Example 1:\n" in p and "Example 2:\n" in p and "Example 3" not in p for p in prompts
    )
    assert [r["summary_label"] for r in rows] == [
        '"Cooking"',
        '"Cooking"',
        '"Cooking"',
        '"Sport"',
        '"Sport"',
        '"Unclassified"',
    ]
    assert {r["model_name"] for r in rows} == {task.llm.model_name}
    figure = tmp_path / task.name / "Text clusters" / "figure_clustering.png"
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_text_clustering_malformed_reply_keeps_the_cluster_rows_with_the_error() -> None:
    def reply(messages: list[dict[str, str]]) -> str:
        return "no json here" if "goal kick" in messages[-1]["content"] else '{"labels": "Food"}'

    task = TextClustering(llm=MockLLM(responses=reply), savefig=False, default_label="None")
    task.load()
    rows = next(task.process(_clustered_rows()))
    assert [r["summary_label"] for r in rows] == ['"Food"'] * 3 + [None, None, '"None"']
    errors = [r.get(STILLROOM_METADATA_KEY, {}).get(f"error_{task.name}") for r in rows]
    assert errors[:3] == [None] * 3 and errors[5] is None
    assert "format_output failed" in errors[3] and errors[3] == errors[4]


def test_text_clustering_rejects_rows_without_a_cluster() -> None:
    task = TextClustering(llm=MockLLM(responses="{}"), savefig=False)
    task.load()
    with pytest.raises(StillroomUserError, match="row 0 has cluster_label=None"):
        next(task.process([{"text": "a", "projection": [0.0, 0.0], "cluster_label": None}]))


@pytest.mark.timeout(120)
def test_in_a_pipeline_dbscan_then_text_clustering_keep_their_artifacts() -> None:
    pytest.importorskip("matplotlib", reason="needs the [text-clustering] extra")
    from stillroom.pipeline import Pipeline
    from stillroom.steps import LoadDataFromDicts

    points = _blobs(4, [(0.0, 0.0), (3.0, 3.0)])
    data = [{"text": f"text {i}", "projection": p} for i, p in enumerate(points)]
    with Pipeline(name="clusters") as pipeline:
        load = LoadDataFromDicts(data=data, batch_size=3)
        dbscan = DBSCAN(eps=0.3, min_samples=2, n_jobs=1)
        name = TextClustering(llm=MockLLM(responses='{"labels": "Topic"}'))
        load >> dbscan >> name
    distiset = pipeline.run(use_cache=False, progress=False)
    rows = distiset["default"]["train"].to_list()
    assert sorted(r["cluster_label"] for r in rows) == [0] * 4 + [1] * 4
    assert {r["summary_label"] for r in rows} == {'"Topic"'}
    artifacts = distiset.artifacts_path
    assert artifacts is not None
    assert (artifacts / dbscan.name / "DBSCAN_model" / "DBSCAN.joblib").is_file()
    assert (artifacts / name.name / "Text clusters" / "figure_clustering.png").is_file()
