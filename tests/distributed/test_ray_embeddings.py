"""A step's embedding model on Ray goes through its replicas' request journals, as a task's
LLM does: the same vectors as the local engine, and a rerun sends no `/v1/embeddings`
request (counted by the mock server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stillroom.models.embeddings import OpenAIEmbeddings
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.embeddings.embedding_generation import EmbeddingGeneration
from stillroom.testing import MockLLMServer

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]

TEXTS = [f"text {i % 9}" for i in range(24)]  # duplicates, some across the two replicas


def _pipeline(cache_dir: Path, url: str) -> Pipeline:
    embeddings = OpenAIEmbeddings(
        model="embed-small", base_url=url, api_key_env=None, dimensions=4, batch_size=2
    )
    with Pipeline(name="ray-embeddings", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(data=[{"text": text} for text in TEXTS], batch_size=4)
        load >> EmbeddingGeneration(
            name="embed",
            embeddings=embeddings,
            input_batch_size=4,
            resources={"replicas": 2},
        )
    return pipeline


def _rows(distiset: Any) -> list[dict[str, Any]]:
    return distiset["default"]["train"].to_list()  # type: ignore[no-any-return]


def test_a_rerun_on_ray_sends_no_embedding_request(ray_address: str, tmp_path: Path) -> None:
    with MockLLMServer() as server:
        local = _rows(_pipeline(tmp_path / "local", server.base_url).run(progress=False))
        sent = server.stats().requests_by_endpoint["embeddings"]
        assert sent == 12  # 6 batches of 4 texts, requests of 2 texts
        on_ray = _pipeline(tmp_path / "ray", server.base_url).ray()
        first = on_ray.run(progress=False)
        assert server.stats().requests_by_endpoint["embeddings"] == 2 * sent
        assert first.summary is not None and first.summary.requests_sent == 24  # one per text
        again = _pipeline(tmp_path / "ray", server.base_url).ray().run(progress=False)
        assert server.stats().requests_by_endpoint["embeddings"] == 2 * sent  # nothing sent
        assert again.summary is not None and again.summary.requests_sent == 0
    assert _rows(first) == _rows(again) == local
    assert all(len(row["embedding"]) == 4 for row in local)
