"""LoadDataFromFileSystem: formats, globs, directories, batches, offsets and errors."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from stillroom.errors import InvalidRowsError, MissingExtraError, NotLoadedError, StillroomError
from stillroom.steps import LoadDataFromFileSystem


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def load_all(**kwargs) -> list[tuple[list[dict], bool]]:
    loader = LoadDataFromFileSystem(**kwargs)
    loader.load()
    return list(loader.process())


def rows_of(batches: list[tuple[list[dict], bool]]) -> list[dict]:
    return [row for rows, _ in batches for row in rows]


def test_jsonl_in_batches_with_last_flag(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"i": i, "t": f"ü{i}"} for i in range(5)])
    batches = load_all(data_files=path, batch_size=2)
    assert [len(rows) for rows, _ in batches] == [2, 2, 1]
    assert [last for _, last in batches] == [False, False, True]
    assert rows_of(batches)[4] == {"i": 4, "t": "ü4"}


def test_exact_multiple_of_batch_size_and_empty_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"i": i} for i in range(4)])
    assert [last for _, last in load_all(data_files=path, batch_size=2)] == [False, True]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert load_all(data_files=str(empty)) == [([], True)]


def test_glob_directory_and_list_are_read_in_sorted_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "b.jsonl", [{"f": "b"}])
    write_jsonl(tmp_path / "a.jsonl", [{"f": "a"}])
    write_jsonl(tmp_path / "sub" / "c.jsonl", [{"f": "c"}])
    write_jsonl(tmp_path / ".hidden.jsonl", [{"f": "hidden"}])
    (tmp_path / "notes.txt").write_text("not data")
    assert [r["f"] for r in rows_of(load_all(data_files=f"{tmp_path}/*.jsonl"))] == ["a", "b"]
    assert [r["f"] for r in rows_of(load_all(data_files=f"{tmp_path}/**/*.jsonl"))] == [
        "a",
        "b",
        "c",
    ]
    assert [r["f"] for r in rows_of(load_all(data_files=tmp_path))] == ["a", "b", "c"]
    listed = [tmp_path / "sub" / "c.jsonl", str(tmp_path / "a.jsonl")]
    assert [r["f"] for r in rows_of(load_all(data_files=listed))] == ["c", "a"]


def test_json_array_object_and_json_lines_in_a_json_file(tmp_path: Path) -> None:
    (tmp_path / "array.json").write_text(json.dumps([{"a": 1}, {"a": 2}]))
    (tmp_path / "one.json").write_text(json.dumps({"a": [1, 2]}, indent=2))
    (tmp_path / "lines.json").write_text('{"a": 1}\n{"a": 2}\n')
    assert rows_of(load_all(data_files=tmp_path / "array.json")) == [{"a": 1}, {"a": 2}]
    assert rows_of(load_all(data_files=tmp_path / "one.json")) == [{"a": [1, 2]}]
    assert rows_of(load_all(data_files=tmp_path / "lines.json")) == [{"a": 1}, {"a": 2}]


def test_csv_and_tsv_values_are_strings(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text('q,n\n"a, b",1\nc,\n', "utf-8")
    (tmp_path / "d.tsv").write_text("q\tn\nx\t2\n", "utf-8")
    assert rows_of(load_all(data_files=tmp_path / "d.csv")) == [
        {"q": "a, b", "n": "1"},
        {"q": "c", "n": ""},
    ]
    assert rows_of(load_all(data_files=tmp_path / "d.tsv")) == [{"q": "x", "n": "2"}]
    (tmp_path / "bad.csv").write_text("q\na,b\n")
    with pytest.raises(InvalidRowsError, match="more fields than the header"):
        load_all(data_files=tmp_path / "bad.csv")


def test_gzip_and_filetype_override(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "d.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write('{"a": "ζ"}\n')
    assert rows_of(load_all(data_files=tmp_path / "d.jsonl.gz")) == [{"a": "ζ"}]
    (tmp_path / "data.txt").write_text('{"a": 1}\n')
    with pytest.raises(StillroomError, match="set filetype"):
        load_all(data_files=tmp_path / "data.txt")
    assert rows_of(load_all(data_files=tmp_path / "data.txt", filetype="jsonl")) == [{"a": 1}]
    with pytest.raises(StillroomError, match="unknown filetype 'xml'"):
        load_all(data_files=tmp_path / "data.txt", filetype="xml")


def test_parquet_in_record_batches(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": list(range(7)), "text": [f"t{i}" for i in range(7)]})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=3)
    loader = LoadDataFromFileSystem(data_files=tmp_path / "d.parquet", batch_size=3)
    assert loader.outputs == ["id", "text"]  # from the schema, before load()
    loader.load()
    batches = list(loader.process(offset=2))
    assert [r["id"] for r in rows_of(batches)] == [2, 3, 4, 5, 6]
    assert [len(rows) for rows, _ in batches] == [3, 2]


def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"stillroom\[parquet\]"):
        load_all(data_files=tmp_path / "d.parquet")


def test_offset_num_examples_and_missing_columns(tmp_path: Path) -> None:
    rows = [{"a": 0, "b": "x"}, {"a": 1}, {"a": 2, "b": "z", "c": True}, {"a": 3, "b": "w"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    loader = LoadDataFromFileSystem(data_files=path, num_examples=3, batch_size=10)
    assert loader.outputs == ["a", "b"]
    loader.load()
    assert rows_of(list(loader.process(offset=1))) == [
        {"a": 1, "b": None},
        {"a": 2, "b": "z", "c": True},
    ]


def test_rows_are_streamed_not_read_up_front(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"i": i}) + "\n" for i in range(6)) + "{broken\n")
    loader = LoadDataFromFileSystem(data_files=path, batch_size=2)
    loader.load()
    batches = loader.process()
    assert next(batches) == ([{"i": 0}, {"i": 1}], False)  # served before the bad line is read
    with pytest.raises(InvalidRowsError, match=r"line 7 is not valid JSON"):
        list(batches)


def test_non_object_rows_and_bad_json(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(InvalidRowsError, match="line 2 holds a JSON list"):
        load_all(data_files=tmp_path / "d.jsonl")
    (tmp_path / "d.json").write_text("[{]")
    with pytest.raises(InvalidRowsError, match="not valid JSON"):
        load_all(data_files=tmp_path / "d.json")


def test_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match="set data_files"):
        LoadDataFromFileSystem().load()
    with pytest.raises(FileNotFoundError, match="matches no data file"):
        LoadDataFromFileSystem(data_files=tmp_path / "nope.jsonl").load()
    with pytest.raises(FileNotFoundError, match="matches no data file"):
        LoadDataFromFileSystem(data_files=f"{tmp_path}/*.csv").load()
    path = write_jsonl(tmp_path / "d.jsonl", [{"a": 1}])
    with pytest.raises(StillroomError, match="single split named 'train'"):
        LoadDataFromFileSystem(data_files=path, split="test").load()
    with pytest.raises(NotLoadedError):
        next(LoadDataFromFileSystem(data_files=path).process())


def test_runtime_parameters_match_distilabel(tmp_path: Path) -> None:
    loader = LoadDataFromFileSystem()
    names = loader.runtime_parameters_names
    assert names["data_files"] is False  # required
    for optional in ("batch_size", "split", "streaming", "num_examples", "filetype"):
        assert names[optional] is True
    path = write_jsonl(tmp_path / "d.jsonl", [{"a": 1}])
    loader.set_runtime_parameters({"data_files": str(path), "batch_size": 1})
    loader.load()
    assert list(loader.process()) == [([{"a": 1}], True)]


def test_remote_paths_through_fsspec() -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/stillroom-test/part-1.jsonl", b'{"a": 1}\n')
    fs.pipe("/stillroom-test/part-2.jsonl", b'{"a": 2}\n')
    try:
        rows = rows_of(load_all(data_files="memory://stillroom-test/*.jsonl"))
        assert rows == [{"a": 1}, {"a": 2}]
        assert rows_of(load_all(data_files="memory://stillroom-test")) == rows
    finally:
        fs.rm("/stillroom-test", recursive=True)
