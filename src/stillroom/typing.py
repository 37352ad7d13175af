"""Types shared across stillroom's public API (mirrors `distilabel.typing`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, TypeAlias

from typing_extensions import NotRequired, TypedDict


class ImageUrl(TypedDict):
    """Where an image is: an `http(s)://` URL or a `data:` URL with the encoded image."""

    url: str


class ImageContent(TypedDict):
    """An image part of a message (the OpenAI chat format's `image_url` part)."""

    type: Literal["image_url"]
    image_url: ImageUrl


class TextContent(TypedDict):
    """A text part of a message."""

    type: Literal["text"]
    text: str


class ChatItem(TypedDict):
    """One message of a conversation in the OpenAI chat format: text, or a list of parts."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[TextContent | ImageContent]


ChatType: TypeAlias = list[ChatItem]
"""A conversation: the messages an LLM is asked to continue."""


class StructuredOutputType(TypedDict, total=False):
    """How a reply must be shaped: `format` "json" with a JSON schema or a pydantic model class."""

    format: Literal["json", "regex"]
    schema: Any
    max_retries: int
    mode: str
    """distilabel's instructor mode ("tool_call", "json", ...), accepted so its pipelines load;
    each backend asks for the schema in the form its server takes, and replies are checked
    against the schema whatever the mode."""


StandardInput: TypeAlias = ChatType
StructuredInput: TypeAlias = tuple[ChatType, StructuredOutputType | None]
FormattedInput: TypeAlias = StandardInput | StructuredInput
"""What `Task.format_input` returns and `LLM.generate` receives: a conversation, optionally
paired with the structured output it must follow."""


class TokenCount(TypedDict):
    """Token counts of one request, one entry per generation."""

    input_tokens: list[int]
    output_tokens: list[int]


class LLMStatistics(TypedDict, total=False):
    """What a backend measured for one request: token counts, one entry per generation, at
    least (`TokenCount`)."""

    input_tokens: list[int]
    output_tokens: list[int]


LLMOutput: TypeAlias = list[str | None]
"""The texts of one request's generations (None where one failed)."""


class Logprob(TypedDict):
    """One candidate token at one position, with its log probability."""

    token: str
    logprob: float


LLMLogprobs: TypeAlias = list[list[list[Logprob]]]
"""Per generation, per position of the generated text, the candidate tokens considered."""


class GenerateOutput(TypedDict):
    """The reply to one formatted input: `num_generations` texts (None when one failed)."""

    generations: LLMOutput
    statistics: LLMStatistics
    logprobs: NotRequired[LLMLogprobs]
    errors: NotRequired[list[str | None]]
    """Why a generation is None (e.g. its structured reply failed validation), per generation."""


OutlinesStructuredOutputType: TypeAlias = StructuredOutputType
"""distilabel's name for structured output decoded by a grammar; the same shape here."""

InstructorStructuredOutputType: TypeAlias = StructuredOutputType
"""distilabel's name for structured output checked and asked again; the same shape here."""

HiddenState: TypeAlias = Any
"""The hidden states an embedding model returns (an array; its type depends on the backend)."""

Row: TypeAlias = dict[str, Any]

StepOutput: TypeAlias = Iterator[list[Row]]
"""What `Step.process` yields: batches of rows."""

GeneratorStepOutput: TypeAlias = Iterator[tuple[list[Row], bool] | list[Row] | Row]
"""What `GeneratorStep.process` yields: `(rows, is_last)`, a list of rows, or a single row."""

StepColumns: TypeAlias = list[str] | dict[str, bool]
"""Column names, or column name -> whether it is required."""

# The names below describe pipelines. They are typed loosely here, the lowest layer of the
# package, which cannot name the step classes; `stillroom.steps` has the precise types.
DownstreamConnectable: TypeAlias = Any
"""A step rows can be sent to: a `Step` or a `GlobalStep`."""

DownstreamConnectableSteps: TypeAlias = Any
"""A step class rows can be sent to."""

UpstreamConnectableSteps: TypeAlias = Any
"""A step class rows can come from: any step."""

InputDataset: TypeAlias = Any
"""Rows given to `Pipeline.run(dataset=...)`: a list of dicts, a Hugging Face `Dataset` or a
pandas `DataFrame`."""

LoadGroups: TypeAlias = list[list[Any]] | Literal["sequential_step_execution"]
"""Groups of steps (or step names) loaded one group after another, or each step alone."""

PipelineRuntimeParametersInfo: TypeAlias = dict[str, Any]
"""Per step name, what `get_runtime_parameters_info()` says of its runtime parameters."""


class StepLoadStatus(TypedDict):
    """Whether a step was loaded, unloaded, or failed to load."""

    name: str
    status: Literal["loaded", "unloaded", "load_failed"]


__all__ = [
    "ChatItem",
    "ChatType",
    "DownstreamConnectable",
    "DownstreamConnectableSteps",
    "FormattedInput",
    "GenerateOutput",
    "GeneratorStepOutput",
    "HiddenState",
    "ImageContent",
    "ImageUrl",
    "InputDataset",
    "InstructorStructuredOutputType",
    "LLMLogprobs",
    "LLMOutput",
    "LLMStatistics",
    "LoadGroups",
    "Logprob",
    "OutlinesStructuredOutputType",
    "PipelineRuntimeParametersInfo",
    "StandardInput",
    "StepColumns",
    "StepLoadStatus",
    "StepOutput",
    "StructuredInput",
    "StructuredOutputType",
    "TextContent",
    "TokenCount",
    "UpstreamConnectableSteps",
]
