"""save_to_disk / load_from_disk: distilabel's layout, local folders and fsspec URLs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import fsspec
import pytest
from distiset_helpers import one_leaf_run, two_leaf_run

from stillroom.distiset import Distiset
from stillroom.errors import StillroomError

pytestmark = pytest.mark.timeout(90)


def rows(distiset: Distiset) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {
        name: {split: data.to_list() for split, data in value.items()}
        for name, value in distiset.items()
    }


def test_round_trip_in_distilabels_layout(tmp_path: Path) -> None:
    distiset = one_leaf_run()
    saved = distiset.save_to_disk(tmp_path / "saved")
    assert saved == tmp_path / "saved"
    assert sorted(p.name for p in saved.iterdir()) == ["default", "distiset_configs"]
    configs = saved / "distiset_configs"
    assert sorted(p.name for p in configs.iterdir()) == [
        "README.md",
        "pipeline.log",
        "pipeline.yaml",
    ]
    # each configuration is a folder `datasets` reads on its own
    alone = datasets.load_from_disk(str(saved / "default"))
    assert isinstance(alone, datasets.DatasetDict) and alone["train"].num_rows == 5

    loaded = Distiset.load_from_disk(saved)
    assert isinstance(loaded, Distiset) and rows(loaded) == rows(distiset)
    assert loaded["default"]["train"].features == distiset["default"]["train"].features
    assert loaded.pipeline_path == configs / "pipeline.yaml"
    assert loaded.log_filename_path == configs / "pipeline.log"
    assert loaded.artifacts_path is None
    assert "Pipeline 'one-leaf' completed" in loaded.log_filename_path.read_text()
    card = (configs / "README.md").read_text()
    assert 'stillroom pipeline run --config "distiset_configs/pipeline.yaml"' in card


def test_save_without_card_config_or_log(tmp_path: Path) -> None:
    two_leaf_run().save_to_disk(
        tmp_path / "bare", save_card=False, save_pipeline_config=False, save_pipeline_log=False
    )
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == [
        "distiset_configs",
        "keep_columns_0",
        "text_generation_0",
    ]
    assert list((tmp_path / "bare" / "distiset_configs").iterdir()) == []


def test_shards_and_in_memory_loading(tmp_path: Path) -> None:
    distiset = two_leaf_run(rows=10)
    distiset.save_to_disk(tmp_path / "sharded", num_shards=2)
    arrow_files = sorted((tmp_path / "sharded" / "keep_columns_0" / "train").glob("*.arrow"))
    assert [p.name for p in arrow_files] == [
        "data-00000-of-00002.arrow",
        "data-00001-of-00002.arrow",
    ]
    loaded = Distiset.load_from_disk(tmp_path / "sharded", keep_in_memory=True)
    assert loaded["keep_columns_0"]["train"].cache_files == []  # read into memory
    assert rows(loaded) == rows(distiset)


def test_saving_options_reach_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    original = datasets.DatasetDict.save_to_disk

    def spy(self: datasets.DatasetDict, path: str, **options: Any) -> None:
        seen.append(options)
        original(self, path, **options)

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", spy)
    distiset = two_leaf_run(rows=40)
    distiset.save_to_disk(
        tmp_path / "small", max_shard_size=1000, num_proc=1, storage_options={"auto_mkdir": True}
    )
    assert (
        seen
        == [
            {
                "max_shard_size": 1000,
                "num_shards": None,
                "num_proc": 1,
                "storage_options": {"auto_mkdir": True},
            }
        ]
        * 2
    )
    shards = list((tmp_path / "small" / "text_generation_0" / "train").glob("data-*.arrow"))
    assert len(shards) > 1  # cut at about 1,000 bytes
    assert rows(Distiset.load_from_disk(tmp_path / "small")) == rows(distiset)


def test_round_trip_through_an_fsspec_url(tmp_path: Path) -> None:
    distiset = one_leaf_run()
    url = "memory://bucket/distisets/first"
    assert distiset.save_to_disk(url) == url
    fs = fsspec.filesystem("memory")
    assert fs.isfile("/bucket/distisets/first/distiset_configs/README.md")
    assert fs.isfile("/bucket/distisets/first/default/dataset_dict.json")
    loaded = Distiset.load_from_disk(url, download_dir=tmp_path / "downloaded")
    assert rows(loaded) == rows(distiset)
    assert loaded.pipeline_path == tmp_path / "downloaded" / "distiset_configs" / "pipeline.yaml"
    assert loaded.pipeline_path.read_text() == distiset.pipeline_path.read_text()  # type: ignore[union-attr]
    again = Distiset.load_from_disk(url)  # into a temporary folder
    assert rows(again) == rows(distiset)


def test_a_distiset_saved_by_distilabel_loads(tmp_path: Path) -> None:
    """The folder distilabel 1.5 writes, built by hand: a DatasetDict config, a Dataset
    config, distiset_configs/ and artifacts/."""
    root = tmp_path / "from-distilabel"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"instruction": ["a", "b"], "generation": ["x", "y"]})}
    ).save_to_disk(str(root / "text_generation_0"))
    datasets.Dataset.from_dict({"score": [1, 2, 3]}).save_to_disk(str(root / "scores"))
    (root / "distiset_configs").mkdir()
    (root / "distiset_configs" / "pipeline.yaml").write_text(
        "distilabel:\n  version: 1.5.3\npipeline:\n  name: made-by-distilabel\n"
        "  steps:\n  - step: {type_info: {name: TextGeneration}}\n    name: text_generation_0\n"
        "  connections:\n  - from: text_generation_0\n    to: []\n"
    )
    (root / "distiset_configs" / "pipeline.log").write_text("[01/02/25 10:00:00] INFO a line\n")
    (root / "distiset_configs" / "README.md").write_text("---\ntags: [synthetic]\n---\n# card\n")
    artifact = root / "artifacts" / "text_generation_0" / "figure"
    artifact.mkdir(parents=True)
    (artifact / "metadata.json").write_text(json.dumps({"kind": "plot"}))

    loaded = Distiset.load_from_disk(root)
    assert sorted(loaded) == ["scores", "text_generation_0"]
    assert loaded["text_generation_0"]["train"]["generation"] == ["x", "y"]
    assert isinstance(loaded["scores"], datasets.Dataset) and loaded["scores"]["score"] == [1, 2, 3]
    assert loaded.pipeline_path == root / "distiset_configs" / "pipeline.yaml"
    assert loaded.log_filename_path == root / "distiset_configs" / "pipeline.log"
    assert loaded.artifacts_path == root / "artifacts"

    # and back: stillroom writes the same layout, artifacts included
    loaded.save_to_disk(tmp_path / "again")
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [
        "artifacts",
        "distiset_configs",
        "scores",
        "text_generation_0",
    ]
    assert json.loads(
        (
            tmp_path / "again" / "artifacts" / "text_generation_0" / "figure" / "metadata.json"
        ).read_text()
    ) == {"kind": "plot"}
    card = (tmp_path / "again" / "distiset_configs" / "README.md").read_text()
    assert "text_generation_0<br/>TextGeneration" in card
    assert "step `text_generation_0`, artifact `figure`" in card


def test_a_run_data_folder_loads_directly() -> None:
    distiset = one_leaf_run()
    data_dir = Path(distiset["default"]["train"].cache_files[0]["filename"]).parents[2]
    assert data_dir.name == "data"
    assert rows(Distiset.load_from_disk(data_dir)) == rows(distiset)


def test_loading_errors_say_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(StillroomError, match=r"'.*nowhere' is not a folder"):
        Distiset.load_from_disk(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StillroomError, match=r"holds no dataset: expected one folder per"):
        Distiset.load_from_disk(tmp_path / "empty")
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"a": [1]})}).save_to_disk(
        str(tmp_path / "plain")
    )
    with pytest.raises(
        StillroomError, match=r"saved by datasets' save_to_disk.*datasets.load_from_disk"
    ):
        Distiset.load_from_disk(tmp_path / "plain")
