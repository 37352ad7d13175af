"""LoadDataFromHub: with a small local dataset through `datasets`, with a fake, and without it."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from stillroom.errors import MissingExtraError, StillroomError
from stillroom.steps import LoadDataFromHub

ROWS = [{"instruction": f"q{i} ✓", "id": i} for i in range(5)]


class FakeDataset:
    """What LoadDataFromHub uses of `datasets.Dataset` / `IterableDataset`."""

    def __init__(self, rows: list[dict], streaming: bool) -> None:
        self.rows = rows
        self.streaming = streaming
        self.column_names = list(rows[0]) if rows else []

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, indices: range) -> FakeDataset:
        return FakeDataset([self.rows[i] for i in indices], self.streaming)

    def take(self, n: int) -> FakeDataset:
        return FakeDataset(self.rows[:n], self.streaming)

    def skip(self, n: int) -> FakeDataset:
        return FakeDataset(self.rows[n:], self.streaming)

    def iter(self, batch_size: int):
        for start in range(0, len(self.rows), batch_size):
            chunk = self.rows[start : start + batch_size]
            yield {c: [r[c] for r in chunk] for c in self.column_names}


@pytest.fixture
def fake_datasets(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []
    module = types.ModuleType("datasets")

    def load_dataset(path, name=None, **kwargs):
        calls.append({"path": path, "name": name, **kwargs})
        return FakeDataset(ROWS, kwargs["streaming"])

    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)
    return calls


@pytest.mark.parametrize("streaming", [False, True])
def test_batches_offset_and_num_examples(fake_datasets: list[dict], streaming: bool) -> None:
    loader = LoadDataFromHub(
        repo_id="org/data", config="cfg", revision="v1", streaming=streaming, batch_size=2
    )
    loader.load()
    assert fake_datasets == [
        {
            "path": "org/data",
            "name": "cfg",
            "split": "train",
            "revision": "v1",
            "streaming": streaming,
            "storage_options": None,
        }
    ]
    assert loader.outputs == ["instruction", "id"]
    batches = list(loader.process())
    assert [len(rows) for rows, _ in batches] == [2, 2, 1]
    assert [last for _, last in batches] == [False, False, True]
    assert batches[0][0][0] == {"instruction": "q0 ✓", "id": 0}
    resumed = [r["id"] for rows, _ in loader.process(offset=3) for r in rows]
    assert resumed == [3, 4]

    limited = LoadDataFromHub(repo_id="org/data", streaming=streaming, num_examples=3)
    limited.load()
    assert [r["id"] for rows, _ in limited.process() for r in rows] == [0, 1, 2]


def test_offset_past_the_end_gives_one_empty_last_batch(fake_datasets: list[dict]) -> None:
    loader = LoadDataFromHub(repo_id="org/data")
    loader.load()
    assert list(loader.process(offset=50)) == [([], True)]


def test_repo_id_is_a_required_runtime_parameter(fake_datasets: list[dict]) -> None:
    loader = LoadDataFromHub()
    names = loader.runtime_parameters_names
    assert names["repo_id"] is False
    assert all(names[p] for p in ("split", "config", "revision", "streaming", "num_examples"))
    assert loader.outputs == []
    with pytest.raises(StillroomError, match="set repo_id"):
        loader.load()


def test_missing_datasets_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'stillroom\[hf\]'") as info:
        LoadDataFromHub(repo_id="org/data").load()
    assert info.value.package == "datasets"


CARD = """---
dataset_info:
  features:
  - name: instruction
    dtype: string
  - name: id
    dtype: int64
---
"""


@pytest.mark.timeout(120)
def test_real_datasets_on_a_local_dataset_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "my-dataset"
    folder.mkdir()
    for split, rows in (("train", ROWS), ("test", ROWS[:2])):
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (folder / f"{split}.jsonl").write_text(lines, "utf-8")
    plain = LoadDataFromHub(repo_id=str(folder))
    assert plain.outputs == []  # JSON files declare no columns until read
    (folder / "README.md").write_text(CARD, "utf-8")

    loader = LoadDataFromHub(repo_id=str(folder), batch_size=3)
    assert loader.outputs == ["instruction", "id"]  # from the dataset card, before load()
    loader.load()
    batches = list(loader.process())
    assert [rows for rows, _ in batches] == [ROWS[:3], ROWS[3:]]
    assert [last for _, last in batches] == [False, True]

    test_split = LoadDataFromHub(repo_id=str(folder), split="test", streaming=True)
    test_split.load()
    assert [r for rows, _ in test_split.process() for r in rows] == ROWS[:2]
