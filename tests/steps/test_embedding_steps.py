"""FaissNearestNeighbour, EmbeddingDedup and DeitaFiltering on vectors written here."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from stillroom.errors import MissingExtraError, StillroomUserError
from stillroom.steps.deita import DeitaFiltering
from stillroom.steps.embeddings.nearest_neighbour import FaissNearestNeighbour
from stillroom.steps.filtering.embedding import EmbeddingDedup

faiss = pytest.importorskip("faiss", reason="needs the [faiss-cpu] extra")

VECTORS = [[1.0, 0.0, 0.0], [0.99, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]


def _unit(vector: list[float]) -> list[float]:
    norm = math.hypot(*vector)
    return [x / norm for x in vector]


def test_nearest_neighbours_by_l2_never_include_the_row_itself(tmp_path: Path) -> None:
    nn = FaissNearestNeighbour(k=2, search_batch_size=2)
    nn.set_pipeline_artifacts_path(tmp_path)
    nn.load()
    rows = next(nn.process([{"embedding": v} for v in VECTORS]))
    for position, row in enumerate(rows):
        assert position not in row["nn_indices"] and len(row["nn_indices"]) == 2
        assert row["nn_scores"] == sorted(row["nn_scores"])  # distances, closest first
    assert set(rows[0]["nn_indices"]) == {1, 4} and rows[0]["nn_scores"][0] == 0.0
    assert rows[2]["nn_indices"][0] == 1
    assert rows[2]["nn_scores"][0] == pytest.approx(0.99**2 + 0.9**2, rel=1e-5)  # squared L2
    folder = tmp_path / nn.name / "faiss_index"
    assert faiss.read_index(str(folder / "index.faiss")).ntotal == 5
    assert json.loads((folder / "metadata.json").read_text()) == {
        "num_rows": 5,
        "embedding_dim": 3,
    }


def test_inner_product_scores_then_dedup_keeps_the_first_of_each_group() -> None:
    nn = FaissNearestNeighbour(k=1, metric_type=faiss.METRIC_INNER_PRODUCT)
    nn.load()
    rows = next(nn.process([{"embedding": _unit(v)} for v in VECTORS]))
    assert rows[2]["nn_scores"][0] == pytest.approx(0.1 / math.hypot(0.99, 0.1), rel=1e-5)
    dedup = EmbeddingDedup(threshold=0.95)
    dedup.load()
    kept = [r["keep_row_after_embedding_filtering"] for r in next(dedup.process(rows))]
    assert kept == [True, False, True, True, False]


def test_a_trained_index_and_a_bad_factory() -> None:
    vectors = [[float(i % 7), float(i % 5), float(i % 3), 1.0] for i in range(40)]
    nn = FaissNearestNeighbour(k=1, string_factory="IVF2,Flat", train_size=30)
    nn.load()
    rows = next(nn.process([{"embedding": v} for v in vectors]))
    assert all(len(r["nn_indices"]) == 1 for r in rows)
    bad = FaissNearestNeighbour(string_factory="NoSuchIndex")
    bad.load()
    with pytest.raises(StillroomUserError, match="cannot build string_factory='NoSuchIndex'"):
        next(bad.process([{"embedding": [1.0]}]))


def test_rows_with_missing_or_uneven_vectors_are_refused() -> None:
    nn = FaissNearestNeighbour()
    nn.load()
    with pytest.raises(StillroomUserError, match="row 1 has embedding=None"):
        next(nn.process([{"embedding": [1.0]}, {"embedding": None}]))
    with pytest.raises(StillroomUserError, match="row 1's embedding has 2 numbers"):
        next(nn.process([{"embedding": [1.0]}, {"embedding": [1.0, 2.0]}]))


def test_faiss_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[faiss-cpu\]"):
        FaissNearestNeighbour().load()


def test_dedup_chains_only_through_kept_rows_and_checks_its_columns() -> None:
    dedup = EmbeddingDedup(threshold=0.8)
    dedup.load()
    rows = [
        {"nn_indices": [1], "nn_scores": [0.9]},  # kept
        {"nn_indices": [2], "nn_scores": [0.9]},  # duplicate of 0
        {"nn_indices": [1], "nn_scores": [0.9]},  # close to 1 only, which was dropped: kept
    ]
    assert [r["keep_row_after_embedding_filtering"] for r in next(dedup.process(rows))] == [
        True,
        False,
        True,
    ]
    with pytest.raises(StillroomUserError, match="row 0 has nn_indices=\\[1\\] and nn_scores="):
        next(dedup.process([{"nn_indices": [1], "nn_scores": []}]))


def _deita_rows() -> list[dict[str, object]]:
    return [
        {"evol_instruction_score": 2.0, "evol_response_score": 3.0, "embedding": [1.0, 0.0]},
        {"evol_instruction_score": 4.0, "evol_response_score": 4.0, "embedding": [1.0, 0.01]},
        {"evol_instruction_score": None, "evol_response_score": 5.0, "embedding": [0.0, 1.0]},
        {"evol_instruction_score": None, "evol_response_score": None, "embedding": [-1.0, 0.0]},
    ]


def test_deita_ranks_by_score_and_skips_rows_too_close_to_another() -> None:
    deita = DeitaFiltering(data_budget=3, diversity_threshold=0.5)
    deita.load()
    rows = next(deita.process(_deita_rows()))
    assert [r["deita_score"] for r in rows] == [5.0, 0]
    assert rows[0]["deita_score_computed_with"] == ["evol_response_score"]
    assert rows[1]["deita_score_computed_with"] == []
    assert rows[0]["nearest_neighbor_distance"] == pytest.approx(1.0 - 0.01 / math.hypot(1, 0.01))


def test_deita_manhattan_distance_and_the_budget() -> None:
    deita = DeitaFiltering(
        data_budget=1,
        diversity_threshold=0.0,
        distance_metric="manhattan",
        normalize_embeddings=False,
    )
    deita.load()
    (row,) = next(deita.process(_deita_rows()))
    assert row["deita_score"] == 16.0
    assert row["nearest_neighbor_distance"] == pytest.approx(0.01)


def test_deita_needs_a_budget_before_it_runs() -> None:
    with pytest.raises(StillroomUserError, match="needs data_budget"):
        DeitaFiltering().load()
