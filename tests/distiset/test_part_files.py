"""A leaf written as several Parquet part files in one folder (as a distributed writer
leaves it) reads as one dataset, in the parts' order, built lazily and memory-mapped."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets.table import MemoryMappedTable

from stillroom.distiset.create import create_distiset, pending_distiset
from stillroom.distiset.pending import PendingLeaf

pytestmark = pytest.mark.timeout(60)


def _part(path: Path, rows: list[dict[str, object]], schema: pa.Schema | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _write_parts(folder: Path) -> None:
    """Three parts named as a writer numbering without zero padding would, whose schemas
    differ: a column all null in one part, missing from another, a nested column."""
    _part(
        folder / "part-10.parquet",
        [{"id": 4, "score": 0.5, "meta": {"model": "m", "tokens": 3}}],
    )
    _part(
        folder / "part-2.parquet",
        [{"id": 2, "score": None, "meta": {"model": "m", "tokens": 1}}, {"id": 3, "score": None}],
        schema=pa.schema(
            [
                ("id", pa.int64()),
                ("score", pa.null()),
                ("meta", pa.struct([("model", pa.string()), ("tokens", pa.int64())])),
            ]
        ),
    )
    _part(folder / "part-1.parquet", [{"id": 1, "score": 1.0}])
    (folder / ".part-11.parquet.tmp").write_bytes(b"half written")


@pytest.mark.parametrize("layout", ["split folder", "leaf folder"])
def test_parquet_parts_read_as_one_memory_mapped_dataset_on_first_use(
    tmp_path: Path, layout: str
) -> None:
    data = tmp_path / "data"
    folder = data / "generate" / "train" if layout == "split folder" else data / "generate"
    _write_parts(folder)

    distiset = pending_distiset(data)
    (leaf,) = dict.values(distiset)
    assert isinstance(leaf, PendingLeaf) and list(distiset) == ["default"]
    arrow = data / ".arrow" / "generate" / "train.arrow"
    assert not arrow.exists()  # nothing built before a value is used

    train = distiset["default"]["train"]
    assert arrow.is_file()
    assert isinstance(train.data, MemoryMappedTable)
    assert [f["filename"] for f in train.cache_files] == [str(arrow)]
    assert train["id"] == [1, 2, 3, 4]  # part-1, part-2, part-10
    assert train["score"] == [1.0, None, None, 0.5]
    assert train.features["score"] == datasets.Value("float64")
    assert train["meta"] == [None, {"model": "m", "tokens": 1}, None, {"model": "m", "tokens": 3}]

    assert create_distiset(data)["default"]["train"]["id"] == [1, 2, 3, 4]


def test_many_parts_stay_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "leaf" / "train"
    for index in range(25):
        _part(folder / f"{index}.parquet", [{"row": index * 2}, {"row": index * 2 + 1}])
    train = pending_distiset(tmp_path / "data")["default"]["train"]
    assert train["row"] == list(range(50))


def test_load_from_disk_reads_a_data_folder_of_part_files(tmp_path: Path) -> None:
    from stillroom.distiset import Distiset

    _write_parts(tmp_path / "data" / "generate")
    loaded = Distiset.load_from_disk(tmp_path / "data")
    assert loaded["generate"]["train"]["id"] == [1, 2, 3, 4]
