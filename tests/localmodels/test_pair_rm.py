"""PairRM on transformers, with a tiny randomly initialised network built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stillroom.steps.tasks import PairRM

pytestmark = [pytest.mark.transformers, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def tiny_pair_rm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    import torch
    from tiny_models import build_tokenizer
    from transformers import DebertaV2Config

    from stillroom.steps.tasks.pair_rm_network import (
        CANDIDATE1_PREFIX,
        CANDIDATE2_PREFIX,
        SOURCE_PREFIX,
        PairRMNetwork,
    )

    folder = tmp_path_factory.mktemp("pair-rm")
    tokenizer: Any = build_tokenizer(folder)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [SOURCE_PREFIX, CANDIDATE1_PREFIX, CANDIDATE2_PREFIX]}
    )
    tokenizer.save_pretrained(folder)
    config = DebertaV2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        n_tasks=1,
        drop_out=0.1,
        source_prefix_id=tokenizer.convert_tokens_to_ids(SOURCE_PREFIX),
        cand1_prefix_id=tokenizer.convert_tokens_to_ids(CANDIDATE1_PREFIX),
        cand2_prefix_id=tokenizer.convert_tokens_to_ids(CANDIDATE2_PREFIX),
    )
    torch.manual_seed(0)
    PairRMNetwork(config).save_pretrained(folder)
    return folder


def _ranker(folder: Path, **kwargs: Any) -> PairRM:
    step = PairRM(model=str(folder), input_batch_size=3, **kwargs)
    step.load()
    return step


def test_ranks_follow_the_pairwise_logits(tiny_pair_rm: Path) -> None:
    step = _ranker(tiny_pair_rm)
    candidates = ["the cat sat", "a dog ran far away", "hello", "yes"]
    (row,) = next(step.process([{"input": "tell me a story", "candidates": candidates}]))
    # the same margins, computed here from the network's logits pair by pair
    margins = [
        sum(
            step.compare("tell me a story", [(a, b)])[0]
            - step.compare("tell me a story", [(b, a)])[0]
            for b in candidates
            if b != a
        )
        for a in candidates
    ]
    best_first = sorted(range(len(candidates)), key=lambda i: -margins[i])
    assert sorted(row["ranks"]) == [1, 2, 3, 4]
    assert [row["ranks"][i] for i in best_first] == [1, 2, 3, 4]
    assert row["ranked_candidates"] == [candidates[i] for i in best_first]
    assert row["model_name"] == str(tiny_pair_rm)
    assert len(set(margins)) == len(margins)  # the random network does tell them apart


def test_order_of_candidates_and_instructions(tiny_pair_rm: Path) -> None:
    step = _ranker(tiny_pair_rm)
    candidates = ["one answer", "another answer here", "third"]
    (forward,) = next(step.process([{"input": "q", "candidates": candidates}]))
    (backward,) = next(step.process([{"input": "q", "candidates": candidates[::-1]}]))
    assert backward["ranked_candidates"] == forward["ranked_candidates"]
    instructed = _ranker(tiny_pair_rm, instructions="Rank by helpfulness.")
    assert instructed.scores("Rank by helpfulness.\nq", candidates) == pytest.approx(
        step.scores("Rank by helpfulness.\nq", candidates)
    )


def test_rows_without_candidates_keep_the_error(tiny_pair_rm: Path) -> None:
    step = _ranker(tiny_pair_rm)
    empty, single = next(
        step.process([{"input": "q", "candidates": []}, {"input": "q", "candidates": ["only"]}])
    )
    assert empty["ranks"] is None and empty["ranked_candidates"] is None
    assert "nothing to rank" in empty["stillroom_metadata"]["error_pair_rm_0"]
    assert single["ranks"] == [1] and single["ranked_candidates"] == ["only"]
