"""SelfInstruct: the prompt for a seed, one instruction per reply line."""

from __future__ import annotations

from task_helpers import meta, run

from stillroom.models import MockLLM
from stillroom.steps.tasks import SelfInstruct


def test_prompt_and_parsed_instructions() -> None:
    reply = "1. How do tides form?\n\n2) Why is the sea salty?\n- Explain rip currents to a child."
    task = SelfInstruct(
        llm=MockLLM(responses=reply), num_instructions=3, application_description="a tutor app"
    )
    (row,) = run(task, [{"input": "the ocean"}])
    prompt = task.llm.calls[0].prompt
    assert prompt.startswith("We are collecting queries that users might send to a tutor app.")
    assert "Write 3 different queries about the topic below." in prompt
    assert "Topic:\nthe ocean" in prompt
    assert row["instructions"] == [
        "How do tides form?",
        "Why is the sea salty?",
        "Explain rip currents to a child.",
    ]


def test_empty_reply_keeps_the_row() -> None:
    task = SelfInstruct(llm=MockLLM(responses="  \n\n"))
    (row,) = run(task, [{"input": "x"}])
    assert row["instructions"] is None
    assert "no items" in meta(row, task, "error")
