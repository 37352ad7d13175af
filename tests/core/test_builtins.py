"""The two built-ins of the core: TextGeneration and LoadDataFromDicts."""

from __future__ import annotations

import pytest

from stillroom.errors import StillroomUserError
from stillroom.models import MockLLM
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration


def _gen(**kwargs) -> TextGeneration:
    task = TextGeneration(llm=MockLLM(responses="reply"), **kwargs)
    task.load()
    return task


def test_text_generation_default_prompt_is_the_instruction() -> None:
    task = _gen()
    (rows,) = list(task.process([{"instruction": "Say hi"}]))
    assert rows[0]["generation"] == "reply" and rows[0]["model_name"] == "mock"
    assert task.llm.calls[0].messages == [{"role": "user", "content": "Say hi"}]


def test_text_generation_template_columns_and_system_prompt() -> None:
    task = _gen(
        template="Translate to {{ lang }}: {{ text }}",
        columns=["text", "lang"],
        system_prompt="You translate.",
    )
    assert task.get_inputs() == {"text": True, "lang": True, "system_prompt": False}
    next(task.process([{"text": "hello", "lang": "French"}]))
    assert task.llm.calls[0].messages == [
        {"role": "system", "content": "You translate."},
        {"role": "user", "content": "Translate to French: hello"},
    ]


def test_row_system_prompt_wins() -> None:
    task = _gen(system_prompt="default")
    next(task.process([{"instruction": "x", "system_prompt": "from row"}]))
    assert task.llm.calls[0].messages[0] == {"role": "system", "content": "from row"}


def test_columns_missing_from_the_template_are_refused_by_load() -> None:
    llm = MockLLM(responses="reply")
    task = TextGeneration(name="t", llm=llm, template="{{ text }}", columns=["text", "lang"])
    assert task.configuration_problems() == [
        "Step 't' (TextGeneration): columns ['lang'] are not used by the template "
        "'{{ text }}'. Reference each column as {{ column }} in the template, or drop it "
        "from `columns`."
    ]
    with pytest.raises(StillroomUserError, match=r"columns \['lang'\] are not used"):
        task.load()
    assert not task.is_loaded and not llm.is_loaded  # nothing was built
    fixed = TextGeneration(llm=llm, template="{{ text }} in {{ lang }}", columns=["text", "lang"])
    assert fixed.configuration_problems() == []
    fixed.load()


def test_non_text_instruction_has_a_clear_error() -> None:
    task = _gen()
    (row,) = next(task.process([{"instruction": ["a", "b"]}]))
    assert row["generation"] is None
    error = row["stillroom_metadata"][f"error_{task.name}"]
    assert "column 'instruction' must hold text, got list" in error


def test_load_data_from_dicts_batches_and_offset() -> None:
    step = LoadDataFromDicts(data=[{"i": i} for i in range(5)], batch_size=2)
    assert step.get_outputs() == {"i": True}
    batches = list(step.process())
    assert [len(rows) for rows, _ in batches] == [2, 2, 1]
    assert [last for _, last in batches] == [False, False, True]
    assert list(step.process(offset=4)) == [([{"i": 4}], True)]
    assert list(step.process(offset=9)) == [([], True)]


def test_load_data_from_dicts_keeps_the_given_list_and_names_a_bad_row() -> None:
    data = [{"i": i} for i in range(3)]
    assert LoadDataFromDicts(data=data).data is data  # no second copy of a large dataset
    with pytest.raises(ValueError, match=r"row 1 is str 'oops'"):
        LoadDataFromDicts(data=[{"i": 0}, "oops"])
    with pytest.raises(ValueError, match=r"expected a list of dicts \(one per row\), got dict"):
        LoadDataFromDicts(data={"i": 0})


def test_load_data_rows_are_copies() -> None:
    data = [{"i": 1}]
    step = LoadDataFromDicts(data=data)
    rows, _ = next(step.process())
    rows[0]["i"] = 99
    assert data == [{"i": 1}]
