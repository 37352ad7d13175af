"""A run's Distiset: Hugging Face datasets memory-mapped from the run's files."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from distiset_helpers import one_leaf_run, two_leaf_run

from stillroom.distiset import Distiset, create_distiset
from stillroom.errors import MissingExtraError, StillroomError

pytestmark = pytest.mark.timeout(90)

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_run_returns_a_dict_of_datasetdicts_mapped_from_arrow_files() -> None:
    distiset = two_leaf_run()
    assert isinstance(distiset, dict) and set(distiset) == {"text_generation_0", "keep_columns_0"}
    generated = distiset["text_generation_0"]
    assert isinstance(generated, datasets.DatasetDict) and list(generated) == ["train"]
    train = generated["train"]
    assert isinstance(train, datasets.Dataset) and train.num_rows == 6
    (cache_file,) = train.cache_files
    assert cache_file["filename"].endswith("/data/.arrow/text_generation_0/train.arrow")
    assert train.features["instruction"] == datasets.Value("string")
    # a string that looks like a date stays a string
    assert train.features["when"] == datasets.Value("string") and train[0]["when"] == "2024-01-01"
    # datasets' own API works on it
    assert train.filter(lambda r: r["generation"] is None)["instruction"] == ["q3"]
    assert train.map(lambda r: {"n": len(r["instruction"])})["n"] == [2] * 6
    assert train.select([5, 0])["instruction"] == ["q5", "q0"]
    failed = train[3]["stillroom_metadata"]
    assert "RuntimeError: no answer" in failed["error_text_generation_0"]
    assert distiset["keep_columns_0"]["train"].column_names == ["instruction"]


def test_one_leaf_is_default_and_the_run_folder_has_its_log_and_pipeline(tmp_path: Path) -> None:
    distiset = one_leaf_run()
    assert list(distiset) == ["default"]
    assert distiset["default"]["train"]["generation"] == ["ok"] * 5
    assert distiset.log_filename_path is not None
    log = distiset.log_filename_path.read_text()
    assert distiset.log_filename_path.name == "pipeline.log"
    # every line stamped with date and time; the summary is there
    assert all(line[:4].isdigit() and line[10] == " " for line in log.splitlines())
    assert "Pipeline 'one-leaf' completed" in log and "dataset 'default': 5 rows" in log
    assert distiset.pipeline_path is not None
    assert distiset.pipeline_path.parent == distiset.log_filename_path.parent
    assert "name: one-leaf" in distiset.pipeline_path.read_text()


def test_a_pipeline_that_cannot_be_dumped_has_no_pipeline_yaml(
    caplog: pytest.LogCaptureFixture,
) -> None:
    distiset = two_leaf_run()  # its MockLLM answers through a function
    with caplog.at_level(logging.WARNING, logger="stillroom.distiset"):
        assert distiset.pipeline_path is None
    assert "pipeline.yaml not written" in caplog.text


def test_train_test_split_splits_each_configuration() -> None:
    distiset = two_leaf_run(rows=10)
    same = distiset.train_test_split(train_size=0.8, seed=1)
    assert same is distiset
    for name in ("text_generation_0", "keep_columns_0"):
        assert isinstance(distiset[name], datasets.DatasetDict)
        assert {s: d.num_rows for s, d in distiset[name].items()} == {"train": 8, "test": 2}
    with pytest.raises(StillroomError, match=r"strictly between 0 and 1"):
        distiset.train_test_split(train_size=8)
    plain = Distiset({"a": datasets.Dataset.from_dict({"x": list(range(5))})})
    plain.train_test_split(0.6, shuffle=False)
    assert plain["a"]["train"]["x"] == [0, 1, 2] and plain["a"]["test"]["x"] == [3, 4]


def _parquet(path: Path, rows: list[dict[str, object]]) -> None:
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_create_distiset_reads_distilabels_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "run" / "data"
    rows = [{"text": f"t{i}", "stillroom_metadata": {"raw_output_x": f"r{i}"}} for i in range(4)]
    _parquet(data / "steps_outputs" / "only_leaf" / "00001.parquet", rows[:2])
    _parquet(data / "steps_outputs" / "only_leaf" / "00002.parquet", rows[2:])
    (tmp_path / "run" / "pipeline.yaml").write_text("pipeline: {name: x}\n")
    (tmp_path / "run" / "pipeline.log").write_text("2025-01-01 00:00:00 a line\n")

    distiset = create_distiset(data)
    assert list(distiset) == ["default"]
    assert distiset["default"]["train"].column_names == ["text"]  # metadata dropped
    assert distiset["default"]["train"]["text"] == ["t0", "t1", "t2", "t3"]
    assert distiset.pipeline_path == tmp_path / "run" / "pipeline.yaml"
    assert distiset.log_filename_path == tmp_path / "run" / "pipeline.log"

    kept = create_distiset(data, enable_metadata=True)
    assert kept["default"]["train"][1]["stillroom_metadata"] == {"raw_output_x": "r1"}


def test_dataset_use_cache_reuses_the_arrow_file_until_the_data_changes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    split = data / "leaf" / "train"
    split.mkdir(parents=True)
    (split / "00000.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    create_distiset(data)
    arrow = data / ".arrow" / "leaf" / "train.arrow"
    built = arrow.stat().st_mtime_ns
    assert create_distiset(data, dataset_use_cache=True)["default"]["train"]["a"] == [1, 2]
    assert arrow.stat().st_mtime_ns == built
    create_distiset(data, dataset_use_cache=False)
    assert arrow.stat().st_mtime_ns != built
    (split / "00000.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    assert create_distiset(data)["default"]["train"]["a"] == [1, 2, 3]


def test_columns_whose_rows_disagree_are_kept_as_json_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    split = tmp_path / "data" / "leaf" / "train"
    split.mkdir(parents=True)
    lines = [{"v": 1, "ok": "x"}, {"v": "two", "ok": "y"}, {"v": [3], "ok": None}, {"ok": "z"}]
    (split / "00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    _parquet(split / "00001.parquet", [{"v": 5, "ok": "w", "extra": 1.5}])
    with caplog.at_level(logging.WARNING, logger="stillroom.distiset"):
        train = create_distiset(tmp_path / "data")["default"]["train"]
    assert "Column 'v'" in caplog.text and "JSON text" in caplog.text
    assert train["v"] == ["1", "two", "[3]", None, "5"]
    assert train["ok"] == ["x", "y", None, "z", "w"]
    assert train["extra"] == [None, None, None, None, 1.5]


def test_an_empty_leaf_gives_an_empty_dataset(tmp_path: Path) -> None:
    split = tmp_path / "data" / "leaf" / "train"
    split.mkdir(parents=True)
    (split / "00000.jsonl").write_bytes(b"")
    assert len(create_distiset(tmp_path / "data")["default"]["train"]) == 0


def test_html_display_for_notebooks() -> None:
    distiset = two_leaf_run()
    page = distiset._repr_html_()
    assert page.startswith("<table>") and "<th>configuration</th>" in page
    assert "<td>text_generation_0</td><td>train</td><td>6</td>" in page
    assert "finished with 1 failed row" in page
    crafted = Distiset({"<b>": datasets.Dataset.from_dict({"x": [1]})})
    assert "&lt;b&gt;" in crafted._repr_html_() and "<b>" not in crafted._repr_html_()
    assert repr(distiset).startswith("Distiset({\n    keep_columns_0: DatasetDict({")


def test_transform_columns_to_image_names_the_extra_without_pillow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    distiset = Distiset({"a": datasets.Dataset.from_dict({"image": ["aGk="]})})
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'stillroom\[vision\]'"):
        distiset.transform_columns_to_image("image")
    with pytest.raises(StillroomError, match=r"none of \['picture'\] is a column"):
        distiset.transform_columns_to_image(["picture"])


def test_importing_the_distiset_imports_no_datasets() -> None:
    script = (
        "import sys\nfrom stillroom.distiset import Distiset, create_distiset\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'datasets', 'pyarrow', 'pandas', 'huggingface_hub', 'fsspec'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_transform_columns_to_image_types_base64_columns_as_images() -> None:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (255, 0, 0)).save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    distiset = Distiset(
        {
            "pictures": datasets.DatasetDict(
                {"train": datasets.Dataset.from_dict({"image": [encoded, None], "n": [1, 2]})}
            ),
            "urls": datasets.Dataset.from_dict({"image": [f"data:image/png;base64,{encoded}"]}),
        }
    )
    assert distiset.transform_columns_to_image("image") is distiset
    train = distiset["pictures"]["train"]
    assert train.features["image"] == datasets.Image(decode=True)
    assert train[0]["image"].size == (3, 2) and train[0]["image"].getpixel((0, 0)) == (255, 0, 0)
    assert train[1]["image"] is None and train["n"] == [1, 2]
    assert distiset["urls"][0]["image"].size == (3, 2)
