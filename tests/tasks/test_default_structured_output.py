"""`use_default_structured_output`: `format_input` returns the conversation alone, and the
task base sends it with the task's schema (`Task.formatted_request`), for every task that
has one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import stillroom.steps.tasks as tasks
from stillroom.models import MockLLM
from stillroom.steps.tasks.base import Task, _Task

MAKERS: dict[str, Callable[..., Task]] = {
    "TextClassification": lambda **kw: tasks.TextClassification(**kw),
    "GenerateSentencePair": lambda **kw: tasks.GenerateSentencePair(action="query", **kw),
    "UltraFeedback": lambda **kw: tasks.UltraFeedback(**kw),
    "QualityScorer": lambda **kw: tasks.QualityScorer(**kw),
    "ComplexityScorer": lambda **kw: tasks.ComplexityScorer(**kw),
    "MathShepherdGenerator": lambda **kw: tasks.MathShepherdGenerator(**kw),
    "APIGenGenerator": lambda **kw: tasks.APIGenGenerator(**kw),
    "APIGenSemanticChecker": lambda **kw: tasks.APIGenSemanticChecker(**kw),
}
SENDS_ITS_OWN = {"MathShepherdCompleter"}
"""Tasks building their requests in their own `process` (tested in their own files)."""


def _with_a_schema() -> set[str]:
    return {
        name
        for name in tasks.__all__
        if isinstance(cls := getattr(tasks, name), type)
        and issubclass(cls, Task)
        and cls.get_structured_output is not _Task.get_structured_output
    }


def test_every_task_with_a_schema_is_checked_here() -> None:
    assert _with_a_schema() == set(MAKERS) | SENDS_ITS_OWN


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_the_schema_travels_with_the_request_not_in_format_input(name: str) -> None:
    llm = MockLLM(responses="{}")
    task = MAKERS[name](llm=llm, use_default_structured_output=True)
    row: dict[str, Any] = task._sample_row()
    messages = task.format_input(row)
    assert isinstance(messages, list) and all("content" in m for m in messages)
    structured = task.structured_output_for(row)
    assert structured is not None and structured["schema"]["type"] == "object"
    assert task.formatted_request(row) == (messages, structured)
    task.load()
    next(task.process([row]))
    (call,) = llm.calls
    assert call.messages == messages
    assert call.structured_output == structured


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_without_it_the_request_is_the_conversation_alone(name: str) -> None:
    task = MAKERS[name](llm=MockLLM(), use_default_structured_output=False)
    row = task._sample_row()
    assert task.structured_output_for(row) is None
    assert task.formatted_request(row) == task.format_input(row)


def test_a_task_giving_its_own_schema_per_row_keeps_it() -> None:
    """StructuredGeneration's rows carry their schema: `format_input` returns the pair, and
    the request is sent as it is."""
    schema = {"format": "json", "schema": {"type": "object"}}
    task = tasks.StructuredGeneration(llm=MockLLM())
    row = {"instruction": "i", "structured_output": schema}
    assert task.formatted_request(row) == task.format_input(row)
    assert task.formatted_request(row)[1] == schema
