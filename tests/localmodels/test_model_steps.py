"""Steps that run a local model: RewardModelScore, EmbeddingGeneration and, with a tokenizer,
TruncateTextColumn, on tiny models and tokenizers built by the tests (nothing downloaded)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stillroom.errors import MissingExtraError, StillroomTypeError, StillroomUserError
from stillroom.models.embeddings import SentenceTransformerEmbeddings
from stillroom.steps.embeddings.embedding_generation import EmbeddingGeneration
from stillroom.steps.embeddings.nearest_neighbour import FaissNearestNeighbour
from stillroom.steps.filtering.embedding import EmbeddingDedup
from stillroom.steps.reward_model import RewardModelScore
from stillroom.steps.truncate import TruncateTextColumn

CHAT = [
    {"instruction": "What is the capital of France?", "response": "Paris."},
    {"instruction": "Hello", "response": "Write a short story about a cat who sat on the mat."},
]


@pytest.mark.transformers
def test_reward_scores_match_one_by_one_forward_passes(reward_model: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    step = RewardModelScore(model=str(reward_model))
    step.load()
    rows = next(step.process([dict(row) for row in CHAT]))
    assert all(isinstance(row["score"], float) for row in rows)
    assert rows[0]["score"] != rows[1]["score"]
    tokenizer = AutoTokenizer.from_pretrained(reward_model)
    model = AutoModelForSequenceClassification.from_pretrained(reward_model).eval()
    for row in rows:
        messages = [
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": row["response"]},
        ]
        ids = tokenizer.apply_chat_template(messages, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            alone = model(**ids).logits[0, 0].item()
        assert row["score"] == pytest.approx(alone, abs=1e-4)  # padding changed nothing


@pytest.mark.transformers
def test_reward_model_takes_a_conversation_and_refuses_a_row_with_neither(
    reward_model: Path,
) -> None:
    step = RewardModelScore(model=str(reward_model))
    step.load()
    pair = next(step.process([dict(CHAT[0])]))[0]["score"]
    conversation = [
        {"role": "user", "content": CHAT[0]["instruction"]},
        {"role": "assistant", "content": CHAT[0]["response"]},
    ]
    assert next(step.process([{"conversation": conversation}]))[0]["score"] == pytest.approx(pair)
    with pytest.raises(StillroomUserError, match="row 1 has neither an instruction"):
        next(step.process([dict(CHAT[0]), {"instruction": "only a prompt"}]))


def test_reward_model_without_transformers_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[transformers\]"):
        RewardModelScore(model="unused").load()


@pytest.mark.sentence_transformers
def test_embedding_generation_then_faiss_then_dedup(sentence_model: Path) -> None:
    pytest.importorskip("faiss", reason="needs the [faiss-cpu] extra")
    import faiss

    texts = ["Hello world!", "a cat sat", "Hello world!", "Paris is in France"]
    embed = EmbeddingGeneration(
        embeddings=SentenceTransformerEmbeddings(model=str(sentence_model), device="cpu")
    )
    embed.load()
    try:
        rows = next(embed.process([{"text": t} for t in texts]))
    finally:
        embed.unload()
    assert [len(r["embedding"]) for r in rows] == [32] * 4
    assert {r["model_name"] for r in rows} == {str(sentence_model)}
    assert rows[0]["embedding"] == pytest.approx(rows[2]["embedding"])
    nn = FaissNearestNeighbour(k=1, metric_type=faiss.METRIC_INNER_PRODUCT)
    nn.load()
    rows = next(nn.process(rows))
    assert rows[2]["nn_indices"] == [0] and rows[2]["nn_scores"][0] == pytest.approx(1.0, abs=1e-4)
    dedup = EmbeddingDedup(threshold=0.999)
    dedup.load()
    assert [r["keep_row_after_embedding_filtering"] for r in next(dedup.process(rows))] == [
        True,
        True,
        False,
        True,
    ]


def test_embedding_generation_refuses_a_row_without_text() -> None:
    class Counting(SentenceTransformerEmbeddings):
        def load(self) -> None:  # no model: the check comes before any encoding
            pass

        def encode(self, inputs: list[str]) -> list[list[float]]:
            raise AssertionError("encode must not be called")

    step = EmbeddingGeneration(embeddings=Counting(model="unused"))
    step.load()
    with pytest.raises(StillroomTypeError, match="row 1 has text=None"):
        next(step.process([{"text": "ok"}, {"text": None}]))


@pytest.mark.transformers
def test_truncate_by_tokens_keeps_the_start_of_the_original_text(tokenizer_folder: Path) -> None:
    from tokenizers import Tokenizer

    text = "Write a short story about a cat who sat on the mat."
    tokenizer = Tokenizer.from_file(str(tokenizer_folder / "tokenizer.json"))
    tokens = tokenizer.encode(text, add_special_tokens=False)
    assert len(tokens.ids) > 4
    for source in (tokenizer_folder, tokenizer_folder / "tokenizer.json"):
        step = TruncateTextColumn(column="prompt", max_length=4, tokenizer=str(source))
        step.load()
        (row,) = next(step.process([{"prompt": text}]))
        assert row["prompt"] == text[: tokens.offsets[3][1]]
        assert tokenizer.encode(row["prompt"], add_special_tokens=False).ids == tokens.ids[:4]
    step = TruncateTextColumn(column="prompt", max_length=500, tokenizer=str(tokenizer_folder))
    step.load()
    assert next(step.process([{"prompt": text}, {"prompt": None}])) == [
        {"prompt": text},
        {"prompt": None},
    ]


def test_truncate_by_characters_and_its_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = TruncateTextColumn(max_length=10)
    step.load()
    assert next(step.process([{"text": "0123456789abc"}])) == [{"text": "0123456789"}]
    with pytest.raises(StillroomTypeError, match="row 0 has text=3"):
        next(step.process([{"text": 3}]))
    (tmp_path / "tokenizer.json").write_text("not json")
    with pytest.raises(StillroomUserError, match="cannot load tokenizer="):
        TruncateTextColumn(tokenizer=str(tmp_path)).load()
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[tokenizers\]"):
        TruncateTextColumn(tokenizer=str(tmp_path)).load()
