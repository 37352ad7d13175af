"""How an OpenAI-compatible server is asked for a structured output: one mode per form servers
accept, and how `auto` finds the one a server takes.

Servers behind an OpenAI-compatible `base_url` disagree on where a JSON schema goes: OpenAI's
`response_format` `json_schema`, `json_object` with the schema beside it (llama-cpp-python),
TGI's grammar (`{"type": "json", "value": schema}`), vLLM's `guided_json` or
`structured_outputs`, llama.cpp's `json_schema` field, Ollama's `format`, a forced tool call, or
nothing but the schema in the prompt. A mode puts the schema in a request's payload; replies
are validated against the schema in every mode (`structured.GenerationCollector`).

`auto` tries `AUTO_ORDER`: the forms a server refuses out loud. Server-specific top-level
fields are left out of it because servers ignore a field they do not know (the reply would
then be unconstrained text, not a refusal to learn from); the `STILLROOM_LLM` specs of those
servers preset their mode instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from stillroom.models.llms.resilience import is_refusal
from stillroom.models.llms.structured import StructuredSpec

StructuredOutputMode = Literal[
    "auto",
    "json_schema",
    "json_object",
    "tgi_grammar",
    "guided_json",
    "structured_outputs",
    "llama_server",
    "ollama_format",
    "tools",
    "prompt",
]

AUTO_ORDER: tuple[StructuredOutputMode, ...] = (
    "json_schema",
    "json_object",
    "tgi_grammar",
    "tools",
    "prompt",
)
"""What `auto` sends, in order, moving on when the server refuses a form."""

SCHEMA_PROMPT = (
    "Reply with a single JSON value and nothing else. It must be valid against this JSON "
    "schema:\n{schema}"
)
"""The instruction added as a system message in `prompt` mode (and the form's last resort)."""


def _json_schema(spec: StructuredSpec) -> dict[str, Any]:
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": spec.name, "schema": spec.schema},
        }
    }


def _tools(spec: StructuredSpec) -> dict[str, Any]:
    function = {"name": spec.name, "parameters": spec.schema}
    return {
        "tools": [{"type": "function", "function": function}],
        "tool_choice": {"type": "function", "function": {"name": spec.name}},
    }


_PAYLOADS: dict[str, Callable[[StructuredSpec], dict[str, Any]]] = {
    "json_schema": _json_schema,
    "json_object": lambda s: {"response_format": {"type": "json_object", "schema": s.schema}},
    "tgi_grammar": lambda s: {"response_format": {"type": "json", "value": s.schema}},
    "guided_json": lambda s: {"guided_json": s.schema},
    "structured_outputs": lambda s: {"structured_outputs": {"json": s.schema}},
    "llama_server": lambda s: {"json_schema": s.schema},
    "ollama_format": lambda s: {"format": s.schema},
    "tools": _tools,
    "prompt": lambda s: {},
}


_REGEX_PAYLOADS: dict[str, Callable[[str], dict[str, Any]]] = {
    "tgi_grammar": lambda pattern: {"response_format": {"type": "regex", "value": pattern}},
    "guided_json": lambda pattern: {"guided_regex": pattern},
    "structured_outputs": lambda pattern: {"structured_outputs": {"regex": pattern}},
}
REGEX_MODES = frozenset(_REGEX_PAYLOADS)
"""The modes whose servers hold decoding to a regular expression (TGI's grammar, vLLM's)."""


def structured_payload(
    mode: StructuredOutputMode, spec: StructuredSpec, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages and the payload fields that ask for `spec` in `mode` (a pattern only in
    `REGEX_MODES`, which the LLM checks before it builds a request)."""
    if spec.regex is not None:
        return messages, _REGEX_PAYLOADS[mode](spec.regex)
    if mode == "prompt":
        instruction = SCHEMA_PROMPT.format(schema=json.dumps(spec.schema, ensure_ascii=False))
        messages = [{"role": "system", "content": instruction}, *messages]
    return messages, _PAYLOADS[mode](spec)


def fields_of(mode: StructuredOutputMode) -> tuple[str, ...]:
    """The request fields `mode` sends (and a refusal of it names)."""
    if mode == "tools":
        return ("tools", "tool_choice")
    if mode in ("json_schema", "json_object", "tgi_grammar"):
        return ("response_format", "json_schema", "json_object")
    return tuple(_PAYLOADS[mode](StructuredSpec("x", {})))


def refuses_mode(mode: StructuredOutputMode, status: int | None, message: str) -> bool:
    """Whether an error answering a request sent in `mode` is a refusal of that form.

    A 400/422 (or a 5xx worded as a request validation error) whose message names one of the
    fields the mode sends: a context-length 400 or a bad setting is the row's own error, not
    the form's, and must not move `auto` on.
    """
    if mode == "prompt" or status is None:
        return False
    if status not in (400, 422) and not (status >= 500 and is_refusal(message)):
        return False
    lowered = message.lower()
    return any(field in lowered for field in fields_of(mode))


def reply_text(message: dict[str, Any], mode: StructuredOutputMode | None) -> Any:
    """The text to validate from a chat reply's message: a tool call's arguments in `tools`
    mode (the content when the server answered in text anyway), else the content."""
    if mode == "tools":
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls and isinstance(calls[0], dict):
            function = calls[0].get("function")
            if isinstance(function, dict) and function.get("arguments") is not None:
                arguments = function["arguments"]
                return arguments if isinstance(arguments, str) else json.dumps(arguments)
    return message.get("content")
