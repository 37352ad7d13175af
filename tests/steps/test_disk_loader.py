"""LoadDataFromDisk: `datasets` folders, Distisets saved by a run (local or fsspec), errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import stillroom.steps
from stillroom.distiset import Distiset
from stillroom.errors import StillroomError
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts, LoadDataFromDisk
from stillroom.steps.tasks import TextGeneration
from stillroom.utils.serialization import Serializable

pytestmark = pytest.mark.timeout(60)

ROWS = [{"instruction": f"q{i} ✓", "id": i} for i in range(5)]


def all_rows(loader: LoadDataFromDisk, offset: int = 0) -> list[dict[str, Any]]:
    return [row for rows, _ in loader.process(offset=offset) for row in rows]


@pytest.fixture
def saved_dataset(tmp_path: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "plain"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(path))
    return path


@pytest.fixture
def saved_dict(tmp_path: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "dict"
    splits = {
        "train": datasets.Dataset.from_list(ROWS),
        "test": datasets.Dataset.from_list([{"question": "t0"}, {"question": "t1"}]),
    }
    datasets.DatasetDict(splits).save_to_disk(str(path))
    return path


@pytest.fixture
def saved_distiset(tmp_path: Path) -> Path:
    """A Distiset made by a tiny run, saved elsewhere with `save_to_disk`."""
    with Pipeline(name="make-distiset") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(7)], batch_size=3)
        load >> TextGeneration(llm=MockLLM(responses=lambda m: "re " + m[-1]["content"]))
    return pipeline.run(progress=False).save_to_disk(tmp_path / "saved-distiset")


def test_a_saved_dataset_in_batches_with_offset_and_num_examples(saved_dataset: Path) -> None:
    loader = LoadDataFromDisk(dataset_path=saved_dataset, batch_size=2)
    assert loader.outputs == ["instruction", "id"]  # read before load()
    loader.load()
    batches = list(loader.process())
    assert [rows for rows, _ in batches] == [ROWS[:2], ROWS[2:4], ROWS[4:]]
    assert [last for _, last in batches] == [False, False, True]
    assert all_rows(loader, offset=3) == ROWS[3:]
    assert list(loader.process(offset=50)) == [([], True)]

    limited = LoadDataFromDisk(dataset_path=str(saved_dataset), num_examples=3, batch_size=2)
    limited.load()
    assert all_rows(limited) == ROWS[:3]
    assert all_rows(limited, offset=2) == ROWS[2:3]


def test_a_saved_dataset_dict_reads_train_or_the_split_asked_for(saved_dict: Path) -> None:
    train = LoadDataFromDisk(dataset_path=saved_dict, keep_in_memory=True)
    train.load()
    assert train.outputs == ["instruction", "id"]
    assert all_rows(train) == ROWS

    test = LoadDataFromDisk(dataset_path=saved_dict, split="test")
    assert test.outputs == ["question"]
    test.load()
    assert all_rows(test) == [{"question": "t0"}, {"question": "t1"}]


def test_a_missing_split_lists_the_available_ones(saved_dict: Path) -> None:
    loader = LoadDataFromDisk(dataset_path=saved_dict, split="tset")
    assert loader.outputs == []  # unknown until the error is fixed
    with pytest.raises(StillroomError, match=r"no split 'tset'.*train, test.*'test'") as info:
        loader.load()
    assert "load_data_from_disk" in str(info.value)


def test_no_train_split_and_several_splits_asks_for_one(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "no-train"
    one = datasets.Dataset.from_list(ROWS)
    datasets.DatasetDict({"a": one, "b": one}).save_to_disk(str(path))
    with pytest.raises(StillroomError, match=r"several splits \(a, b\).*set split"):
        LoadDataFromDisk(dataset_path=path).load()
    datasets.DatasetDict({"only": one}).save_to_disk(str(tmp_path / "single"))
    only = LoadDataFromDisk(dataset_path=tmp_path / "single", num_examples=1)
    only.load()
    assert all_rows(only) == ROWS[:1]


def test_a_single_dataset_has_no_split_to_choose(saved_dataset: Path) -> None:
    with pytest.raises(StillroomError, match=r"single dataset.*leave split unset"):
        LoadDataFromDisk(dataset_path=saved_dataset, split="test").load()


def test_path_and_source_errors_name_the_step(tmp_path: Path, saved_distiset: Path) -> None:
    with pytest.raises(StillroomError, match=r"LoadDataFromDisk.*set dataset_path"):
        LoadDataFromDisk().load()
    with pytest.raises(FileNotFoundError, match=r"LoadDataFromDisk.*'.*nowhere' does not exist"):
        LoadDataFromDisk(dataset_path=tmp_path / "nowhere").load()
    with pytest.raises(StillroomError, match="is_distiset=True"):
        LoadDataFromDisk(dataset_path=saved_distiset, config="default").load()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StillroomError, match=r"holds no Distiset.*one folder per configuration"):
        LoadDataFromDisk(dataset_path=empty, is_distiset=True).load()


def test_a_distiset_folder_without_is_distiset_says_to_set_it(saved_distiset: Path) -> None:
    pytest.importorskip("datasets")
    with pytest.raises(StillroomError, match="set is_distiset=True"):
        LoadDataFromDisk(dataset_path=saved_distiset).load()


def test_a_datasets_folder_read_as_a_distiset_says_to_unset_it(saved_dict: Path) -> None:
    with pytest.raises(StillroomError, match="saved by datasets: set is_distiset=False"):
        LoadDataFromDisk(dataset_path=saved_dict, is_distiset=True).load()


def test_a_distiset_saved_by_a_run_feeds_a_second_pipeline(saved_distiset: Path) -> None:
    with Pipeline(name="read-distiset") as pipeline:
        load = LoadDataFromDisk(dataset_path=saved_distiset, is_distiset=True, batch_size=2)
        load >> TextGeneration(
            llm=MockLLM(responses=lambda m: m[-1]["content"].upper()),
            input_mappings={"instruction": "generation"},
        )
    distiset = pipeline.run(progress=False)
    rows = distiset["default"]["train"].to_list()
    assert [(r["instruction"], r["generation"]) for r in rows] == [
        (f"q{i}", f"RE Q{i}") for i in range(7)
    ]


def test_distiset_batches_offset_configs_and_splits(saved_distiset: Path) -> None:
    loader = LoadDataFromDisk(dataset_path=saved_distiset, is_distiset=True, batch_size=3)
    columns = loader.outputs
    assert {"instruction", "generation", "model_name"} <= set(columns)
    loader.load()
    batches = list(loader.process())
    assert [len(rows) for rows, _ in batches] == [3, 3, 1]
    assert [last for _, last in batches] == [False, False, True]
    assert [r["instruction"] for r in all_rows(loader, offset=5)] == ["q5", "q6"]

    in_memory = LoadDataFromDisk(
        dataset_path=saved_distiset, is_distiset=True, keep_in_memory=True, num_examples=4
    )
    in_memory.load()
    assert [r["instruction"] for r in all_rows(in_memory, offset=1)] == ["q1", "q2", "q3"]

    with pytest.raises(StillroomError, match=r"no config 'other'.*available: default"):
        LoadDataFromDisk(dataset_path=saved_distiset, is_distiset=True, config="other").load()
    with pytest.raises(StillroomError, match=r"no split 'test'.*available: train"):
        LoadDataFromDisk(dataset_path=saved_distiset, is_distiset=True, split="test").load()


def test_a_several_leaf_distiset_needs_a_config(tmp_path: Path) -> None:
    with Pipeline(name="two-leaves") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "q"}])
        load >> [
            TextGeneration(name="first", llm=MockLLM(responses="1")),
            TextGeneration(name="second", llm=MockLLM(responses="2")),
        ]
    saved = pipeline.run(progress=False).save_to_disk(tmp_path / "two")
    with pytest.raises(StillroomError, match=r"several configs \(first, second\)"):
        LoadDataFromDisk(dataset_path=saved, is_distiset=True).load()
    second = LoadDataFromDisk(dataset_path=saved, is_distiset=True, config="second")
    second.load()
    assert [r["generation"] for r in all_rows(second)] == ["2"]


def test_a_distiset_saved_to_an_fsspec_url_is_read_through_it(saved_distiset: Path) -> None:
    distiset = Distiset.load_from_disk(saved_distiset)
    distiset.save_to_disk("memory://loader-test/saved")
    loader = LoadDataFromDisk(
        dataset_path="memory://loader-test/saved", is_distiset=True, batch_size=5
    )
    assert {"instruction", "generation"} <= set(loader.outputs)
    loader.load()
    assert [r["instruction"] for r in all_rows(loader)] == [f"q{i}" for i in range(7)]


def test_runtime_parameters_export_dump_and_secrets() -> None:
    secret = {"key": "AKIA-not-a-real-key"}
    loader = LoadDataFromDisk(dataset_path="data/x", is_distiset=True, storage_options=secret)
    names = loader.runtime_parameters_names
    assert names["dataset_path"] is False
    optional = ("split", "config", "is_distiset", "keep_in_memory", "num_examples", "batch_size")
    assert all(names[p] for p in (*optional, "storage_options"))
    assert stillroom.steps.generators.huggingface.LoadDataFromDisk is LoadDataFromDisk
    assert "LoadDataFromDisk" in stillroom.steps.__all__
    clone = Serializable.from_dict(loader.dump())
    assert type(clone) is LoadDataFromDisk and clone.dump() == loader.dump()
    assert "AKIA" not in str(loader.dump()) + repr(loader)


def test_loaded_rows_come_from_the_distiset_api(saved_distiset: Path) -> None:
    expected = Distiset.load_from_disk(saved_distiset)["default"]["train"].to_list()
    loader = LoadDataFromDisk(dataset_path=saved_distiset, is_distiset=True, batch_size=4)
    loader.load()
    assert all_rows(loader) == expected
