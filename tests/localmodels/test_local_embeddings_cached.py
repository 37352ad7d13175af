"""The in-process embedding models behind the run's request cache: a rerun of the same
pipeline takes every vector from the cache and never calls the model's `encode` again, for
the tiny sentence-transformers model built by the test and for the embedded GGUF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stillroom.models.embeddings import (
    Embeddings,
    LlamaCppEmbeddings,
    SentenceTransformerEmbeddings,
)
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.embeddings.embedding_generation import EmbeddingGeneration

TEXTS = ["a cat on the mat", "hello world", "a cat on the mat", "the owl at night", "rain"]


def _count_encoded(monkeypatch: pytest.MonkeyPatch, kind: type[Embeddings]) -> list[int]:
    """Patch `kind.encode` to note how many texts each call is given."""
    calls: list[int] = []
    encode: Callable[..., list[list[float]]] = kind.encode

    def counting(self: Embeddings, inputs: list[str]) -> list[list[float]]:
        calls.append(len(inputs))
        return encode(self, inputs)

    monkeypatch.setattr(kind, "encode", counting)
    return calls


def _run(embeddings: Embeddings, cache: Path) -> list[list[float]]:
    with Pipeline(name="local-embeddings-cache", cache_dir=str(cache)) as pipeline:
        load = LoadDataFromDicts(data=[{"text": t} for t in TEXTS], batch_size=2)
        load >> EmbeddingGeneration(name="embed", embeddings=embeddings, input_batch_size=2)
    rows = pipeline.run(progress=False)["default"]["train"].to_list()
    return [row["embedding"] for row in rows]


def _check_rerun_is_cached(
    embeddings: Embeddings,
    kind: type[Embeddings],
    dimension: int,
    tmp_path: Path,
    mp: pytest.MonkeyPatch,
) -> None:
    calls = _count_encoded(mp, kind)
    first = _run(embeddings, tmp_path)
    # each text once; the repeated one may be a cache hit if its first batch came back first
    assert len(set(TEXTS)) <= sum(calls) <= len(TEXTS)
    assert [len(v) for v in first] == [dimension] * len(TEXTS)
    assert first[0] == first[2]

    calls.clear()
    again = _run(embeddings, tmp_path)
    assert calls == []  # every vector came from the cache
    assert again == first


@pytest.mark.sentence_transformers
@pytest.mark.timeout(300)
def test_the_tiny_sentence_model_is_not_called_again_on_a_rerun(
    sentence_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = SentenceTransformerEmbeddings(model=str(sentence_model), device="cpu")
    _check_rerun_is_cached(embeddings, SentenceTransformerEmbeddings, 32, tmp_path, monkeypatch)


@pytest.mark.local_model
@pytest.mark.timeout(180)
def test_the_embedded_gguf_is_not_called_again_on_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("llama_cpp", reason="needs the [local] extra (llama-cpp-python)")
    embeddings = LlamaCppEmbeddings(normalize_embeddings=True, extra_kwargs={"n_threads": 1})
    _check_rerun_is_cached(embeddings, LlamaCppEmbeddings, 576, tmp_path, monkeypatch)
