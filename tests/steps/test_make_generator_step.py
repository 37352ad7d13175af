"""`make_generator_step`: a list, a `datasets.Dataset` or a DataFrame as a pipeline's source."""

from __future__ import annotations

import pytest

from stillroom.errors import StillroomUserError
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts, LoadDataFromHub
from stillroom.steps.generators.utils import make_generator_step

ROWS = [{"instruction": f"q{i}"} for i in range(5)]


def test_a_list_becomes_load_data_from_dicts_with_the_settings_given() -> None:
    step = make_generator_step(ROWS, batch_size=2, output_mappings={"instruction": "prompt"})
    assert isinstance(step, LoadDataFromDicts)
    step.load()
    rows, is_last = next(step.process_applying_mappings())
    assert rows == [{"prompt": "q0"}, {"prompt": "q1"}] and not is_last


@pytest.mark.parametrize("kind", ["dataset", "dataframe"])
def test_a_dataset_or_dataframe_is_read_in_memory_never_from_the_hub(kind: str) -> None:
    import datasets
    import pandas

    data = datasets.Dataset.from_list(ROWS) if kind == "dataset" else pandas.DataFrame(ROWS)
    step = make_generator_step(data, batch_size=3)
    assert isinstance(step, LoadDataFromHub)
    step.load()  # would need the network if it opened repo_id
    batches = list(step.process())
    assert [row["instruction"] for rows, _ in batches for row in rows] == [
        r["instruction"] for r in ROWS
    ]
    assert batches[-1][1] is True


def test_the_step_joins_the_pipeline_given() -> None:
    pipeline = Pipeline(name="p")
    step = make_generator_step(ROWS, pipeline=pipeline)
    assert step.pipeline is pipeline and step.name in pipeline.steps


def test_anything_else_is_refused_with_what_is_accepted() -> None:
    with pytest.raises(StillroomUserError, match=r"expected a list of dicts, a datasets\.Dataset"):
        make_generator_step("rows.csv")
