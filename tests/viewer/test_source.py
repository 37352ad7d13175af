"""What the viewer reads: part files growing during a run, Arrow folders, pages and filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import StillroomError
from stillroom.viewer.source import DataSource, latest_run, row_errors


def _rows(count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "q": f"question {i}",
            STILLROOM_METADATA_KEY: {"error_gen": "boom" if i % 3 == 0 else None},
        }
        for i in range(start, start + count)
    ]


def _write(path: Path, rows: list[dict[str, object]], mode: str = "a") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


def test_a_growing_jsonl_part_is_counted_and_paged(tmp_path: Path) -> None:
    run = tmp_path / "run"
    part = run / "data" / "default" / "train" / "00000.jsonl"
    _write(part, _rows(5))
    source = DataSource(run)
    assert source.splits() == {"default": ["train"]}
    assert source.counts() == {"default": {"train": 5}}
    with open(part, "a", encoding="utf-8") as handle:  # a row being written: not a row yet
        handle.write(json.dumps(_rows(1, 5)[0])[:10])
    assert source.counts() == {"default": {"train": 5}}
    page = source.page("default", "train", offset=3, limit=10)
    assert [index for index, _ in page.rows] == [3, 4] and page.total == 5
    assert page.columns == ["q", STILLROOM_METADATA_KEY]
    part.write_text("")  # cut back (a fresh run): counted again from the start
    _write(part, _rows(2))
    assert source.counts() == {"default": {"train": 2}}


def test_failed_rows_and_search_filter_the_whole_split(tmp_path: Path) -> None:
    _write(tmp_path / "default" / "train" / "00000.jsonl", _rows(10))
    source = DataSource(tmp_path)
    failed = source.page("default", "train", failed_only=True)
    assert [index for index, _ in failed.rows] == [0, 3, 6, 9] and failed.matched == 4
    found = source.page("default", "train", query="QUESTION 7")
    assert [index for index, _ in found.rows] == [7] and found.total == 10
    both = source.page("default", "train", offset=1, limit=1, failed_only=True, query="question")
    assert [index for index, _ in both.rows] == [3] and both.matched == 4
    keys_only = source.page("default", "train", query=STILLROOM_METADATA_KEY)
    assert keys_only.matched == 0  # column names are not searched


def test_row_errors_reads_single_and_grouped_generations() -> None:
    assert row_errors({STILLROOM_METADATA_KEY: {"error_a": None, "raw_output_a": "x"}}) == {}
    assert row_errors({STILLROOM_METADATA_KEY: {"error_a": [None, "bad"]}}) == {
        "error_a": [None, "bad"]
    }
    assert row_errors({"q": 1}) == {}
    grouped = [{"raw_output_a": "x"}, {"error_a": "bad"}]  # one dict per generation
    assert row_errors({STILLROOM_METADATA_KEY: grouped}) == {"error_a": [None, "bad"]}
    assert row_errors({STILLROOM_METADATA_KEY: [{"error_a": None}, {}]}) == {}


def test_parquet_parts_and_jsonl_parts_are_read_in_order(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    split = tmp_path / "gen" / "train"
    split.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([{"q": f"p{i}"} for i in range(300)]), split / "00000.parquet"
    )
    _write(split / "00001.jsonl", [{"q": "j0"}, {"q": "j1"}])
    source = DataSource(tmp_path)
    assert source.counts() == {"gen": {"train": 302}}
    page = source.page("gen", "train", offset=299, limit=3)
    assert [row["q"] for _, row in page.rows] == ["p299", "j0", "j1"]


def test_a_distiset_saved_by_hugging_face_datasets_is_read(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = _rows(4)
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(
        str(tmp_path / "default")
    )
    source = DataSource(tmp_path)
    assert source.splits() == {"default": ["train"]}
    assert source.counts() == {"default": {"train": 4}}
    failed = source.page("default", "train", failed_only=True)
    assert [index for index, _ in failed.rows] == [0, 3]
    assert source.page("default", "train", offset=2, limit=1).rows[0][1]["q"] == "question 2"


def test_a_pipeline_directory_means_its_latest_run(tmp_path: Path) -> None:
    old = tmp_path / "pipelines" / "p" / "aaa"
    new = tmp_path / "pipelines" / "p" / "bbb"
    _write(old / "data" / "default" / "train" / "00000.jsonl", _rows(1))
    _write(new / "data" / "default" / "train" / "00000.jsonl", _rows(3))
    import os

    os.utime(old / "data", (1, 1))
    assert DataSource(tmp_path / "pipelines" / "p").run_dir == new
    assert latest_run(tmp_path) == new
    (new / "status.json").write_text(json.dumps({"state": "running", "steps": []}))
    assert DataSource(new).status() == {"state": "running", "steps": []}


def test_a_missing_path_or_split_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match="does not exist"):
        DataSource(tmp_path / "nowhere")
    with pytest.raises(StillroomError, match="No split default/test"):
        DataSource(tmp_path).page("default", "test")
