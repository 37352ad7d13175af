"""Magpie and MagpieGenerator: pre-query turns, outputs per mode, system prompts, failures."""

from __future__ import annotations

import pytest
from task_helpers import meta, run

from stillroom.errors import StillroomError
from stillroom.models import LLM, MockLLM
from stillroom.steps.tasks import Magpie, MagpieGenerator

CHATML = "<|im_start|>user\n"


class PlainLLM(LLM):
    """An LLM that renders no prompts itself (like a hosted chat API)."""

    @property
    def model_name(self) -> str:
        return "plain"

    def generate(self, inputs, num_generations=1, **kwargs):
        return []


def _turns(messages):
    """Writes a user message when asked for one (the conversation does not end with the user)."""
    if not messages or messages[-1]["role"] != "user":
        return f"question {len(messages)}"
    return f"answer {len(messages)}"


def _llm(**kwargs) -> MockLLM:
    return MockLLM(responses=_turns, magpie_pre_query_template="chatml", **kwargs)


def test_instruction_and_response_with_the_row_system_prompt() -> None:
    task = Magpie(llm=_llm())
    assert task.llm.use_magpie_template is True
    (row,) = run(task, [{"system_prompt": "You are a chemistry tutor."}])
    calls = task.llm.calls
    assert calls[0].messages == [{"role": "system", "content": "You are a chemistry tutor."}]
    assert [c.magpie_pre_query for c in calls] == [CHATML, None]
    assert row["instruction"] == "question 1"
    assert row["response"] == "answer 2"
    assert task.get_outputs() == {"instruction": True, "response": True, "model_name": True}


def test_multi_turn_conversation_ending_with_the_user() -> None:
    task = Magpie(llm=_llm(), n_turns=2, end_with_user=True, include_system_prompt=True)
    (row,) = run(task, [{}])
    conversation = row["conversation"]
    assert conversation[0]["role"] == "system"
    assert "conversation of several rounds" in conversation[0]["content"]
    assert [m["role"] for m in conversation[1:]] == ["user", "assistant", "user"]
    assert [c.magpie_pre_query for c in task.llm.calls] == [CHATML, None, CHATML]


def test_only_instruction_and_weighted_system_prompts() -> None:
    task = Magpie(
        llm=_llm(),
        only_instruction=True,
        system_prompt={"maths": ("You teach maths.", 1.0)},
    )
    assert task.get_outputs() == {
        "instruction": True,
        "system_prompt_key": True,
        "model_name": True,
    }
    (row,) = run(task, [{}])
    assert task.llm.calls[0].messages == [{"role": "system", "content": "You teach maths."}]
    assert row["instruction"] == "question 1"
    assert row["system_prompt_key"] == "maths"
    assert "response" not in row
    with pytest.raises(ValueError, match="add up to 1"):
        Magpie(llm=_llm(), system_prompt={"a": ("x", 0.3), "b": ("y", 0.3)})


def test_a_failed_turn_keeps_the_row_with_none_outputs() -> None:
    task = Magpie(llm=MockLLM(responses=["hello?", None], magpie_pre_query_template="qwen2"))
    (row,) = run(task, [{"id": 1}])
    assert row["id"] == 1
    assert row["instruction"] is None and row["response"] is None
    assert meta(row, task, "raw_output") == ["hello?", None]
    assert "no text" in meta(row, task, "error")


def test_llms_that_cannot_apply_a_pre_query_are_refused() -> None:
    with pytest.raises(StillroomError, match="magpie_pre_query_template"):
        Magpie(llm=MockLLM())
    with pytest.raises(StillroomError, match="cannot be used with Magpie"):
        Magpie(llm=PlainLLM())


def test_generator_makes_num_rows_in_batches() -> None:
    task = MagpieGenerator(llm=_llm(), num_rows=5, batch_size=2, n_turns=2)
    task.load()
    batches = list(task.process())
    assert [(len(rows), last) for rows, last in batches] == [(2, False), (2, False), (1, True)]
    row = batches[0][0][0]
    assert [m["role"] for m in row["conversation"]] == ["user", "assistant", "user", "assistant"]
    assert row["model_name"] == "mock"
    assert sum(len(rows) for rows, _ in task.process(offset=4)) == 1


def test_generator_needs_num_rows() -> None:
    task = MagpieGenerator(llm=_llm())
    task.load()
    with pytest.raises(StillroomError, match="num_rows"):
        next(task.process())


def test_generator_failed_turn_keeps_its_row_and_the_batch_size() -> None:
    # Round 1 asks both rows' user turns, round 2 both assistant turns; row 0's fails.
    replies = ["question a", "question b", RuntimeError("server went away"), "answer b"]
    task = MagpieGenerator(
        llm=MockLLM(responses=replies, magpie_pre_query_template="chatml"),
        num_rows=2,
        batch_size=2,
    )
    task.load()
    ((rows, last),) = list(task.process())
    assert last is True and len(rows) == 2
    failed, good = rows
    assert failed["instruction"] is None and failed["response"] is None
    assert "LLM request failed: RuntimeError: server went away" in meta(failed, task, "error")
    assert meta(failed, task, "raw_output") == ["question a", None]
    assert (good["instruction"], good["response"]) == ("question b", "answer b")
    assert meta(good, task, "error") is None
    assert all(row["model_name"] == "mock" for row in rows)
