"""Every built-in step: distilabel's module path, export, serialization round trip."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import stillroom.steps
from stillroom.steps.base import _Step
from stillroom.utils.serialization import Serializable

PATHS = {
    "LoadDataFromDicts": "stillroom.steps.generators.data",
    "LoadDataFromFileSystem": "stillroom.steps.generators.huggingface",
    "LoadDataFromHub": "stillroom.steps.generators.huggingface",
    "DataSampler": "stillroom.steps.generators.data_sampler",
    "KeepColumns": "stillroom.steps.columns.keep",
    "CombineOutputs": "stillroom.steps.columns.combine",
    "GroupColumns": "stillroom.steps.columns.group",
    "ExpandColumns": "stillroom.steps.columns.expand",
    "MergeColumns": "stillroom.steps.columns.merge",
    "FormatTextGenerationSFT": "stillroom.steps.formatting.sft",
    "FormatChatGenerationSFT": "stillroom.steps.formatting.sft",
    "FormatTextGenerationDPO": "stillroom.steps.formatting.dpo",
    "FormatChatGenerationDPO": "stillroom.steps.formatting.dpo",
    "ConversationTemplate": "stillroom.steps.formatting.conversation",
    "MinHashDedup": "stillroom.steps.filtering.minhash",
}


def examples(tmp_path: Path) -> list[_Step]:
    steps = stillroom.steps
    return [
        steps.LoadDataFromDicts(data=[{"a": 1}]),
        steps.LoadDataFromFileSystem(data_files=str(tmp_path / "*.jsonl"), num_examples=5),
        steps.LoadDataFromHub(repo_id="org/data", split="test", streaming=True),
        steps.DataSampler(data=[{"a": 1}], size=1, samples=3, seed=2),
        steps.KeepColumns(columns=["a"]),
        steps.CombineOutputs(),
        steps.GroupColumns(columns=["g"], output_columns=["gs"]),
        steps.ExpandColumns(columns={"gs": "g"}, encoded=True, split_statistics=True),
        steps.MergeColumns(columns=["a", "b"], output_column="ab"),
        steps.FormatTextGenerationSFT(),
        steps.FormatChatGenerationSFT(),
        steps.FormatTextGenerationDPO(),
        steps.FormatChatGenerationDPO(),
        steps.ConversationTemplate(),
        steps.MinHashDedup(threshold=0.7, tokenizer="ngrams", n=3, storage="disk"),
    ]


@pytest.mark.parametrize(("name", "module"), sorted(PATHS.items()))
def test_distilabel_module_paths_and_exports(name: str, module: str) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert getattr(stillroom.steps, name) is cls and name in stillroom.steps.__all__
    assert cls.__module__ == module
    assert "Input columns" in (cls.__doc__ or "") or "Output columns" in (cls.__doc__ or "")


def test_every_step_round_trips_through_a_dump(tmp_path: Path) -> None:
    built = examples(tmp_path)
    assert {type(s).__name__ for s in built} == set(PATHS)
    for step in built:
        clone = Serializable.from_dict(step.dump())
        assert type(clone) is type(step) and clone.dump() == step.dump(), type(step).__name__


def test_inferred_names_are_snake_case() -> None:
    assert stillroom.steps.FormatTextGenerationDPO().name == "format_text_generation_dpo_0"
    assert stillroom.steps.MinHashDedup().name == "min_hash_dedup_0"


def test_storage_options_never_reach_a_dump_or_repr() -> None:
    secret = {"key": "AKIA-not-a-real-key", "secret": "s3cr3t"}
    for step in (
        stillroom.steps.LoadDataFromHub(repo_id="org/data", storage_options=secret),
        stillroom.steps.LoadDataFromFileSystem(data_files="s3://b/*.jsonl", storage_options=secret),
    ):
        assert step.storage_options == secret
        text = f"{step.dump()} {step!r}"
        assert "s3cr3t" not in text and "AKIA" not in text
