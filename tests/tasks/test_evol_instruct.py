"""EvolInstruct, EvolComplexity and EvolQuality: rounds, stored evolutions, answers, failures."""

from __future__ import annotations

import asyncio

import pytest
from task_helpers import meta, run

from stillroom.errors import StillroomError
from stillroom.models import AsyncMockLLM, MockLLM
from stillroom.steps.tasks import EvolComplexity, EvolInstruct, EvolQuality
from stillroom.steps.tasks.evol_instruct import mutations


def _numbered(prefix: str = "v"):
    """A responder numbering its replies, so each round's output is recognisable."""
    count = iter(range(1, 1000))
    return lambda messages: f"New instruction: {prefix}{next(count)}"


def test_each_round_rewrites_the_previous_result() -> None:
    task = EvolInstruct(
        llm=MockLLM(responses=_numbered()), num_evolutions=3, add_raw_transcript=True
    )
    (row,) = run(task, [{"instruction": "Add two numbers."}])
    prompts = [call.prompt for call in task.llm.calls]
    assert "Instruction:\nAdd two numbers.\n" in prompts[0]
    assert "Instruction:\nv1\n" in prompts[1]
    assert "Instruction:\nv2\n" in prompts[2]
    assert all(p.endswith("Reply with the new instruction only.") for p in prompts)
    assert row["evolved_instruction"] == "v3"
    assert meta(row, task, "raw_output") == [f"New instruction: v{i}" for i in (1, 2, 3)]
    assert len(meta(row, task, "statistics_instruction")["input_tokens"]) == 3


def test_store_evolutions_include_original_and_answers() -> None:
    def reply(messages):
        prompt = messages[-1]["content"]
        return "harder" if prompt.startswith(("Make", "Read")) else f"answer to {prompt}"

    task = EvolInstruct(
        llm=MockLLM(responses=reply),
        num_evolutions=2,
        store_evolutions=True,
        include_original_instruction=True,
        generate_answers=True,
    )
    assert task.get_outputs() == {"evolved_instructions": True, "answers": True, "model_name": True}
    (row,) = run(task, [{"instruction": "Sort a list."}])
    assert row["evolved_instructions"] == ["Sort a list.", "harder", "harder"]
    assert row["answers"] == ["answer to Sort a list.", "answer to harder", "answer to harder"]


def test_mutations_are_random_but_reproducible_per_seed_and_row() -> None:
    def first_lines(seed: int) -> list[str]:
        task = EvolInstruct(llm=MockLLM(responses="x"), num_evolutions=6, seed=seed)
        run(task, [{"instruction": "Plan a trip."}])
        return [call.prompt.splitlines()[0] for call in task.llm.calls]

    assert first_lines(1) == first_lines(1)
    assert len(set(first_lines(1))) > 1
    assert first_lines(1) != first_lines(2)


def test_a_failed_round_keeps_the_row_with_none_outputs() -> None:
    task = EvolInstruct(
        llm=MockLLM(responses=["ok", "   "]), num_evolutions=2, generate_answers=True
    )
    (row,) = run(task, [{"instruction": "Count to ten."}])
    assert row["evolved_instruction"] is None and row["answer"] is None
    assert row["instruction"] == "Count to ten."
    assert "reply is empty" in meta(row, task, "error")


def test_custom_templates_with_distilabel_placeholders() -> None:
    task = EvolInstruct(
        llm=MockLLM(responses="y"), num_evolutions=1, mutation_templates={"UP": "Harder: <PROMPT>"}
    )
    run(task, [{"instruction": "z"}])
    assert task.llm.calls[0].prompt == "Harder: z"
    with pytest.raises(StillroomError, match=r"uses \['answer'\]"):
        EvolInstruct(llm=MockLLM(), num_evolutions=1, mutation_templates={"X": "{{ answer }}"})


def test_evol_complexity_uses_in_depth_mutations_only() -> None:
    task = EvolComplexity(llm=MockLLM(responses="x"), num_evolutions=1)
    assert set(task.mutation_templates) == {
        "CONSTRAINTS",
        "DEEPENING",
        "CONCRETIZING",
        "INCREASED_REASONING_STEPS",
    }
    assert set(EvolInstruct(llm=MockLLM(), num_evolutions=1).mutation_templates) == {
        *task.mutation_templates,
        "BREADTH",
    }
    (row,) = run(task, [{"instruction": "Write a haiku."}])
    assert row["evolved_instruction"] == "x"


def test_evol_quality_rewrites_the_response() -> None:
    count = iter(range(1, 10))
    task = EvolQuality(
        llm=MockLLM(responses=lambda m: f"r{next(count)}"),
        num_evolutions=2,
        store_evolutions=True,
        include_original_response=True,
    )
    (row,) = run(task, [{"instruction": "Why is the sky blue?", "response": "Light."}])
    prompts = [call.prompt for call in task.llm.calls]
    assert "Instruction:\nWhy is the sky blue?\n\nResponse:\nLight." in prompts[0]
    assert "Response:\nr1" in prompts[1]
    assert row["evolved_responses"] == ["Light.", "r1", "r2"]
    assert set(task.mutation_templates) == set(mutations.evol_quality_templates())


def test_evol_quality_failure_keeps_the_row() -> None:
    task = EvolQuality(llm=MockLLM(responses=[RuntimeError("HTTP 500")]), num_evolutions=1)
    (row,) = run(task, [{"instruction": "i", "response": "r"}])
    assert row["evolved_response"] is None
    assert "HTTP 500" in meta(row, task, "error")


def test_process_batches_each_round_and_aprocess_row_gives_the_same_rows() -> None:
    def reply(messages):
        return "out " + messages[-1]["content"].split("Instruction:\n")[1].split("\n")[0]

    rows = [{"instruction": f"task {i}"} for i in range(3)]
    llm = MockLLM(responses=reply)
    sync_task = EvolInstruct(name="evol", llm=llm, num_evolutions=2)
    batched = run(sync_task, rows)
    assert len(llm.calls) == 6
    # lock step: the first round of every row, then the second round of every row
    assert ["out task" in call.prompt for call in llm.calls] == [False] * 3 + [True] * 3
    assert [r["evolved_instruction"] for r in batched] == [f"out out task {i}" for i in range(3)]

    async_llm = AsyncMockLLM(responses=reply)
    async_task = EvolInstruct(name="evol", llm=async_llm, num_evolutions=2)
    async_task.load()

    async def each() -> list[dict]:
        return [r for row in rows for r in await async_task.aprocess_row(row)]

    assert asyncio.run(each()) == batched
    async_task.unload()


def test_multi_request_tasks_take_one_generation_per_request() -> None:
    with pytest.raises(ValueError, match="num_generations must be 1"):
        EvolInstruct(llm=MockLLM(), num_evolutions=1, num_generations=2)
    task = EvolQuality(llm=MockLLM(), num_evolutions=1)
    with pytest.raises(ValueError, match="num_generations must be 1"):
        task.set_runtime_parameters({"num_generations": 3})


def test_metadata_holds_token_counts_per_stage_and_the_transcript_only_when_asked() -> None:
    task = EvolInstruct(
        name="evol", llm=MockLLM(responses=_numbered()), num_evolutions=2, generate_answers=True
    )
    (row,) = run(task, [{"instruction": "Add two numbers."}])
    metadata = row["stillroom_metadata"]
    assert set(metadata) == {"statistics_instruction_evol", "statistics_answer_evol"}
    assert len(metadata["statistics_instruction_evol"]["input_tokens"]) == 2
    assert len(metadata["statistics_answer_evol"]["output_tokens"]) == 1

    task = EvolInstruct(
        name="evol", llm=MockLLM(responses="x"), num_evolutions=2, add_raw_transcript=True
    )
    (row,) = run(task, [{"instruction": "Add two numbers."}])
    assert meta(row, task, "raw_output") == ["x", "x"]
    assert len(meta(row, task, "raw_input")) == 2
    assert task.dump()["add_raw_transcript"] is True
    assert EvolInstruct.from_dict(task.dump()).add_raw_transcript is True
    task.add_raw_transcript = False
    assert "add_raw_transcript" not in task.dump()  # distilabel's dump while at its default
