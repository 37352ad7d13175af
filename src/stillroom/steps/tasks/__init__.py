"""Tasks: steps that use an LLM (mirrors `distilabel.steps.tasks`)."""

from stillroom.steps.tasks.base import GeneratorTask, GlobalTask, Task
from stillroom.steps.tasks.decorator import task
from stillroom.steps.tasks.text_generation import TextGeneration
from stillroom.steps.tasks.typing import ChatItem, ChatType, FormattedInput

__all__ = [
    "ChatItem",
    "ChatType",
    "FormattedInput",
    "GeneratorTask",
    "GlobalTask",
    "Task",
    "TextGeneration",
    "task",
]
