"""Types shared across stillroom's public API (mirrors `distilabel.typing`)."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from typing_extensions import NotRequired, TypedDict


class ChatItem(TypedDict):
    """One message of a conversation in the OpenAI chat format."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str


ChatType: TypeAlias = list[ChatItem]
"""A conversation: the messages an LLM is asked to continue."""


class StructuredOutputType(TypedDict, total=False):
    """How a reply must be shaped: `format` "json" with a JSON schema or a pydantic model class."""

    format: Literal["json", "regex"]
    schema: Any
    max_retries: int


StandardInput: TypeAlias = ChatType
StructuredInput: TypeAlias = tuple[ChatType, StructuredOutputType | None]
FormattedInput: TypeAlias = StandardInput | StructuredInput
"""What `Task.format_input` returns and `LLM.generate` receives: a conversation, optionally
paired with the structured output it must follow."""


class LLMStatistics(TypedDict, total=False):
    """Token counts of one request, one entry per generation."""

    input_tokens: list[int]
    output_tokens: list[int]


class GenerateOutput(TypedDict):
    """The reply to one formatted input: `num_generations` texts (None when one failed)."""

    generations: list[str | None]
    statistics: LLMStatistics
    logprobs: NotRequired[list[Any]]
    errors: NotRequired[list[str | None]]
    """Why a generation is None (e.g. its structured reply failed validation), per generation."""


__all__ = [
    "ChatItem",
    "ChatType",
    "FormattedInput",
    "GenerateOutput",
    "LLMStatistics",
    "StandardInput",
    "StructuredInput",
    "StructuredOutputType",
]
