"""GenerateEmbeddings: a row's vector is the last hidden state of an in-process LLM, on the
tiny Llama the tests build (checked against one-by-one forward passes of transformers' own
base model) and on the embedded GGUF; bad input and LLMs without hidden states are refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stillroom.errors import StillroomNotImplementedError, StillroomUserError
from stillroom.models.llms.huggingface import TransformersLLM
from stillroom.models.llms.llamacpp import LlamaCppLLM
from stillroom.models.llms.mock import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import GenerateEmbeddings

TEXTS = [
    "Hello world!",
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write a short story about a cat who sat on the mat."},
    ],
]


def _chat(text: object) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}] if isinstance(text, str) else text  # type: ignore[return-value]


@pytest.mark.transformers
@pytest.mark.timeout(300)
def test_vectors_are_the_last_tokens_state_of_the_base_model(random_lm: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    step = GenerateEmbeddings(llm=TransformersLLM(model=str(random_lm)))
    step.load()
    rows = next(step.process([{"text": text} for text in TEXTS]))  # one padded batch
    assert [len(row["embedding"]) for row in rows] == [32, 32]
    assert {row["model_name"] for row in rows} == {str(random_lm)}

    tokenizer = AutoTokenizer.from_pretrained(random_lm)
    base = AutoModel.from_pretrained(random_lm).eval()
    for row in rows:
        prompt = tokenizer.apply_chat_template(
            _chat(row["text"]), tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            expected = base(**ids).last_hidden_state[0, -1].tolist()
        assert row["embedding"] == pytest.approx(expected, abs=1e-4)
    assert rows[0]["embedding"] != pytest.approx(rows[1]["embedding"], abs=1e-3)


@pytest.mark.transformers
@pytest.mark.timeout(300)
def test_the_scripted_models_state_is_its_normalised_embedding(scripted_lm: Path) -> None:
    # Its layers add nothing, so the last state is the last token's one-hot embedding
    # through the final RMSNorm: sqrt(hidden size) on the first axis.
    llm = TransformersLLM(model=str(scripted_lm))
    llm.load()
    (states,) = llm.get_last_hidden_states([[{"role": "user", "content": "Who?"}]])
    prompt = llm.apply_chat_template([{"role": "user", "content": "Who?"}])
    assert states.shape == (len(llm._tokenizer(prompt, add_special_tokens=False)["input_ids"]), 32)
    assert states[-1].tolist() == pytest.approx([math.sqrt(32)] + [0.0] * 31, abs=1e-3)


@pytest.mark.transformers
@pytest.mark.timeout(300)
def test_a_pipeline_writes_the_embeddings(random_lm: Path, tmp_path: Path) -> None:
    with Pipeline(name="hidden-state-embeddings", cache_dir=tmp_path) as pipeline:
        data = LoadDataFromDicts(data=[{"text": "Hello world!"}, {"text": "A cat"}])
        embed = GenerateEmbeddings(llm=TransformersLLM(model=str(random_lm)))
        data >> embed
    distiset = pipeline.run(use_cache=False)
    rows = distiset["default"]["train"].to_list()
    assert [row["text"] for row in rows] == ["Hello world!", "A cat"]
    assert all(len(row["embedding"]) == 32 for row in rows)


@pytest.mark.local_model
@pytest.mark.timeout(120)
def test_llamacpp_gives_every_tokens_state_from_the_embedded_gguf() -> None:
    pytest.importorskip("llama_cpp", reason="needs the [local] extra (llama-cpp-python)")
    llm = LlamaCppLLM(extra_kwargs={"n_threads": 1})
    step = GenerateEmbeddings(llm=llm)
    step.load()
    try:
        chat = _chat(TEXTS[1])
        (states,) = llm.get_last_hidden_states([chat])
        assert states.shape == (len(llm._tokenize(llm.apply_chat_template(chat))), 576)
        rows = next(step.process([{"text": TEXTS[1]}, {"text": "Hello world!"}]))
        # the same conversation gives the same vector alone or in a batch
        assert rows[0]["embedding"] == pytest.approx(states[-1].tolist(), abs=1e-4)
        assert rows[0]["embedding"] != pytest.approx(rows[1]["embedding"], abs=1e-3)
        assert rows[1]["model_name"] == "SmolLM2-135M-Instruct.Q4_1"
        # a conversation longer than n_batch is evaluated in pieces, to the same states
        small = LlamaCppLLM(n_batch=8, extra_kwargs={"n_threads": 1})
        small.load()
        try:
            (pieces,) = small.get_last_hidden_states([chat])
        finally:
            small.unload()
        assert pieces.shape == states.shape
        assert pieces[-1].tolist() == pytest.approx(states[-1].tolist(), abs=1e-2)
        # generation still works on the model's own context
        (reply,) = llm.generate([chat], max_new_tokens=4)
        assert reply["generations"][0]
    finally:
        step.unload()


def test_a_row_without_text_is_refused_before_the_llm_runs() -> None:
    step = GenerateEmbeddings(name="embed", llm=MockLLM(responses=["unused"]))
    step.load()
    with pytest.raises(StillroomUserError, match=r"row 1: .*embed.*text=None"):
        next(step.process([{"text": "fine"}, {"text": None}]))


def test_an_llm_without_hidden_states_says_which_to_use() -> None:
    step = GenerateEmbeddings(llm=MockLLM(responses=["unused"]))
    step.load()
    with pytest.raises(StillroomNotImplementedError, match="TransformersLLM, LlamaCppLLM"):
        next(step.process([{"text": "Hello"}]))
