"""Steps (mirrors `distilabel.steps`)."""

from stillroom.steps.base import GeneratorStep, GlobalStep, Step, StepInput, StepResources
from stillroom.steps.decorator import step
from stillroom.steps.generators.data import LoadDataFromDicts
from stillroom.steps.typing import GeneratorStepOutput, StepColumns, StepOutput

__all__ = [
    "GeneratorStep",
    "GeneratorStepOutput",
    "GlobalStep",
    "LoadDataFromDicts",
    "Step",
    "StepColumns",
    "StepInput",
    "StepOutput",
    "StepResources",
    "step",
]
