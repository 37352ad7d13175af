"""Steps (mirrors `distilabel.steps`)."""

from stillroom.steps.base import GeneratorStep, GlobalStep, Step, StepInput, StepResources
from stillroom.steps.columns.combine import CombineOutputs
from stillroom.steps.columns.expand import ExpandColumns
from stillroom.steps.columns.group import GroupColumns
from stillroom.steps.columns.keep import KeepColumns
from stillroom.steps.columns.merge import MergeColumns
from stillroom.steps.decorator import step
from stillroom.steps.filtering.minhash import MinHashDedup
from stillroom.steps.formatting.conversation import ConversationTemplate
from stillroom.steps.formatting.dpo import FormatChatGenerationDPO, FormatTextGenerationDPO
from stillroom.steps.formatting.sft import FormatChatGenerationSFT, FormatTextGenerationSFT
from stillroom.steps.generators.data import LoadDataFromDicts
from stillroom.steps.generators.data_sampler import DataSampler
from stillroom.steps.generators.huggingface import (
    LoadDataFromDisk,
    LoadDataFromFileSystem,
    LoadDataFromHub,
)
from stillroom.steps.typing import GeneratorStepOutput, StepColumns, StepOutput

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
