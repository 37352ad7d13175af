"""Session-wide tiny models for the in-process backends (built once: torch is slow to import,
so nothing here imports it before a test asks for a model)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def random_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tiny_models import build_causal_lm

    return build_causal_lm(tmp_path_factory.mktemp("random-lm"), scripted=False)


@pytest.fixture(scope="session")
def scripted_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tiny_models import build_causal_lm

    return build_causal_lm(tmp_path_factory.mktemp("scripted-lm"), scripted=True)


@pytest.fixture(scope="session")
def sentence_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sentence_transformers")
    from tiny_models import build_sentence_transformer

    return build_sentence_transformer(tmp_path_factory.mktemp("sentence-model"))


@pytest.fixture(scope="session")
def reward_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tiny_models import build_reward_model

    return build_reward_model(tmp_path_factory.mktemp("reward-model"))


@pytest.fixture(scope="session")
def tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tiny_models import build_tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(folder)
    return folder
