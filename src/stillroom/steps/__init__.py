"""Steps (mirrors `distilabel.steps`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.steps.base import GeneratorStep, GlobalStep, Step, StepInput, StepResources
from stillroom.steps.decorator import step
from stillroom.steps.typing import GeneratorStepOutput, StepColumns, StepOutput
from stillroom.utils.lazy import import_lazily

if TYPE_CHECKING:
    from stillroom.steps.columns.combine import CombineOutputs as CombineOutputs
    from stillroom.steps.columns.expand import ExpandColumns as ExpandColumns
    from stillroom.steps.columns.group import GroupColumns as GroupColumns
    from stillroom.steps.columns.keep import KeepColumns as KeepColumns
    from stillroom.steps.columns.merge import MergeColumns as MergeColumns
    from stillroom.steps.filtering.minhash import MinHashDedup as MinHashDedup
    from stillroom.steps.formatting.conversation import ConversationTemplate as ConversationTemplate
    from stillroom.steps.formatting.dpo import FormatChatGenerationDPO as FormatChatGenerationDPO
    from stillroom.steps.formatting.dpo import FormatTextGenerationDPO as FormatTextGenerationDPO
    from stillroom.steps.formatting.sft import FormatChatGenerationSFT as FormatChatGenerationSFT
    from stillroom.steps.formatting.sft import FormatTextGenerationSFT as FormatTextGenerationSFT
    from stillroom.steps.generators.data import LoadDataFromDicts as LoadDataFromDicts
    from stillroom.steps.generators.data_sampler import DataSampler as DataSampler
    from stillroom.steps.generators.huggingface import LoadDataFromDisk as LoadDataFromDisk
    from stillroom.steps.generators.huggingface import (
        LoadDataFromFileSystem as LoadDataFromFileSystem,
    )
    from stillroom.steps.generators.huggingface import LoadDataFromHub as LoadDataFromHub

_WHERE = {
    "CombineOutputs": "stillroom.steps.columns.combine",
    "ExpandColumns": "stillroom.steps.columns.expand",
    "GroupColumns": "stillroom.steps.columns.group",
    "KeepColumns": "stillroom.steps.columns.keep",
    "MergeColumns": "stillroom.steps.columns.merge",
    "MinHashDedup": "stillroom.steps.filtering.minhash",
    "ConversationTemplate": "stillroom.steps.formatting.conversation",
    "FormatChatGenerationDPO": "stillroom.steps.formatting.dpo",
    "FormatTextGenerationDPO": "stillroom.steps.formatting.dpo",
    "FormatChatGenerationSFT": "stillroom.steps.formatting.sft",
    "FormatTextGenerationSFT": "stillroom.steps.formatting.sft",
    "LoadDataFromDicts": "stillroom.steps.generators.data",
    "DataSampler": "stillroom.steps.generators.data_sampler",
    "LoadDataFromDisk": "stillroom.steps.generators.huggingface",
    "LoadDataFromFileSystem": "stillroom.steps.generators.huggingface",
    "LoadDataFromHub": "stillroom.steps.generators.huggingface",
}
"""The classes imported on first access (see `utils/lazy.py`): where each lives."""

__all__ = [
    "CombineOutputs",
    "ConversationTemplate",
    "DataSampler",
    "ExpandColumns",
    "FormatChatGenerationDPO",
    "FormatChatGenerationSFT",
    "FormatTextGenerationDPO",
    "FormatTextGenerationSFT",
    "GeneratorStep",
    "GeneratorStepOutput",
    "GlobalStep",
    "GroupColumns",
    "KeepColumns",
    "LoadDataFromDicts",
    "LoadDataFromDisk",
    "LoadDataFromFileSystem",
    "LoadDataFromHub",
    "MergeColumns",
    "MinHashDedup",
    "Step",
    "StepColumns",
    "StepInput",
    "StepOutput",
    "StepResources",
    "step",
]


def __getattr__(name: str) -> Any:
    return import_lazily(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return sorted(__all__)
