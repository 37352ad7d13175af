"""A run's Distiset builds its datasets when a value is first used, and no caller of the
dict's API ever sees a value that is not built."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pytest
from distiset_helpers import one_leaf_run, two_leaf_run

from stillroom.distiset import Distiset
from stillroom.distiset.pending import PendingLeaf
from stillroom.errors import StillroomError

pytestmark = pytest.mark.timeout(90)

SRC = Path(__file__).resolve().parents[2] / "src"


def _stored(distiset: dict[str, Any]) -> list[Any]:
    """The values as stored, read past the Distiset's own methods."""
    return list(dict.values(distiset))


def _pending(distiset: Distiset) -> bool:
    return all(isinstance(v, PendingLeaf) for v in _stored(distiset))


def test_a_run_imports_datasets_only_when_a_value_is_used(tmp_path: Path) -> None:
    script = """
import sys
from stillroom.models import MockLLM
from stillroom.pipeline import Pipeline
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration

with Pipeline(name="lazy") as pipeline:
    LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(7)]) >> TextGeneration(
        llm=MockLLM(responses="ok")
    )
distiset = pipeline.run(progress=False)
seen = lambda: "datasets" in sys.modules
print(seen(), isinstance(distiset, dict), len(distiset), list(distiset), "default" in distiset,
      list(distiset.keys()), distiset.summary.completed, seen())
train = distiset["default"]["train"]
print(seen(), type(distiset["default"]).__name__, train.num_rows)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={
            "PYTHONPATH": str(SRC),
            "PATH": "/usr/bin:/bin",
            "STILLROOM_CACHE_DIR": str(tmp_path),
            "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(tmp_path / "hf"),
        },
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.splitlines()
    assert before == "False True 1 ['default'] True ['default'] True False"
    assert after == "True DatasetDict 7"


def test_names_are_known_without_building_anything() -> None:
    distiset = two_leaf_run()
    assert _pending(distiset)
    assert isinstance(distiset, dict) and len(distiset) == 2
    assert sorted(distiset) == ["keep_columns_0", "text_generation_0"]
    assert "keep_columns_0" in distiset and "nope" not in distiset
    assert list(distiset.keys()) == list(distiset) and list(reversed(distiset))
    assert distiset.summary is not None and distiset.log_filename_path is not None
    assert _pending(distiset)


def _values_of(result: Any) -> list[Any]:
    """The leaf values an operation handed out, whatever its shape."""
    if isinstance(result, datasets.DatasetDict):
        return [result]
    if isinstance(result, dict):
        return list(dict.values(result))
    if isinstance(result, tuple):  # an item
        return [result[1]]
    if isinstance(result, list):
        return [v[1] if isinstance(v, tuple) else v for v in result]
    return [result]


def _update(d: Distiset) -> dict[str, Any]:
    target: dict[str, Any] = {}
    target.update(d)
    return target


OPERATIONS: dict[str, Callable[[Distiset], Any]] = {
    "getitem": lambda d: d["keep_columns_0"],
    "get": lambda d: d.get("keep_columns_0"),
    "values": lambda d: list(d.values()),
    "items": lambda d: list(d.items()),
    "iterate items": lambda d: [(k, v) for k, v in d.items()],
    "dict()": dict,
    "unpacking": lambda d: {**d},
    "keyword unpacking": lambda d: (lambda **kw: kw)(**d),
    "update": _update,
    "or": lambda d: d | {},
    "reflected or": lambda d: {} | d,
    "copy": lambda d: d.copy(),
    "copy.copy": copy.copy,
    "pickle": lambda d: pickle.loads(pickle.dumps(d)),
    "pop": lambda d: d.pop("keep_columns_0"),
    "pop default": lambda d: (d.pop("nope", None), d["keep_columns_0"])[1],
    "popitem": lambda d: d.popitem(),
    "setdefault": lambda d: d.setdefault("keep_columns_0"),
    "Distiset()": Distiset,
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_way_of_reading_values_gives_built_datasetdicts(operation: str) -> None:
    distiset = two_leaf_run()
    assert _pending(distiset)
    result = OPERATIONS[operation](distiset)
    values = _values_of(result)
    assert values and all(isinstance(v, datasets.DatasetDict) for v in values), values
    assert all(isinstance(v, datasets.DatasetDict) for v in _stored(distiset))
    if operation in ("pickle", "copy.copy"):
        assert isinstance(result, Distiset) and result.summary == distiset.summary
        assert result["keep_columns_0"]["train"]["instruction"] == [f"q{i}" for i in range(6)]
        assert result.log_filename_path == distiset.log_filename_path
        assert result.pipeline is None  # the pipeline object stays behind


def test_a_pickled_distiset_carries_its_pipeline_yaml() -> None:
    distiset = one_leaf_run()
    assert distiset.pipeline is not None
    restored = pickle.loads(pickle.dumps(distiset))
    assert restored.pipeline_path is not None and restored.pipeline_path.is_file()
    assert restored.pipeline_path == distiset.pipeline_path
    assert restored["default"]["train"]["generation"] == ["ok"] * 5


def test_json_repr_and_comparisons_see_built_values() -> None:
    distiset = two_leaf_run()
    text = json.dumps(distiset, default=lambda v: type(v).__name__)  # a DatasetDict is a dict
    assert json.loads(text) == {
        "text_generation_0": {"train": "Dataset"},
        "keep_columns_0": {"train": "Dataset"},
    }

    distiset = two_leaf_run()
    assert "PendingLeaf" not in repr(distiset) and "num_rows: 6" in repr(distiset)

    distiset = two_leaf_run()
    assert distiset != {"keep_columns_0": None, "text_generation_0": None}
    assert distiset == dict(distiset)
    assert (distiset != dict(distiset)) is False

    first = one_leaf_run()
    other = Distiset()  # shares the first's pending leaf: comparing builds both
    other._set_pending("default", dict.__getitem__(first, "default"))
    assert first != other  # two datasets.Dataset objects compare by identity
    assert all(isinstance(v, datasets.DatasetDict) for v in _stored(first) + _stored(other))


def test_threads_asking_at_once_get_the_same_datasets() -> None:
    distiset = two_leaf_run()
    seen: list[Any] = []
    threads = [
        threading.Thread(target=lambda: seen.append(distiset["text_generation_0"]))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(seen) == 4 and all(value is seen[0] for value in seen)


def test_files_changed_before_first_use_raise_instead_of_showing_other_rows() -> None:
    distiset = one_leaf_run(rows=3)
    (leaf,) = _stored(distiset)
    (split,) = leaf.splits
    with open(split.files[0], "a") as handle:
        handle.write('{"instruction": "from another run", "generation": "x"}\n')
    with pytest.raises(StillroomError, match=r"changed or were removed after the run"):
        distiset["default"]


def test_a_removed_run_folder_is_reported(tmp_path: Path) -> None:
    distiset = one_leaf_run(rows=3)
    (leaf,) = _stored(distiset)
    for path in leaf.splits[0].files:
        path.unlink()
    with pytest.raises(StillroomError, match=r"another process, or its cache folder deleted"):
        list(distiset.values())


def test_a_distiset_not_used_before_the_next_run_keeps_its_rows() -> None:
    first = one_leaf_run(rows=3)
    (leaf,) = _stored(first)
    other_pipeline, other_rows = two_leaf_run(), one_leaf_run(rows=4)  # other folders
    assert _pending(first) and _pending(other_pipeline) and _pending(other_rows)
    second = one_leaf_run(rows=3)  # the same pipeline and rows: its files are written again
    assert not _pending(first)  # built when the second run started
    assert _pending(second) and _pending(other_rows)
    assert dict.__getitem__(second, "default").splits[0].folder == leaf.splits[0].folder
    assert first["default"]["train"]["instruction"] == ["q0", "q1", "q2"]
    assert second["default"]["train"]["instruction"] == ["q0", "q1", "q2"]


def test_a_next_run_goes_on_when_an_earlier_distiset_cannot_be_built(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = one_leaf_run(rows=3)
    (leaf,) = _stored(first)
    leaf.splits[0].files[0].unlink()
    with caplog.at_level(logging.WARNING, logger="stillroom.distiset"):
        second = one_leaf_run(rows=3)
    assert "an earlier run's Distiset" in caplog.text and "could not be built" in caplog.text
    assert second["default"]["train"].num_rows == 3
    with pytest.raises(StillroomError, match=r"changed or were removed"):
        first["default"]


def test_saving_and_splitting_build_the_values(tmp_path: Path) -> None:
    distiset = two_leaf_run(rows=10)
    distiset.save_to_disk(tmp_path / "saved", save_card=False)
    loaded = Distiset.load_from_disk(tmp_path / "saved")
    assert loaded["keep_columns_0"]["train"].num_rows == 10
    split = two_leaf_run(rows=10).train_test_split(train_size=0.5, seed=0)
    assert {s: d.num_rows for s, d in split["keep_columns_0"].items()} == {"train": 5, "test": 5}
