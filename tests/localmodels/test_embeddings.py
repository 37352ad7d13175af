"""Embedding models: the tiny sentence-transformers model, the embedded GGUF, and the
OpenAI-compatible client against the mock server (retries, key, malformed replies)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stillroom.errors import LLMRequestError, StillroomError
from stillroom.models.embeddings import (
    Embeddings,
    LlamaCppEmbeddings,
    OpenAIEmbeddings,
    SentenceTransformerEmbeddings,
)
from stillroom.testing import MockLLMServer

TEXTS = ["a cat on the mat", "hello world", "a cat on the mat"]


@pytest.mark.sentence_transformers
@pytest.mark.timeout(300)
def test_sentence_transformer_vectors_have_the_models_dimension(sentence_model: Path) -> None:
    embeddings = SentenceTransformerEmbeddings(model=str(sentence_model), device="cpu")
    embeddings.load()
    try:
        vectors = embeddings.encode(TEXTS)
    finally:
        embeddings.unload()
    assert [len(v) for v in vectors] == [32, 32, 32]
    assert all(math.isclose(math.hypot(*v), 1.0, rel_tol=1e-4) for v in vectors)  # normalized
    assert vectors[0] == pytest.approx(vectors[2]) and vectors[0] != pytest.approx(vectors[1])


@pytest.mark.local_model
@pytest.mark.timeout(120)
def test_llamacpp_embeddings_on_the_embedded_gguf() -> None:
    pytest.importorskip("llama_cpp", reason="needs the [local] extra (llama-cpp-python)")
    embeddings = LlamaCppEmbeddings(normalize_embeddings=True, extra_kwargs={"n_threads": 1})
    embeddings.load()
    try:
        vectors = embeddings.encode(TEXTS)
    finally:
        embeddings.unload()
    assert [len(v) for v in vectors] == [576, 576, 576]  # SmolLM2-135M's hidden size
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-5)
    assert embeddings.model_name == "SmolLM2-135M-Instruct.Q4_1"


def test_llamacpp_embeddings_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="needs the [local] extra (llama-cpp-python)")
    with pytest.raises(StillroomError, match="no GGUF file"):
        LlamaCppEmbeddings(model="missing.gguf", model_path=str(tmp_path)).load()


@pytest.mark.timeout(60)
def test_openai_embeddings_batches_and_retries_through_the_send_chain() -> None:
    with MockLLMServer() as server:
        server.configure(fail_first=1, fail_with="500")
        embeddings = OpenAIEmbeddings(
            model="embed-small",
            base_url=server.base_url,
            api_key_env=None,
            batch_size=2,
            dimensions=8,
            retry_backoff=0.0,
        )
        embeddings.load()
        try:
            vectors = embeddings.encode(["a cat", "a dog", "a cow"])
            again = embeddings.encode(["a cat"])
        finally:
            embeddings.unload()
        stats = server.stats()
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert again == vectors[:1] and vectors[0] != vectors[1]
    # 2 batches, each failing once first (faults are keyed by a request's first text), then one
    assert stats.requests_by_endpoint["embeddings"] == 5


@pytest.mark.timeout(60)
def test_openai_embeddings_401_names_the_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_EMBED_KEY", "sk-wrong-key-123")
    with MockLLMServer() as server:
        server.configure(api_key="sk-right")
        embeddings = OpenAIEmbeddings(
            model="e", base_url=server.base_url, api_key_env="MY_EMBED_KEY"
        )
        embeddings.load()
        try:
            with pytest.raises(LLMRequestError) as caught:
                embeddings.encode(["x"])
        finally:
            embeddings.unload()
    assert "MY_EMBED_KEY" in str(caught.value) and "sk-wrong-key-123" not in str(caught.value)


def test_reply_settings_leave_out_transport_fields_and_secrets() -> None:
    embeddings = OpenAIEmbeddings(model="e", base_url="http://127.0.0.1:9/v1", api_key="sk-x")
    settings = embeddings.reply_settings()
    assert settings["model"] == "e" and "dimensions" in settings
    assert not {"api_key", "batch_size", "timeout", "max_concurrent_requests"} & set(settings)
    assert isinstance(embeddings, Embeddings)


def test_encode_before_load_is_a_clear_error() -> None:
    with pytest.raises(StillroomError, match="load"):
        OpenAIEmbeddings(model="e", base_url="http://127.0.0.1:9/v1").encode(["x"])
