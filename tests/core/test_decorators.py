"""@step and @task build real step/task classes from functions."""

from __future__ import annotations

from typing import Any

import pytest

from stillroom.errors import InvalidRowsError, MissingColumnsError, StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models import MockLLM
from stillroom.steps import GeneratorStep, GlobalStep, Step, StepInput, step
from stillroom.steps.tasks import Task, task


@step(inputs=["text"], outputs=["length"])
def TextLength(inputs: StepInput, scale: RuntimeParameter[int] = 1):
    """Counts characters."""
    for row in inputs:
        row["length"] = len(row["text"]) * scale
    yield inputs


@step(outputs=["n"], step_type="generator")
def Numbers(offset: int = 0, count: int = 3):
    yield [{"n": i} for i in range(offset, count)], True


@step(inputs=["n"], outputs=["total"], step_type="global")
def Total(inputs: StepInput):
    yield [{"total": sum(r["n"] for r in inputs)}]


def test_step_decorator_builds_a_step_with_runtime_parameters() -> None:
    assert issubclass(TextLength, Step)
    s = TextLength(scale=2)
    assert s.name == "text_length_0"  # distilabel's default names
    assert s.runtime_parameters_names["scale"] is True
    assert next(s.process([{"text": "abc"}])) == [{"text": "abc", "length": 6}]
    assert s.get_inputs() == {"text": True} and s.get_outputs() == {"length": True}


def test_generator_and_global_step_decorators() -> None:
    assert issubclass(Numbers, GeneratorStep) and issubclass(Total, GlobalStep)
    assert list(Numbers(count=2).process_applying_mappings()) == [([{"n": 0}, {"n": 1}], True)]
    assert list(Numbers().process(offset=2)) == [([{"n": 2}], True)]
    assert next(Total().process([{"n": 1}, {"n": 2}])) == [{"total": 3}]


def test_decorated_step_takes_its_batches_as_one_list_too() -> None:
    s = TextLength(name="len", scale=2, input_mappings={"text": "body"})
    s.load()
    (rows,) = s.process_applying_mappings([[{"body": "ab"}, {"body": "abc"}]])
    assert rows == [{"body": "ab", "length": 4}, {"body": "abc", "length": 6}]
    assert next(TextLength().process([[{"text": "a"}]])) == [{"text": "a", "length": 1}]
    # each row is still checked: a row that is not a dict, a missing column
    with pytest.raises(InvalidRowsError, match=r"'len': row 1 of its input is a str"):
        next(s.process_applying_mappings([[{"body": "ab"}, "abc"]]))
    with pytest.raises(MissingColumnsError, match=r"'len' needs column\(s\) \['text'\]"):
        next(s.process_applying_mappings([[{"other": "ab"}]]))
    with pytest.raises(InvalidRowsError, match="row 0 of its input is a list"):
        next(s.process_applying_mappings([[{"body": "ab"}]], [{"body": "c"}]))


def test_decorated_step_round_trips_through_yaml(tmp_path: Any) -> None:
    s = TextLength(name="len", scale=3)
    loaded = Step.from_yaml(s.save(tmp_path / "s.yaml"), allowed_modules=[__name__])
    assert isinstance(loaded, TextLength) and loaded.scale == 3


@task(inputs=["question"], outputs=["answer"])
def Answer(output: str | None, input: dict[str, Any] | None = None) -> dict[str, Any]:
    """
    ---
    system_prompt: You answer in one sentence.
    user_message_template: "Question: {question}"
    ---
    """
    return {"answer": output.strip() if output else None}


def test_task_decorator_renders_prompts_and_formats_output() -> None:
    assert issubclass(Answer, Task)
    t = Answer(llm=MockLLM(responses=" Paris. "))
    t.load()
    (rows,) = list(t.process([{"question": "Capital of France?"}]))
    assert rows[0]["answer"] == "Paris." and rows[0]["model_name"] == "mock"
    assert t.llm.calls[0].messages == [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "Question: Capital of France?"},
    ]


def test_task_decorator_needs_the_docstring_block() -> None:
    with pytest.raises(StillroomUserError, match="doesn't follow the expected format"):

        @task(inputs=["q"], outputs=["a"])
        def NoPrompt(output, input=None):
            """No front matter."""
            return {"a": output}
