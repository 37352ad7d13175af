"""The improving-text-embeddings family: JSON examples per task, brainstormed tasks, triplets."""

from __future__ import annotations

import json

import pytest
from task_helpers import meta, run, run_in_pipeline

from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps.tasks import (
    BitextRetrievalGenerator,
    EmbeddingTaskGenerator,
    GenerateLongTextMatchingData,
    GenerateShortTextMatchingData,
    GenerateTextClassificationData,
    GenerateTextRetrievalData,
    MonolingualTripletGenerator,
)

RETRIEVAL = {"user_query": "q", "positive_document": "p", "hard_negative_document": "n"}


def test_text_retrieval_in_a_pipeline_keeps_a_malformed_row() -> None:
    replies = [f"```json\n{json.dumps(RETRIEVAL)}\n```", "I cannot do that."]
    rows = run_in_pipeline(
        lambda: GenerateTextRetrievalData(llm=AsyncMockLLM(responses=replies), difficulty="PhD"),
        [{"task": "Find recipes for a dish."}, {"task": "Find case law."}],
    )
    by_task = {row["task"]: row for row in rows}
    good, bad = by_task["Find recipes for a dish."], by_task["Find case law."]
    assert {k: good[k] for k in RETRIEVAL} == RETRIEVAL
    assert good["model_name"] == "mock"
    assert all(bad[k] is None for k in RETRIEVAL)
    error = bad["stillroom_metadata"]["error_generate_text_retrieval_data_0"]
    assert "no JSON (or Python literal) value" in error


def test_unset_parameters_are_drawn_with_the_seed_and_set_ones_are_kept() -> None:
    def prompts(seed: int) -> list[str]:
        task = GenerateTextRetrievalData(
            llm=MockLLM(responses=json.dumps(RETRIEVAL)), seed=seed, num_words=300, language="Dutch"
        )
        run(task, [{"task": "t"}] * 6)
        return [call.prompt for call in task.llm.calls]

    first = prompts(1)
    assert first == prompts(1)
    assert first != prompts(2)
    assert all("about 300 words" in p and "in Dutch" in p and "Task: t" in p for p in first)


@pytest.mark.parametrize(
    ("cls", "keys"),
    [
        (GenerateShortTextMatchingData, ["input", "positive_document"]),
        (GenerateLongTextMatchingData, ["input", "positive_document"]),
        (GenerateTextClassificationData, ["input_text", "label", "misleading_label"]),
    ],
)
def test_the_other_example_tasks_read_their_keys(cls: type, keys: list[str]) -> None:
    reply = repr({key: key.upper() for key in keys[1:]})  # a Python dict; the first key missing
    task = cls(llm=MockLLM(responses=[reply, '{"unrelated": 1}']))
    good, bad = run(task, [{"task": "t"}, {"task": "u"}])
    assert task.outputs == [*keys, "model_name"]
    assert good[keys[0]] is None and all(good[k] == k.upper() for k in keys[1:])
    assert all(bad[k] is None for k in keys)
    assert "none of the keys" in meta(bad, task, "error")


def test_embedding_task_generator_flattens_tasks_into_rows() -> None:
    replies = ['["Find a recipe.", "Find a law."]', "not a list"]
    rows = run_in_pipeline(
        lambda: EmbeddingTaskGenerator(
            llm=MockLLM(responses=replies),
            category="text-classification",
            flatten_tasks=True,
            num_generations=2,
        )
    )
    assert [row["task"] for row in rows] == ["Find a recipe.", "Find a law.", None]
    error = rows[2]["stillroom_metadata"]["error_embedding_task_generator_0"]
    assert "JSON list" in error or "no JSON" in error


def test_embedding_task_generator_keeps_lists_by_default() -> None:
    # a Python literal (single quotes) is read too, without running anything
    task = EmbeddingTaskGenerator(llm=MockLLM(responses="['a', 'b']"), category="text-retrieval")
    task.load()
    rows, last = next(task.process())
    assert last and rows[0]["tasks"] == ["a", "b"] and task.outputs == ["tasks", "model_name"]
    assert "text retrieval tasks" in task.llm.calls[0].prompt


def test_triplet_generators_yield_num_generations_rows() -> None:
    triplet = json.dumps({"S1": "a", "S2": "b", "S3": "c"})
    mono = MonolingualTripletGenerator(
        llm=MockLLM(responses=[[triplet, "{oops"]]), num_generations=2, unit="phrase"
    )
    mono.load()
    rows, last = next(mono.process())
    assert last and [row["S1"] for row in rows] == ["a", None]
    assert meta(rows[1], mono, "error")
    assert "each a phrase in English" in mono.llm.calls[0].prompt
    bitext = BitextRetrievalGenerator(
        llm=MockLLM(responses=triplet), source_language="German", target_language="Spanish"
    )
    bitext.load()
    (row,), _ = next(bitext.process())
    assert (row["S1"], row["S3"]) == ("a", "c")
    prompt = bitext.llm.calls[0].prompt
    assert "in German" in prompt and "translation of S1 into Spanish" in prompt
