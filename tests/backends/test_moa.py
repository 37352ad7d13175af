"""MixtureOfAgentsLLM on mock LLMs: what each proposer and the aggregator receive."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from stillroom.errors import LLMRequestError
from stillroom.models.llms import AsyncMockLLM, MixtureOfAgentsLLM, MockLLM
from stillroom.models.llms.moa import MOA_SYSTEM_PROMPT
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(30)

USER = [{"role": "user", "content": "Why is the sky blue?"}]


def moa(rounds: int = 1, aggregator=None) -> MixtureOfAgentsLLM:
    return MixtureOfAgentsLLM(
        aggregator_llm=aggregator or AsyncMockLLM(model="agg", responses="final"),
        proposers_llms=[
            AsyncMockLLM(model="p1", responses=lambda m: f"p1 saw {len(m)} messages"),
            AsyncMockLLM(model="p2", responses="p2 says scattering"),
        ],
        rounds=rounds,
    )


def test_model_name_is_the_aggregators_then_the_proposers():
    assert moa().model_name == "moa-agg-p1-p2"


def test_proposers_answer_then_the_aggregator_sees_their_replies():
    llm = moa()
    llm.load()
    try:
        (output,) = llm.generate([USER], num_generations=2)
    finally:
        llm.unload()
    p1, p2 = llm.proposers_llms
    assert [call.messages for call in p1.calls] == [USER]  # round 1: no references yet
    assert p1.calls[0].num_generations == 1 and p2.calls[0].messages == USER
    (call,) = llm.aggregator_llm.calls
    assert call.num_generations == 2
    assert call.messages == [
        {
            "role": "system",
            "content": f"{MOA_SYSTEM_PROMPT}\n1. p1 saw 1 messages\n2. p2 says scattering",
        },
        *USER,
    ]
    assert output["generations"] == ["final", "final"]
    assert USER == [{"role": "user", "content": "Why is the sky blue?"}]  # not changed


def test_later_rounds_see_the_previous_round_and_keep_the_system_prompt():
    llm = moa(rounds=2)
    llm.load()
    system = [{"role": "system", "content": "Be brief."}, *USER]
    llm.generate([system])
    p1, _ = llm.proposers_llms
    first, second = p1.calls
    assert first.messages == system
    assert second.messages[0]["content"].startswith(MOA_SYSTEM_PROMPT)
    assert second.messages[0]["content"].endswith("\n\nBe brief.")
    assert "2. p2 says scattering" in second.messages[0]["content"]
    llm.unload()


def test_a_sync_aggregator_and_structured_output_reach_it():
    class Answer(BaseModel):
        text: str

    llm = moa(aggregator=MockLLM(model="sync-agg", responses='{"text": "ok"}'))
    llm.load()
    (output,) = llm.generate([(USER, {"format": "json", "schema": Answer})])
    (call,) = llm.aggregator_llm.calls
    assert call.structured_output == {"format": "json", "schema": Answer}
    assert all(c.structured_output is None for p in llm.proposers_llms for c in p.calls)
    assert output["generations"] == ['{"text": "ok"}']
    llm.unload()


def test_settings_per_llm_from_generation_kwargs():
    llm = moa()
    llm.generation_kwargs = {
        "aggregator_llm": {"temperature": 0.1},
        "proposers_llms": [{"temperature": 0.9}, {}],
    }
    llm.load()
    llm.generate_results([USER])
    assert llm.aggregator_llm.calls[0].kwargs == {"temperature": 0.1}
    assert llm.proposers_llms[0].calls[0].kwargs == {"temperature": 0.9}
    llm.unload()


def test_a_failing_proposer_fails_the_request_naming_it():
    llm = moa()
    llm.proposers_llms[1].responses = [RuntimeError("boom")]
    llm.load()
    (result,) = llm.generate_results([USER])
    assert isinstance(result, LLMRequestError)
    assert "proposer" in str(result) and "p2" in str(result) and "boom" in str(result)
    assert llm.aggregator_llm.calls == []
    llm.unload()


def test_in_a_pipeline_the_rows_carry_the_moa_name(tmp_path):
    with Pipeline(name="moa", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(3)])
        load >> TextGeneration(name="gen", llm=moa())
    rows = pipeline.run(progress=False)["default"]["train"].to_list()
    assert [row["generation"] for row in rows] == ["final"] * 3
    assert {row["model_name"] for row in rows} == {"moa-agg-p1-p2"}
