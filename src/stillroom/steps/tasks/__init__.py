"""Tasks: steps that use an LLM (mirrors `distilabel.steps.tasks`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.steps.tasks.base import GeneratorTask, GlobalTask, Task
from stillroom.steps.tasks.decorator import task
from stillroom.steps.tasks.typing import ChatItem, ChatType, FormattedInput
from stillroom.utils.lazy import import_lazily

if TYPE_CHECKING:
    from stillroom.steps.tasks.apigen.execution_checker import (
        APIGenExecutionChecker as APIGenExecutionChecker,
    )
    from stillroom.steps.tasks.apigen.generator import APIGenGenerator as APIGenGenerator
    from stillroom.steps.tasks.apigen.semantic_checker import (
        APIGenSemanticChecker as APIGenSemanticChecker,
    )
    from stillroom.steps.tasks.argilla_labeller import ArgillaLabeller as ArgillaLabeller
    from stillroom.steps.tasks.base import ImageTask as ImageTask
    from stillroom.steps.tasks.clair import CLAIR as CLAIR
    from stillroom.steps.tasks.complexity_scorer import ComplexityScorer as ComplexityScorer
    from stillroom.steps.tasks.evol_instruct.base import EvolInstruct as EvolInstruct
    from stillroom.steps.tasks.evol_instruct.evol_complexity.base import (
        EvolComplexity as EvolComplexity,
    )
    from stillroom.steps.tasks.evol_instruct.evol_complexity.generator import (
        EvolComplexityGenerator as EvolComplexityGenerator,
    )
    from stillroom.steps.tasks.evol_instruct.generator import (
        EvolInstructGenerator as EvolInstructGenerator,
    )
    from stillroom.steps.tasks.evol_quality.base import EvolQuality as EvolQuality
    from stillroom.steps.tasks.generate_embeddings import (
        GenerateEmbeddings as GenerateEmbeddings,
    )
    from stillroom.steps.tasks.genstruct import Genstruct as Genstruct
    from stillroom.steps.tasks.image_generation import ImageGeneration as ImageGeneration
    from stillroom.steps.tasks.improving_text_embeddings import (
        BitextRetrievalGenerator as BitextRetrievalGenerator,
    )
    from stillroom.steps.tasks.improving_text_embeddings import (
        EmbeddingTaskGenerator as EmbeddingTaskGenerator,
    )
    from stillroom.steps.tasks.improving_text_embeddings import (
        GenerateLongTextMatchingData as GenerateLongTextMatchingData,
    )
    from stillroom.steps.tasks.improving_text_embeddings import (
        GenerateShortTextMatchingData as GenerateShortTextMatchingData,
    )
    from stillroom.steps.tasks.improving_text_embeddings import (
        GenerateTextClassificationData as GenerateTextClassificationData,
    )
    from stillroom.steps.tasks.improving_text_embeddings import (
        GenerateTextRetrievalData as GenerateTextRetrievalData,
    )
    from stillroom.steps.tasks.improving_text_embeddings import (
        MonolingualTripletGenerator as MonolingualTripletGenerator,
    )
    from stillroom.steps.tasks.instruction_backtranslation import (
        InstructionBacktranslation as InstructionBacktranslation,
    )
    from stillroom.steps.tasks.magpie.base import Magpie as Magpie
    from stillroom.steps.tasks.magpie.generator import MagpieGenerator as MagpieGenerator
    from stillroom.steps.tasks.math_shepherd.completer import (
        MathShepherdCompleter as MathShepherdCompleter,
    )
    from stillroom.steps.tasks.math_shepherd.generator import (
        MathShepherdGenerator as MathShepherdGenerator,
    )
    from stillroom.steps.tasks.math_shepherd.utils import FormatPRM as FormatPRM
    from stillroom.steps.tasks.pair_rm import PairRM as PairRM
    from stillroom.steps.tasks.prometheus_eval import PrometheusEval as PrometheusEval
    from stillroom.steps.tasks.quality_scorer import QualityScorer as QualityScorer
    from stillroom.steps.tasks.self_instruct import SelfInstruct as SelfInstruct
    from stillroom.steps.tasks.sentence_transformers import (
        GenerateSentencePair as GenerateSentencePair,
    )
    from stillroom.steps.tasks.structured_generation import (
        StructuredGeneration as StructuredGeneration,
    )
    from stillroom.steps.tasks.text_classification import TextClassification as TextClassification
    from stillroom.steps.tasks.text_generation import ChatGeneration as ChatGeneration
    from stillroom.steps.tasks.text_generation import TextGeneration as TextGeneration
    from stillroom.steps.tasks.text_generation_with_image import (
        TextGenerationWithImage as TextGenerationWithImage,
    )
    from stillroom.steps.tasks.ultrafeedback import UltraFeedback as UltraFeedback
    from stillroom.steps.tasks.urial import URIAL as URIAL


_WHERE = {
    "PairRM": "stillroom.steps.tasks.pair_rm",
    "ArgillaLabeller": "stillroom.steps.tasks.argilla_labeller",
    "APIGenExecutionChecker": "stillroom.steps.tasks.apigen.execution_checker",
    "APIGenGenerator": "stillroom.steps.tasks.apigen.generator",
    "APIGenSemanticChecker": "stillroom.steps.tasks.apigen.semantic_checker",
    "ComplexityScorer": "stillroom.steps.tasks.complexity_scorer",
    "EvolInstruct": "stillroom.steps.tasks.evol_instruct.base",
    "EvolComplexity": "stillroom.steps.tasks.evol_instruct.evol_complexity.base",
    "EvolComplexityGenerator": "stillroom.steps.tasks.evol_instruct.evol_complexity.generator",
    "EvolInstructGenerator": "stillroom.steps.tasks.evol_instruct.generator",
    "EvolQuality": "stillroom.steps.tasks.evol_quality.base",
    "Magpie": "stillroom.steps.tasks.magpie.base",
    "MagpieGenerator": "stillroom.steps.tasks.magpie.generator",
    "PrometheusEval": "stillroom.steps.tasks.prometheus_eval",
    "QualityScorer": "stillroom.steps.tasks.quality_scorer",
    "SelfInstruct": "stillroom.steps.tasks.self_instruct",
    "GenerateSentencePair": "stillroom.steps.tasks.sentence_transformers",
    "ImageGeneration": "stillroom.steps.tasks.image_generation",
    "ImageTask": "stillroom.steps.tasks.base",
    "StructuredGeneration": "stillroom.steps.tasks.structured_generation",
    "TextClassification": "stillroom.steps.tasks.text_classification",
    "ChatGeneration": "stillroom.steps.tasks.text_generation",
    "TextGeneration": "stillroom.steps.tasks.text_generation",
    "TextGenerationWithImage": "stillroom.steps.tasks.text_generation_with_image",
    "UltraFeedback": "stillroom.steps.tasks.ultrafeedback",
    "BitextRetrievalGenerator": "stillroom.steps.tasks.improving_text_embeddings",
    "EmbeddingTaskGenerator": "stillroom.steps.tasks.improving_text_embeddings",
    "GenerateLongTextMatchingData": "stillroom.steps.tasks.improving_text_embeddings",
    "GenerateShortTextMatchingData": "stillroom.steps.tasks.improving_text_embeddings",
    "GenerateTextClassificationData": "stillroom.steps.tasks.improving_text_embeddings",
    "GenerateTextRetrievalData": "stillroom.steps.tasks.improving_text_embeddings",
    "MonolingualTripletGenerator": "stillroom.steps.tasks.improving_text_embeddings",
    "CLAIR": "stillroom.steps.tasks.clair",
    "URIAL": "stillroom.steps.tasks.urial",
    "Genstruct": "stillroom.steps.tasks.genstruct",
    "GenerateEmbeddings": "stillroom.steps.tasks.generate_embeddings",
    "InstructionBacktranslation": "stillroom.steps.tasks.instruction_backtranslation",
    "MathShepherdCompleter": "stillroom.steps.tasks.math_shepherd.completer",
    "MathShepherdGenerator": "stillroom.steps.tasks.math_shepherd.generator",
    "FormatPRM": "stillroom.steps.tasks.math_shepherd.utils",
}
"""The classes imported on first access (see `utils/lazy.py`): where each lives."""

__all__ = [
    "CLAIR",
    "URIAL",
    "APIGenExecutionChecker",
    "APIGenGenerator",
    "APIGenSemanticChecker",
    "ArgillaLabeller",
    "BitextRetrievalGenerator",
    "ChatGeneration",
    "ChatItem",
    "ChatType",
    "ComplexityScorer",
    "EmbeddingTaskGenerator",
    "EvolComplexity",
    "EvolComplexityGenerator",
    "EvolInstruct",
    "EvolInstructGenerator",
    "EvolQuality",
    "FormatPRM",
    "FormattedInput",
    "GenerateEmbeddings",
    "GenerateLongTextMatchingData",
    "GenerateSentencePair",
    "GenerateShortTextMatchingData",
    "GenerateTextClassificationData",
    "GenerateTextRetrievalData",
    "GeneratorTask",
    "Genstruct",
    "GlobalTask",
    "ImageGeneration",
    "ImageTask",
    "InstructionBacktranslation",
    "Magpie",
    "MagpieGenerator",
    "MathShepherdCompleter",
    "MathShepherdGenerator",
    "MonolingualTripletGenerator",
    "PairRM",
    "PrometheusEval",
    "QualityScorer",
    "SelfInstruct",
    "StructuredGeneration",
    "Task",
    "TextClassification",
    "TextGeneration",
    "TextGenerationWithImage",
    "UltraFeedback",
    "task",
]


def __getattr__(name: str) -> Any:
    return import_lazily(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return sorted(__all__)
