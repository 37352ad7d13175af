"""Types of the task API (mirrors `distilabel.steps.tasks.typing`)."""

from stillroom.typing import (
    ChatItem,
    ChatType,
    FormattedInput,
    StandardInput,
    StructuredInput,
    StructuredOutputType,
)

__all__ = [
    "ChatItem",
    "ChatType",
    "FormattedInput",
    "StandardInput",
    "StructuredInput",
    "StructuredOutputType",
]
