"""push_to_hub (offline, no token, unreachable Hub, what is uploaded) and the dataset card."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub
import pytest
import yaml
from distiset_helpers import one_leaf_run, two_leaf_run

from stillroom.distiset import Distiset, hub
from stillroom.distiset.card import size_category
from stillroom.errors import StillroomError

pytestmark = pytest.mark.timeout(90)

FAKE_TOKEN = "hf_notARealTokenButLongEnough123"


def test_offline_push_says_offline_mode_is_on() -> None:
    with pytest.raises(StillroomError, match=r"offline mode is on \(HF_HUB_OFFLINE"):
        one_leaf_run().push_to_hub("me/data", token=FAKE_TOKEN)


def test_push_without_a_token_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(StillroomError, match=r"needs a Hugging Face token.*HF_TOKEN"):
        one_leaf_run().push_to_hub("me/data")


def test_an_unreachable_hub_is_reported_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", endpoint, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False, raising=False)
    with pytest.raises(StillroomError) as info:
        one_leaf_run().push_to_hub("me/data", token=FAKE_TOKEN)
    message = str(info.value)
    assert f"Hugging Face Hub at {endpoint} could not be reached" in message
    assert FAKE_TOKEN not in message and info.value.__cause__ is None


def test_push_uploads_every_config_the_run_files_the_script_and_the_card(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(
        datasets.DatasetDict,
        "push_to_hub",
        lambda self, repo, **kw: calls.append(("dataset", (repo, kw))),
    )
    monkeypatch.setattr(
        huggingface_hub, "upload_file", lambda **kw: calls.append(("file", kw["path_in_repo"]))
    )
    monkeypatch.setattr(
        huggingface_hub.DatasetCard,
        "push_to_hub",
        lambda self, repo, **kw: calls.append(("card", str(self))),
    )
    script = tmp_path / "make_data.py"
    script.write_text("print('hi')\n")
    monkeypatch.setattr(sys, "argv", [str(script)])
    distiset = one_leaf_run()
    distiset.push_to_hub(
        "me/data", private=True, token=FAKE_TOKEN, include_script=True, max_shard_size="5MB"
    )
    assert calls[0] == (
        "dataset",
        (
            "me/data",
            {
                "config_name": "default",
                "private": True,
                "token": FAKE_TOKEN,
                "max_shard_size": "5MB",
            },
        ),
    )
    assert [c[1] for c in calls if c[0] == "file"] == [
        "pipeline.yaml",
        "pipeline.log",
        "make_data.py",
    ]
    ((_, card),) = [c for c in calls if c[0] == "card"]
    assert "python make_data.py" in card and FAKE_TOKEN not in card


def test_include_script_outside_a_script_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(sys, "argv", ["-c"])
    with pytest.raises(StillroomError, match=r"not started from a script file"):
        one_leaf_run().push_to_hub("me/data", token=FAKE_TOKEN, include_script=True)


def test_the_card_describes_the_pipeline_the_run_and_an_example_per_config() -> None:
    distiset = one_leaf_run()
    distiset.license = "apache-2.0"
    card = str(distiset._card("me/data"))
    metadata = yaml.safe_load(re.findall(r"^---\n(.*?)\n---", card, re.DOTALL)[0])
    assert metadata == {
        "license": "apache-2.0",
        "size_categories": "n<1K",
        "tags": ["synthetic", "stillroom", "rlaif"],
    }
    assert (
        'stillroom pipeline run --config "https://huggingface.co/datasets/me/data/raw/main/pipeline.yaml"'
        in card
    )
    assert "```mermaid\nflowchart LR" in card
    assert "load_data_from_dicts_0<br/>LoadDataFromDicts" in card and "s0 --> s1" in card
    assert "name: one-leaf" in card  # the pipeline.yaml
    assert "- configuration `default`: 5 rows" in card
    assert "- LLM requests: 5 sent, 0 answered from the cache, 0 failed" in card
    assert 'load_dataset("me/data", "default")' in card and '"generation": "ok"' in card


def test_the_card_counts_failed_rows_per_step_and_tokens_per_model() -> None:
    card = str(two_leaf_run()._card("me/data"))
    assert "- configuration `text_generation_0`: 6 rows" in card
    assert "- configuration `keep_columns_0`: 6 rows" in card
    assert "- step `text_generation_0`: 1 row kept with an error" in card
    assert "- LLM requests: 6 sent, 0 answered from the cache, 1 failed" in card
    assert "- tokens for `mock`: 5 in, 10 out" in card  # five replies; the failed one counts none


def test_card_examples_are_cut_and_citations_listed() -> None:
    distiset = Distiset(
        {
            "long": datasets.Dataset.from_dict({"items": [list(range(25))], "text": ["x" * 3000]}),
            "short": datasets.Dataset.from_dict({"n": [1]}),
        }
    )
    distiset.citations = ["@misc{b, title={B}}", "@misc{a, title={A}}", "@misc{a, title={A}}"]
    card = str(distiset._card("me/data"))
    assert "... (15 more of 25)" in card and "... (1000 more characters)" in card
    assert card.index("@misc{a") < card.index("@misc{b") and card.count("@misc{a") == 1
    assert "saved without the `pipeline.yaml`" in card


@pytest.mark.parametrize(
    ("rows", "category"),
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (123_456, "100K<n<1M"), (10**7, "10M<n<100M")],
)
def test_size_categories(rows: int, category: str) -> None:
    assert size_category(rows) == category
