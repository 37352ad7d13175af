"""The request and response shapes of each served API.

A dialect turns a JSON body into an `LLMRequest` (raising `BadRequest` with the message the
real API would give), checks the API key where that API carries it, and writes replies and
errors in that API's format. The server itself never looks at API-specific fields.
"""

from __future__ import annotations

from stillroom.testing.dialects.anthropic import AnthropicMessages
from stillroom.testing.dialects.common import MAX_N, BadRequest, Refused
from stillroom.testing.dialects.native import (
    CohereChat,
    GeminiGenerateContent,
    NativeDialect,
    OllamaChat,
    OllamaGenerate,
    TGIGenerate,
    TGIGenerateRoute,
)
from stillroom.testing.dialects.openai import (
    OPENAI_SERVERS,
    LlamaCppPythonChat,
    LlamaServerChat,
    OllamaOpenAIChat,
    OpenAIChat,
    OpenAICompletions,
    PlainChat,
    TGIChat,
    VLLMChat,
)

Dialect = OpenAIChat | AnthropicMessages | NativeDialect
"""Any of the served APIs (`OpenAICompletions` is an `OpenAIChat`)."""

__all__ = [
    "MAX_N",
    "OPENAI_SERVERS",
    "AnthropicMessages",
    "BadRequest",
    "CohereChat",
    "Dialect",
    "GeminiGenerateContent",
    "LlamaCppPythonChat",
    "LlamaServerChat",
    "NativeDialect",
    "OllamaChat",
    "OllamaGenerate",
    "OllamaOpenAIChat",
    "OpenAIChat",
    "OpenAICompletions",
    "PlainChat",
    "Refused",
    "TGIChat",
    "TGIGenerate",
    "TGIGenerateRoute",
    "VLLMChat",
]
