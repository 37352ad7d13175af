"""Steps (mirrors `distilabel.steps`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.steps.base import GeneratorStep, GlobalStep, Step, StepInput, StepResources
from stillroom.steps.decorator import step
from stillroom.steps.typing import GeneratorStepOutput, StepColumns, StepOutput
from stillroom.utils.lazy import import_lazily

if TYPE_CHECKING:
    from stillroom.steps.argilla.preference import PreferenceToArgilla as PreferenceToArgilla
    from stillroom.steps.argilla.text_generation import (
        TextGenerationToArgilla as TextGenerationToArgilla,
    )
    from stillroom.steps.clustering.dbscan import DBSCAN as DBSCAN
    from stillroom.steps.clustering.text_clustering import TextClustering as TextClustering
    from stillroom.steps.clustering.umap import UMAP as UMAP
    from stillroom.steps.columns.combine import CombineOutputs as CombineOutputs
    from stillroom.steps.columns.expand import ExpandColumns as ExpandColumns
    from stillroom.steps.columns.group import GroupColumns as GroupColumns
    from stillroom.steps.columns.keep import KeepColumns as KeepColumns
    from stillroom.steps.columns.merge import MergeColumns as MergeColumns
    from stillroom.steps.deita import DeitaFiltering as DeitaFiltering
    from stillroom.steps.embeddings.embedding_generation import (
        EmbeddingGeneration as EmbeddingGeneration,
    )
    from stillroom.steps.embeddings.nearest_neighbour import (
        FaissNearestNeighbour as FaissNearestNeighbour,
    )
    from stillroom.steps.filtering.embedding import EmbeddingDedup as EmbeddingDedup
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
    from stillroom.steps.generators.utils import make_generator_step as make_generator_step
    from stillroom.steps.globals.huggingface import PushToHub as PushToHub
    from stillroom.steps.reward_model import RewardModelScore as RewardModelScore
    from stillroom.steps.truncate import TruncateTextColumn as TruncateTextColumn

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
    "PreferenceToArgilla": "stillroom.steps.argilla.preference",
    "TextGenerationToArgilla": "stillroom.steps.argilla.text_generation",
    "DBSCAN": "stillroom.steps.clustering.dbscan",
    "TextClustering": "stillroom.steps.clustering.text_clustering",
    "UMAP": "stillroom.steps.clustering.umap",
    "DeitaFiltering": "stillroom.steps.deita",
    "EmbeddingGeneration": "stillroom.steps.embeddings.embedding_generation",
    "FaissNearestNeighbour": "stillroom.steps.embeddings.nearest_neighbour",
    "EmbeddingDedup": "stillroom.steps.filtering.embedding",
    "make_generator_step": "stillroom.steps.generators.utils",
    "PushToHub": "stillroom.steps.globals.huggingface",
    "RewardModelScore": "stillroom.steps.reward_model",
    "TruncateTextColumn": "stillroom.steps.truncate",
}
"""The classes imported on first access (see `utils/lazy.py`): where each lives."""

__all__ = [
    "DBSCAN",
    "UMAP",
    "CombineOutputs",
    "ConversationTemplate",
    "DataSampler",
    "DeitaFiltering",
    "EmbeddingDedup",
    "EmbeddingGeneration",
    "ExpandColumns",
    "FaissNearestNeighbour",
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
    "PreferenceToArgilla",
    "PushToHub",
    "RewardModelScore",
    "Step",
    "StepColumns",
    "StepInput",
    "StepOutput",
    "StepResources",
    "TextClustering",
    "TextGenerationToArgilla",
    "TruncateTextColumn",
    "make_generator_step",
    "step",
]


def __getattr__(name: str) -> Any:
    return import_lazily(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return sorted(__all__)
