"""Tasks: steps that use an LLM (mirrors `distilabel.steps.tasks`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.steps.tasks.base import GeneratorTask, GlobalTask, Task
from stillroom.steps.tasks.decorator import task
from stillroom.steps.tasks.typing import ChatItem, ChatType, FormattedInput
from stillroom.utils.lazy import import_lazily

if TYPE_CHECKING:
    from stillroom.steps.tasks.base import ImageTask as ImageTask
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
    from stillroom.steps.tasks.image_generation import ImageGeneration as ImageGeneration
    from stillroom.steps.tasks.magpie.base import Magpie as Magpie
    from stillroom.steps.tasks.magpie.generator import MagpieGenerator as MagpieGenerator
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

_WHERE = {
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
}
"""The classes imported on first access (see `utils/lazy.py`): where each lives."""

__all__ = [
    "ChatGeneration",
    "ChatItem",
    "ChatType",
    "ComplexityScorer",
    "EvolComplexity",
    "EvolComplexityGenerator",
    "EvolInstruct",
    "EvolInstructGenerator",
    "EvolQuality",
    "FormattedInput",
    "GenerateSentencePair",
    "GeneratorTask",
    "GlobalTask",
    "ImageGeneration",
    "ImageTask",
    "Magpie",
    "MagpieGenerator",
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
