"""EvolInstructGenerator and EvolComplexityGenerator: fresh starts, length window, offsets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from task_helpers import meta

from stillroom.models import MockLLM
from stillroom.steps.tasks import EvolComplexityGenerator, EvolInstructGenerator
from stillroom.steps.tasks.evol_instruct import mutations
from stillroom.utils import templates


def _growing(messages):
    """Fresh starts give 'seed'; every mutation appends ' more' to the instruction."""
    prompt = messages[-1]["content"]
    if prompt.startswith("Write one new instruction"):
        return "seed"
    return prompt.split("Instruction:\n")[1].split("\n")[0] + " more"


def _collect(task, offset: int = 0) -> list[tuple[list[dict], bool]]:
    task.load()
    return list(task.process_applying_mappings(offset))


def test_instructions_grow_until_they_fit_the_length_window() -> None:
    task = EvolInstructGenerator(
        llm=MockLLM(responses=_growing),
        num_instructions=3,
        min_length=14,
        max_length=20,
        batch_size=2,
        add_raw_transcript=True,
    )
    batches = _collect(task)
    rows = [row for batch, _ in batches for row in batch]
    assert [row["instruction"] for row in rows] == ["seed more more"] * 3
    assert [last for _, last in batches][-1] is True
    assert sum(len(batch) for batch, _ in batches) == 3
    first = task.llm.calls[0].prompt
    assert first.startswith("Write one new instruction or question")
    words = first.split("these words: ")[1].split(".")[0].split(", ")
    assert len(words) == 3 and set(words) <= set(mutations.SEED_WORDS)
    assert meta(rows[0], task, "raw_output") == ["seed", "seed more", "seed more more"]
    assert rows[0]["model_name"] == "mock"


def test_each_row_holds_the_token_counts_of_the_round_that_accepted_it() -> None:
    """As in distilabel: one item per request of that round, the same list for each row
    the round gave; earlier rounds of the row's own instruction are not in it."""
    task = EvolInstructGenerator(
        llm=MockLLM(responses=_growing), num_instructions=3, min_length=9, max_length=20
    )
    rows = [row for batch, _ in _collect(task) for row in batch]
    assert [row["instruction"] for row in rows] == ["seed more"] * 3
    counts = [meta(row, task, "statistics_instruction") for row in rows]
    assert counts[0] == counts[1] == counts[2]
    # round 1: three fresh starts ("seed", too short); round 2: three mutations, accepted
    assert len(task.llm.calls) == 6
    assert counts[0]["output_tokens"] == [2, 2, 2]  # the three replies "seed more"
    assert len(counts[0]["input_tokens"]) == 3
    assert all(isinstance(n, int) and n > 0 for n in counts[0]["input_tokens"])


def test_overlong_and_failed_instructions_are_dropped_and_answers_generated() -> None:
    # rounds: fresh "seed" (too short, evolve) -> failed (dropped) -> fresh overlong
    # (dropped) -> fresh "seed" -> evolved "seed ok" (accepted) -> its answer
    replies = iter(["seed", None, "x" * 50, "seed", "seed ok"])

    def respond(messages):
        return "the answer" if messages[-1]["content"] == "seed ok" else next(replies)

    task = EvolInstructGenerator(
        llm=MockLLM(responses=respond),
        num_instructions=1,
        min_length=6,
        max_length=10,
        batch_size=1,
        add_raw_transcript=True,
        generate_answers=True,
    )
    ((batch, last),) = _collect(task)
    assert last is True
    assert len(task.llm.calls) == 6
    (row,) = batch
    assert (row["instruction"], row["answer"]) == ("seed ok", "the answer")
    assert meta(row, task, "raw_output") == ["seed", "seed ok", "the answer"]
    assert meta(row, task, "error") is None
    assert task.get_outputs() == {"instruction": True, "answer": True, "model_name": True}


def test_a_failed_answer_keeps_the_instruction() -> None:
    task = EvolInstructGenerator(
        llm=MockLLM(responses=["long enough", None]),
        num_instructions=1,
        min_length=4,
        batch_size=1,
        generate_answers=True,
    )
    ((batch, _),) = _collect(task)
    assert (batch[0]["instruction"], batch[0]["answer"]) == ("long enough", None)
    assert "no text" in meta(batch[0], task, "error")


def test_offset_resumes_and_max_rounds_bounds_a_model_that_never_grows() -> None:
    task = EvolInstructGenerator(
        llm=MockLLM(responses="seed"), num_instructions=5, min_length=4, batch_size=2
    )
    assert sum(len(b) for b, _ in _collect(task, offset=3)) == 2
    assert _collect(task, offset=5) == [([], True)]
    stuck = EvolComplexityGenerator(
        llm=MockLLM(responses="tiny"), num_instructions=2, min_length=100, max_rounds=4
    )
    assert _collect(stuck) == [([], True)]
    assert len(stuck.llm.calls) == 4 * 2


def test_configuration_errors() -> None:
    with pytest.raises(ValidationError, match="FRESH_START"):
        EvolInstructGenerator(
            llm=MockLLM(), num_instructions=1, mutation_templates={"A": "{{ instruction }}"}
        )
    with pytest.raises(ValidationError, match="min_length"):
        EvolInstructGenerator(llm=MockLLM(), num_instructions=1, min_length=10, max_length=5)
    complexity = EvolComplexityGenerator(llm=MockLLM(), num_instructions=1)
    assert "BREADTH" not in complexity.mutation_templates
    assert mutations.FRESH_START in complexity.mutation_templates


def test_evol_complexity_generator_prompts_and_reply_parsing() -> None:
    depth = mutations.evol_complexity_templates()

    def reply(messages):
        prompt = messages[-1]["content"]
        if prompt.startswith("Write one new instruction"):
            return "New instruction: Explain tides."
        instruction = prompt.split("Instruction:\n")[1].split("\n")[0]
        return f"```\n{instruction} In detail.\n```"  # fenced, as small models often write

    task = EvolComplexityGenerator(
        llm=MockLLM(responses=reply),
        num_instructions=1,
        min_length=30,
        max_length=60,
        add_raw_transcript=True,
    )
    ((rows, last),) = _collect(task)
    assert last is True
    assert [row["instruction"] for row in rows] == ["Explain tides. In detail. In detail."]
    prompts = [call.prompt for call in task.llm.calls]
    assert len(prompts) == 3
    assert prompts[0].startswith("Write one new instruction or question")
    sources = ["Explain tides.", "Explain tides. In detail."]
    for prompt, source in zip(prompts[1:], sources, strict=True):
        rendered = {
            name: templates.render(template, owner="test", field=name, instruction=source)
            for name, template in depth.items()
        }
        assert prompt in rendered.values(), "every evolution round is an in-depth mutation"
    assert meta(rows[0], task, "raw_output")[0] == "New instruction: Explain tides."
    assert meta(rows[0], task, "error") is None
