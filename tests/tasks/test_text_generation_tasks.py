"""TextGeneration, ChatGeneration and StructuredGeneration."""

from __future__ import annotations

import pytest
from task_helpers import meta, run

from stillroom.models import MockLLM
from stillroom.steps.tasks import ChatGeneration, StructuredGeneration, TextGeneration

CONVERSATION = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Capital of Peru?"},
]


def test_chat_generation_sends_the_conversation_and_keeps_the_reply() -> None:
    task = ChatGeneration(llm=MockLLM(model="m", responses="Lima."))
    (row,) = run(task, [{"messages": CONVERSATION}])
    assert task.llm.calls[0].messages == CONVERSATION
    assert row["generation"] == "Lima."
    assert row["model_name"] == "m"
    assert task.get_outputs() == {"generation": True, "model_name": True}


def test_chat_generation_failed_reply_keeps_the_row() -> None:
    task = ChatGeneration(llm=MockLLM(responses=[None]))
    (row,) = run(task, [{"messages": CONVERSATION}])
    assert row["generation"] is None
    assert row["messages"] == CONVERSATION
    assert meta(row, task, "error")


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        (
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "must be from the user",
        ),
        ([], "non-empty list"),
        ("just text", "non-empty list"),
    ],
)
def test_chat_generation_rejects_bad_conversations(messages: object, match: str) -> None:
    task = ChatGeneration(llm=MockLLM())
    (row,) = run(task, [{"messages": messages}])
    assert row["generation"] is None
    assert match in meta(row, task, "error")
    assert task.llm.calls == []


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def test_structured_generation_pairs_the_prompt_with_the_row_schema() -> None:
    task = StructuredGeneration(llm=MockLLM(responses='{"name": "Ada"}'), use_system_prompt=True)
    row = {
        "instruction": "Invent a character.",
        "structured_output": {"format": "json", "schema": SCHEMA},
        "system_prompt": "You write fiction.",
    }
    (out,) = run(task, [row])
    call = task.llm.calls[0]
    assert call.messages == [
        {"role": "system", "content": "You write fiction."},
        {"role": "user", "content": "Invent a character."},
    ]
    assert call.structured_output == {"format": "json", "schema": SCHEMA}
    assert out["generation"] == '{"name": "Ada"}'


def test_structured_generation_without_a_schema_sends_a_free_form_request() -> None:
    task = StructuredGeneration(llm=MockLLM(responses="Ada"))
    rows = run(
        task, [{"instruction": "Name one."}, {"instruction": "Again.", "structured_output": None}]
    )
    assert [call.structured_output for call in task.llm.calls] == [None, None]
    assert [row["generation"] for row in rows] == ["Ada", "Ada"]


def test_text_generation_custom_template_reads_a_list_column() -> None:
    task = TextGeneration(
        llm=MockLLM(responses="ok"),
        template="Like these:{% for e in examples %} [{{ e }}]{% endfor %}",
        columns="examples",
    )
    run(task, [{"examples": ["one", "two"]}])
    assert task.llm.calls[0].messages[-1]["content"] == "Like these: [one] [two]"
    with pytest.raises(ValueError, match="must hold text"):
        TextGeneration(llm=MockLLM()).format_input({"instruction": ["a list"]})


def test_structured_generation_accepts_the_type_value_spelling() -> None:
    task = StructuredGeneration(llm=MockLLM(responses="21°C"))
    run(task, [{"instruction": "t?", "structured_output": {"type": "regex", "value": r"\d+°C"}}])
    assert task.llm.calls[0].structured_output == {"format": "regex", "schema": r"\d+°C"}


def test_structured_generation_bad_schema_and_failed_reply() -> None:
    task = StructuredGeneration(llm=MockLLM(responses=[None]))
    (row,) = run(task, [{"instruction": "x", "structured_output": {"schema": SCHEMA}}])
    assert row["generation"] is None
    assert "'format': 'json'" in meta(row, task, "error")
    assert task.llm.calls == []
    (row,) = run(
        task, [{"instruction": "x", "structured_output": {"format": "json", "schema": SCHEMA}}]
    )
    assert row["generation"] is None
    assert meta(row, task, "error")


def test_text_generation_none_reply_keeps_the_row() -> None:
    task = TextGeneration(llm=MockLLM(responses=[None, "fine"]))
    rows = run(task, [{"instruction": "a", "id": 1}, {"instruction": "b", "id": 2}])
    assert [(r["id"], r["generation"]) for r in rows] == [(1, None), (2, "fine")]
    assert meta(rows[0], task, "error") == "the LLM returned no text for this generation"
    assert meta(rows[0], task, "raw_output") is None
    assert meta(rows[0], task, "raw_input") == [{"role": "user", "content": "a"}]
    assert meta(rows[1], task, "error") is None
    assert all(r["model_name"] == "mock" for r in rows)


def test_text_generation_one_none_among_grouped_generations() -> None:
    task = TextGeneration(
        llm=MockLLM(responses=["x", None]), num_generations=2, group_generations=True
    )
    (row,) = run(task, [{"instruction": "a"}])
    assert row["generation"] == ["x", None]
    assert meta(row, task, "error") == [None, "the LLM returned no text for this generation"]
