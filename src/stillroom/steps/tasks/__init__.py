"""Tasks: steps that use an LLM (mirrors `distilabel.steps.tasks`)."""

from stillroom.steps.tasks.base import GeneratorTask, GlobalTask, Task
from stillroom.steps.tasks.complexity_scorer import ComplexityScorer
from stillroom.steps.tasks.decorator import task
from stillroom.steps.tasks.evol_instruct.base import EvolInstruct
from stillroom.steps.tasks.evol_instruct.evol_complexity.base import EvolComplexity
from stillroom.steps.tasks.evol_instruct.evol_complexity.generator import (
    EvolComplexityGenerator,
)
from stillroom.steps.tasks.evol_instruct.generator import EvolInstructGenerator
from stillroom.steps.tasks.evol_quality.base import EvolQuality
from stillroom.steps.tasks.magpie.base import Magpie
from stillroom.steps.tasks.magpie.generator import MagpieGenerator
from stillroom.steps.tasks.prometheus_eval import PrometheusEval
from stillroom.steps.tasks.quality_scorer import QualityScorer
from stillroom.steps.tasks.self_instruct import SelfInstruct
from stillroom.steps.tasks.sentence_transformers import GenerateSentencePair
from stillroom.steps.tasks.structured_generation import StructuredGeneration
from stillroom.steps.tasks.text_classification import TextClassification
from stillroom.steps.tasks.text_generation import ChatGeneration, TextGeneration
from stillroom.steps.tasks.typing import ChatItem, ChatType, FormattedInput
from stillroom.steps.tasks.ultrafeedback import UltraFeedback

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
    "Magpie",
    "MagpieGenerator",
    "PrometheusEval",
    "QualityScorer",
    "SelfInstruct",
    "StructuredGeneration",
    "Task",
    "TextClassification",
    "TextGeneration",
    "UltraFeedback",
    "task",
]
