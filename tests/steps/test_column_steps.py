"""KeepColumns, CombineOutputs, GroupColumns, ExpandColumns and MergeColumns on sample rows."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from stillroom.constants import STILLROOM_METADATA_KEY as META
from stillroom.errors import InvalidRowsError, MissingColumnsError
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import (
    CombineOutputs,
    ExpandColumns,
    GroupColumns,
    KeepColumns,
    LoadDataFromDicts,
    MergeColumns,
    StepInput,
    step,
)
from stillroom.steps.tasks import TextGeneration
from stillroom.steps.typing import StepOutput

# --- KeepColumns ---------------------------------------------------------------------------


def test_keep_columns_keeps_listed_columns_in_listed_order() -> None:
    keep = KeepColumns(columns=["b", "a"])
    (rows,) = keep.process([{"a": 1, "b": "é", "c": 3}, {"c": 0, "a": 2, "b": None}])
    assert rows == [{"b": "é", "a": 1}, {"b": None, "a": 2}]
    assert [list(r) for r in rows] == [["b", "a"], ["b", "a"]]
    assert keep.inputs == keep.outputs == ["b", "a"]


def test_keep_columns_empty_batch_and_one_batch_per_predecessor() -> None:
    keep = KeepColumns(columns=["a"])
    assert list(keep.process([])) == [[]]
    assert list(keep.process([{"a": 1, "x": 0}], [{"a": 2}])) == [[{"a": 1}], [{"a": 2}]]


def test_a_row_that_is_not_a_dict_is_a_clear_error() -> None:
    keep = KeepColumns(name="keep", columns=["a"])
    with pytest.raises(InvalidRowsError, match=r"'keep': row 0 of its input is a list"):
        next(keep.process_applying_mappings([[{"a": 1}]]))
    with pytest.raises(InvalidRowsError, match=r"row 1 of its input is a str"):
        list(keep.process_applying_mappings([{"a": 1}], [{"a": 2}, "a"]))


def test_keep_columns_missing_column_names_it() -> None:
    keep = KeepColumns(columns=["a", "b"])
    with pytest.raises(MissingColumnsError, match=r"'b'"):
        next(keep.process([{"a": 1}]))
    # With two predecessors the union has both columns, but each batch is checked alone.
    with pytest.raises(MissingColumnsError, match=r"'b'"):
        list(keep.process([{"a": 1, "b": 2}], [{"a": 1}]))


def test_keep_columns_needs_a_column() -> None:
    with pytest.raises(ValidationError):
        KeepColumns(columns=[])


# --- CombineOutputs ------------------------------------------------------------------------


def test_combine_outputs_merges_rows_by_position_and_metadata() -> None:
    combine = CombineOutputs()
    left = [{"id": 1, "a": "x", META: {"raw_output_a": "ra"}}, {"id": 2, "a": "y"}]
    right = [{"id": 1, "b": "z", META: {"raw_output_b": "rb"}}, {"id": 2, "b": "w"}]
    (rows,) = combine.process(left, right)
    assert rows == [
        {"id": 1, "a": "x", "b": "z", META: {"raw_output_a": "ra", "raw_output_b": "rb"}},
        {"id": 2, "a": "y", "b": "w"},
    ]
    assert left[0] == {"id": 1, "a": "x", META: {"raw_output_a": "ra"}}  # inputs untouched


def test_combine_outputs_later_predecessor_wins_and_metadata_clash_becomes_list() -> None:
    (rows,) = CombineOutputs().process(
        [{"v": 1, META: {"k": "first", "same": 0}}], [{"v": 2, META: {"k": "second", "same": 0}}]
    )
    assert rows == [{"v": 2, META: {"k": ["first", "second"], "same": 0}}]


def test_combine_outputs_unequal_batches_are_an_error() -> None:
    with pytest.raises(InvalidRowsError, match=r"\[2, 1\]"):
        next(CombineOutputs().process([{"a": 1}, {"a": 2}], [{"b": 1}]))


def test_combine_outputs_empty_batches() -> None:
    assert list(CombineOutputs().process([], [])) == [[]]


# --- GroupColumns --------------------------------------------------------------------------


def test_group_columns_default_names_and_aligned_lists() -> None:
    group = GroupColumns(columns=["generation", "model_name"])
    assert group.outputs == ["grouped_generation", "grouped_model_name"]
    (rows,) = group.process(
        [{"instruction": "q", "generation": "A", "model_name": "m1"}],
        [{"instruction": "q", "generation": "B"}],
    )
    assert rows == [
        {
            "instruction": "q",
            "grouped_generation": ["A", "B"],
            "grouped_model_name": ["m1", None],
        }
    ]


def test_group_columns_output_names_and_metadata() -> None:
    group = GroupColumns(columns=["generation"], output_columns=["generations"])
    (rows,) = group.process(
        [{"generation": "日本", META: {"statistics_a": {"input_tokens": 1}}}],
        [{"generation": None, META: {"statistics_b": {"input_tokens": 2}}}],
    )
    assert rows[0]["generations"] == ["日本", None]
    assert "generation" not in rows[0]
    assert rows[0][META] == {
        "statistics_a": {"input_tokens": 1},
        "statistics_b": {"input_tokens": 2},
    }


def test_group_columns_with_every_predecessor_batch_empty() -> None:
    group = GroupColumns(columns=["generation"], output_columns=["generations"])
    assert list(group.process_applying_mappings([], [])) == [[]]


@pytest.mark.timeout(60)
def test_group_columns_after_a_filter_dropped_every_row() -> None:
    @step(inputs=["instruction"], outputs=["instruction"])
    def DropAll(inputs: StepInput) -> StepOutput:
        yield []

    with Pipeline(name="group-after-empty-filter") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "a"}, {"instruction": "b"}])
        generators = [
            TextGeneration(llm=MockLLM(responses=reply, model=f"m{i}"))
            for i, reply in enumerate("xy")
        ]
        group = GroupColumns(columns=["generation"], output_columns=["generations"])
        load >> DropAll() >> generators >> group
    distiset = pipeline.run(use_cache=False, progress=False)
    assert len(distiset["default"]["train"]) == 0
    assert all(not g.llm.calls for g in generators)


def test_group_columns_validates_output_columns_and_batches() -> None:
    with pytest.raises(ValidationError, match="one output per column"):
        GroupColumns(columns=["a", "b"], output_columns=["x"])
    group = GroupColumns(columns=["a"])
    with pytest.raises(InvalidRowsError, match="batches of"):
        next(group.process([{"a": 1}], [{"a": 1}, {"a": 2}]))
    with pytest.raises(MissingColumnsError):
        next(group.process([{"b": 1}], [{"b": 2}]))


# --- ExpandColumns -------------------------------------------------------------------------


def test_expand_columns_one_row_per_item_keeping_other_columns() -> None:
    expand = ExpandColumns(columns=["generation"])
    assert expand.columns == {"generation": "generation"}
    (rows,) = expand.process(
        [{"q": "a", "generation": ["x", "y"]}, {"q": "b", "generation": ["z"]}]
    )
    assert rows == [
        {"q": "a", "generation": "x"},
        {"q": "a", "generation": "y"},
        {"q": "b", "generation": "z"},
    ]


def test_expand_columns_several_columns_together_and_renamed() -> None:
    expand = ExpandColumns(columns={"instructions": "instruction", "scores": "score"})
    assert expand.inputs == ["instructions", "scores"]
    assert expand.outputs == ["instruction", "score"]
    (rows,) = expand.process([{"instructions": ["i1", "i2"], "scores": [1, 2]}])
    assert [(r["instruction"], r["score"]) for r in rows] == [("i1", 1), ("i2", 2)]
    assert rows[0]["instructions"] == ["i1", "i2"]  # the original list stays, as distilabel


def test_expand_columns_unequal_lengths_name_the_row_and_lengths() -> None:
    expand = ExpandColumns(columns=["a", "b"])
    with pytest.raises(InvalidRowsError, match=r"row 1 .*\{'a': 1, 'b': 2\}"):
        next(expand.process([{"a": [1], "b": [2]}, {"a": [1], "b": [2, 3]}]))


def test_expand_columns_none_and_empty_lists_keep_the_row() -> None:
    expand = ExpandColumns(columns=["a", "b"])
    (rows,) = expand.process([{"id": 1, "a": None, "b": ["x", "y"]}, {"id": 2, "a": [], "b": None}])
    assert rows == [
        {"id": 1, "a": None, "b": "x"},
        {"id": 1, "a": None, "b": "y"},
        {"id": 2, "a": None, "b": None},
    ]


def test_expand_columns_rejects_non_lists_with_a_hint() -> None:
    with pytest.raises(InvalidRowsError, match="encoded=True"):
        next(ExpandColumns(columns=["a"]).process([{"a": '["x"]'}]))
    with pytest.raises(InvalidRowsError, match="type int, not a list"):
        next(ExpandColumns(columns=["a"]).process([{"a": 3}]))


def test_expand_columns_decodes_json_encoded_columns() -> None:
    expand = ExpandColumns(columns=["a", "b"], encoded=["a"])
    (rows,) = expand.process([{"a": json.dumps(["ü", "v"]), "b": [1, 2]}])
    assert [(r["a"], r["b"]) for r in rows] == [("ü", 1), ("v", 2)]
    with pytest.raises(InvalidRowsError, match="not valid JSON"):
        next(ExpandColumns(columns=["a"], encoded=True).process([{"a": "[oops"}]))
    with pytest.raises(ValidationError, match="not among the columns"):
        ExpandColumns(columns=["a"], encoded=["b"])


def test_expand_columns_split_statistics_gives_each_row_the_floored_share() -> None:
    expand = ExpandColumns(columns=["g"], split_statistics=True)
    stats = {"input_tokens": 10, "output_tokens": [7, None], "model": "m"}
    row = {"g": ["x", "y", "z"], META: {"statistics_t": stats, "raw_output_t": "r"}}
    (rows,) = expand.process([row])
    shares = [r[META]["statistics_t"] for r in rows]
    # 10 // 3 and 7 // 3 on every row: the remainder belongs to no row
    assert shares == [{"input_tokens": 3, "output_tokens": [2, None], "model": "m"}] * 3
    assert shares[0]["output_tokens"] is not shares[1]["output_tokens"]
    assert all(r[META]["raw_output_t"] == "r" for r in rows)
    assert row[META]["statistics_t"] is stats and stats["input_tokens"] == 10  # input untouched


def test_expand_columns_without_split_copies_metadata() -> None:
    (rows,) = ExpandColumns(columns=["g"]).process(
        [{"g": [1, 2], META: {"statistics_t": {"input_tokens": 10}}}]
    )
    assert [r[META]["statistics_t"]["input_tokens"] for r in rows] == [10, 10]
    assert rows[0][META] is not rows[1][META]


def test_grouped_generations_metadata_expands_and_groups_back() -> None:
    """A grouped task's row holds one metadata dict per generation: ExpandColumns gives each
    new row its own, and GroupColumns joins lists as distilabel does."""
    task = TextGeneration(
        llm=MockLLM(responses=["a", "b"]), num_generations=2, group_generations=True
    )
    task.load()
    (grouped,) = next(task.process([{"instruction": "q"}]))
    assert isinstance(grouped[META], list) and len(grouped[META]) == 2
    (rows,) = ExpandColumns(columns=["generation"], split_statistics=True).process([grouped])
    assert [r[META][f"raw_output_{task.name}"] for r in rows] == ["a", "b"]
    (joined,) = next(GroupColumns(columns=["generation"]).process([grouped], [grouped]))
    assert [m[f"raw_output_{task.name}"] for m in joined[META]] == ["a", "b", "a", "b"]


def test_expand_columns_empty_batch() -> None:
    assert list(ExpandColumns(columns=["a"]).process([])) == [[]]


# --- MergeColumns --------------------------------------------------------------------------


def test_merge_columns_concatenates_lists_and_values_in_order() -> None:
    merge = MergeColumns(columns=["query", "more"], output_column="queries")
    (rows,) = merge.process([{"id": 1, "query": "a", "more": ["b", None, "ç"]}])
    assert rows == [{"id": 1, "queries": ["a", "b", None, "ç"]}]
    assert merge.inputs == ["query", "more"] and merge.outputs == ["queries"]


def test_merge_columns_default_name_reuse_and_none() -> None:
    (rows,) = MergeColumns(columns=["a", "b"]).process([{"a": None, "b": 2}, {"a": 1, "b": 2}])
    assert rows == [{"merged_column": [None, 2]}, {"merged_column": [1, 2]}]  # aligned
    (rows,) = MergeColumns(columns=["a", "b"], output_column="a").process([{"a": [1], "b": [2]}])
    assert rows == [{"a": [1, 2]}]
    with pytest.raises(MissingColumnsError):
        next(MergeColumns(columns=["a", "b"]).process([{"a": 1}]))
