"""Building a pipeline: steps join it, `>>` connects them, names stay unique."""

from __future__ import annotations

import pytest

from stillroom.errors import StillroomError
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration


def make_task(name: str | None = None) -> TextGeneration:
    return TextGeneration(name=name, llm=AsyncMockLLM())


def test_steps_created_inside_join_and_rshift_forms_connect() -> None:
    with Pipeline(name="p") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "x"}])
        a, b, c, d = (make_task(n) for n in "abcd")
        load >> a >> [b, c]
        [b, c] >> d
    outside = LoadDataFromDicts(data=[])
    assert list(pipeline.steps) == ["load_data_from_dicts_0", "a", "b", "c", "d"]
    assert pipeline.dag.edges == [
        ("load_data_from_dicts_0", "a"),
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "d"),
    ]
    assert outside.pipeline is None and load.pipeline is pipeline
    assert pipeline.dag.leaves == ["d"]


def test_inferred_duplicate_names_are_numbered_explicit_ones_rejected() -> None:
    with Pipeline(name="p") as pipeline:
        first, second, third = make_task(), make_task(), make_task()
        make_task("mine")
        with pytest.raises(StillroomError, match="already has a step named 'mine'"):
            make_task("mine")
    assert [first.name, second.name, third.name] == [
        "text_generation_0",
        "text_generation_1",
        "text_generation_2",
    ]
    assert "mine" in pipeline.steps


def test_connecting_outside_a_pipeline_or_to_itself_is_an_error() -> None:
    loose = LoadDataFromDicts(data=[])
    with pytest.raises(StillroomError, match="not part of a pipeline"):
        loose >> make_task()
    with Pipeline(name="p"):
        task = make_task()
        with pytest.raises(StillroomError, match="cannot send its rows to itself"):
            task >> task


def test_nested_pipelines_restore_the_outer_one() -> None:
    with Pipeline(name="outer") as outer:
        with Pipeline(name="inner") as inner:
            in_inner = make_task()
        in_outer = make_task()
    assert in_inner.pipeline is inner and in_outer.pipeline is outer


def test_signature_changes_with_configuration_and_only_downstream() -> None:
    def build(template: str) -> Pipeline:
        with Pipeline(name="p") as pipeline:
            load = LoadDataFromDicts(data=[{"instruction": "x"}])
            first = TextGeneration(name="first", llm=AsyncMockLLM())
            second = TextGeneration(
                name="second", llm=AsyncMockLLM(), template=template, columns=["generation"]
            )
            load >> first >> second
        return pipeline

    one, two = build("{{ generation }}"), build("Again: {{ generation }}")
    sig_one, sig_two = one.step_signatures(), two.step_signatures()
    assert sig_one["first"] == sig_two["first"]
    assert sig_one["second"] != sig_two["second"]
    assert one.signature != two.signature
    assert build("{{ generation }}").signature == one.signature


def test_in_code_rows_enter_the_signature_as_a_hash_not_as_text() -> None:
    """`LoadDataFromDicts` rows are hashed row by row into the signature: equal rows give
    the same signature, any changed row another, and the text never holds the rows."""
    from stillroom.pipeline.signature import canonical_json

    def loader(rows: list[dict[str, str]]) -> Pipeline:
        with Pipeline(name="p") as pipeline:
            LoadDataFromDicts(name="load", data=rows)
        return pipeline

    rows = [{"instruction": f"question {i}"} for i in range(2000)]
    signature = loader(rows).signature
    assert loader([dict(row) for row in rows]).signature == signature
    changed = [*rows[:-1], {"instruction": "question two thousand"}]
    assert loader(changed).signature != signature
    assert loader(rows[:-1]).signature != signature
    text = canonical_json(loader(rows).dag.steps["load"])
    assert "question 1999" not in text and '"__rows__":2000' in text
