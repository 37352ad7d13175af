"""Column types of the Arrow file built from a run's JSON lines (`distiset/arrow_files.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from stillroom.distiset.arrow_files import write_arrow


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _read(target: Path) -> pa.Table:
    with pa.OSFile(str(target)) as source:
        return pa.ipc.open_stream(source).read_all()


def test_strings_that_look_like_dates_stay_strings_at_any_depth(tmp_path: Path) -> None:
    rows = [
        {"at": "2024-01-01 10:00:00", "meta": {"on": "2024-01-02"}, "tags": ["2024-01-03"]},
        {"at": "2024-02-01 11:00:00", "meta": {"on": "2024-02-02"}, "tags": []},
    ]
    source = _write(tmp_path / "00000.jsonl", rows)
    assert write_arrow([source], tmp_path / "out.arrow") == 2
    table = _read(tmp_path / "out.arrow")
    assert table.schema.field("at").type == pa.string()
    assert table.schema.field("meta").type == pa.struct([pa.field("on", pa.string())])
    assert table.schema.field("tags").type == pa.list_(pa.string())
    assert table.to_pylist() == rows


def test_types_unify_across_files_and_a_column_changing_type_becomes_text(
    tmp_path: Path,
) -> None:
    first = _write(tmp_path / "00000.jsonl", [{"n": 1, "x": "a"}, {"n": 2, "x": "b"}])
    second = _write(tmp_path / "00001.jsonl", [{"n": 2.5, "x": 3}, {"n": None, "y": True}])
    assert write_arrow([first, second], tmp_path / "out.arrow") == 4
    table = _read(tmp_path / "out.arrow")
    assert table.schema.field("n").type == pa.float64()  # int and float: float
    assert table.schema.field("x").type == pa.string()  # text and a number: JSON text
    assert table.column("x").to_pylist() == ["a", "b", "3", None]
    assert table.column("y").to_pylist() == [None, None, None, True]
