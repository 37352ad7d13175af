"""Text that is not valid Unicode (a lone surrogate) in rows or in a step's configuration
gives an error naming the step and where the text is, before any LLM request."""

from __future__ import annotations

import pytest

from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration
from stillroom.utils.text import InvalidTextError


def test_rows_given_in_code_name_the_row_and_the_column() -> None:
    with pytest.raises(InvalidTextError) as caught:
        LoadDataFromDicts(name="load_data", data=[{"instruction": "x\udcff"}])
    message = str(caught.value)
    assert message.startswith(
        "Step 'load_data' (LoadDataFromDicts): row 0, column 'instruction' holds a lone "
        "surrogate ('\\udcff') which is not valid Unicode text"
    )
    assert "errors='replace'" in message


def test_nested_values_and_steps_inside_a_pipeline() -> None:
    rows = [{"a": "fine"}, {"a": "fine", "meta": {"tags": ["ok", "\ud800"]}}]
    with Pipeline(name="p"), pytest.raises(InvalidTextError) as caught:
        LoadDataFromDicts(data=rows)
    assert str(caught.value).startswith(
        "LoadDataFromDicts: row 1, column 'meta' at ['tags'][1] holds a lone surrogate"
    )


def test_rows_assigned_later_are_checked_too() -> None:
    load = LoadDataFromDicts(name="load_data", data=[{"instruction": "fine"}])
    with pytest.raises(InvalidTextError, match=r"^Step 'load_data' .*row 0, column 'i'"):
        load.data = [{"i": "\udcff"}]
    assert load.data == [{"instruction": "fine"}]


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"system_prompt": "Be \udcff brief."}, "field 'system_prompt'"),
        (
            {"llm": AsyncMockLLM(responses="hi", generation_kwargs={"stop": ["\udcff"]})},
            "field 'llm' at ['generation_kwargs']['stop'][0]",
        ),
    ],
)
def test_a_step_configuration_with_bad_text_stops_the_run_before_any_request(
    config: dict[str, object], where: str
) -> None:
    llm = config.pop("llm", AsyncMockLLM(responses="hi"))
    with Pipeline(name="bad-text") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "q"}])
        task = TextGeneration(name="gen", llm=llm, **config)
        load >> task
    with pytest.raises(InvalidTextError) as caught:
        pipeline.run(progress=False)
    assert str(caught.value).startswith(
        f"Step 'gen' (TextGeneration): {where} holds a lone surrogate ('\\udcff')"
    )
    assert isinstance(caught.value.__cause__, UnicodeEncodeError)
    assert task.llm.calls == []
