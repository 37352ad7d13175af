"""What the mock server answers: deterministic text derived from the request.

A request is first normalised (whatever its API) into an `LLMRequest`: plain-text messages,
`n`, `max_tokens` and the structured output it asks for. The reply for each choice comes from
the configured reply function or template (the default echoes the last user message), is
wrapped into JSON when a schema was requested, and is cut at `max_tokens` words.
Tokens are counted as whitespace-separated words, like the mock LLMs in `stillroom.models`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from stillroom.testing.json_schema import instance_for, invalid_instance_for

StructuredStage = Literal["valid", "malformed", "invalid"]
"""Whether a structured reply is correct, not JSON at all, or JSON that breaks the schema."""


@dataclass(frozen=True, slots=True)
class Structured:
    """The structured output a request asks for.

    `kind` is "json_object" (any JSON object), "json_schema" (a value matching `schema`) or
    "tool" (an Anthropic tool call named `tool_name` whose input matches `schema`).
    """

    kind: Literal["json_object", "json_schema", "tool"]
    schema: dict[str, Any] | None = None
    tool_name: str | None = None


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """A completion request normalised from any of the served APIs."""

    endpoint: str
    model: str
    messages: list[dict[str, str]]
    n: int = 1
    max_tokens: int | None = None
    structured: Structured | None = None
    body: dict[str, Any] | None = None
    images: int = 0
    """Image parts the messages held (checked, then left out of the text)."""

    @property
    def prompt(self) -> str:
        """The text of the last user message ("" when there is none)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens this request is billed for: the words of all its messages."""
        return sum(count_tokens(m["content"]) for m in self.messages)


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """Everything a reply function may base its answer on, for one choice of one request.

    `prompt` is the last user message; `messages` the whole conversation as
    `{"role", "content"}` text (an Anthropic `system` comes first with role "system");
    `index` the choice number (0 to n-1); `attempt` how many times this prompt has been
    requested so far, this request included; `schema` the JSON schema asked for, if any;
    `body` the request body as sent.
    """

    endpoint: str
    model: str
    prompt: str
    messages: list[dict[str, str]]
    index: int
    attempt: int
    schema: dict[str, Any] | None
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Generation:
    """One choice of a reply: its text, or the input of a tool call, and why it ended."""

    text: str
    finish: Literal["stop", "length"]
    tool_input: dict[str, Any] | None = None

    @property
    def tokens(self) -> int:
        """Completion tokens this choice is billed for."""
        if self.tool_input is not None:
            return count_tokens(json.dumps(self.tool_input))
        return count_tokens(self.text)


def count_tokens(text: str) -> int:
    """Tokens of a text for usage reports: its whitespace-separated words."""
    return len(text.split())


def echo_reply(context: ReplyContext) -> str:
    """The default reply: "echo: <prompt>", with " #<index>" added for choices after the first."""
    suffix = f" #{context.index}" if context.index else ""
    return f"echo: {context.prompt}{suffix}"


def prompt_key(messages: list[dict[str, str]]) -> str:
    """The key under which the server counts requests of one prompt.

    A conversation made of a single user message is keyed by that message's text; any other
    conversation by its messages written as "role: content" lines. Tests use it to look up
    `StatsSnapshot.requests_by_prompt` for a conversation with a system prompt.
    """
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def check_template(template: str) -> None:
    """Raise `ValueError` if a reply template uses a field the server does not fill."""
    try:
        template.format(prompt="", index=0, model="", attempt=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"Invalid reply template {template!r} ({exc!r}); it may use the fields "
            "{prompt}, {index}, {model} and {attempt}, and must write literal braces as {{ }}."
        ) from None


def _base_reply(reply: Callable[[ReplyContext], Any] | str | None, context: ReplyContext) -> Any:
    if reply is None:
        return echo_reply(context)
    if isinstance(reply, str):
        return reply.format(
            prompt=context.prompt, index=context.index, model=context.model, attempt=context.attempt
        )
    return reply(context)


def build_generations(
    request: LLMRequest,
    reply: Callable[[ReplyContext], Any] | str | None,
    attempt: int,
    stage: StructuredStage = "valid",
) -> list[Generation]:
    """The `n` choices answering `request` on its `attempt`-th try.

    A reply function returning a dict or list has it sent as JSON as it is; one returning a
    string has that string fill the string fields of the requested schema. `stage` makes a
    structured reply malformed (cut in half) or schema-invalid, to exercise client retries.
    """
    structured = request.structured
    schema = structured.schema if structured else None
    out = []
    for index in range(request.n):
        context = ReplyContext(
            endpoint=request.endpoint,
            model=request.model,
            prompt=request.prompt,
            messages=request.messages,
            index=index,
            attempt=attempt,
            schema=schema,
            body=request.body or {},
        )
        base = _base_reply(reply, context)
        if structured is None:
            text = base if isinstance(base, str) else json.dumps(base)
            out.append(_truncate(text, request.max_tokens))
            continue
        value = _structured_value(structured, base, index, stage)
        text = json.dumps(value)
        if stage == "malformed":
            # Half a JSON object never parses: its closing brace is gone.
            out.append(_truncate(text[: max(1, len(text) // 2)], request.max_tokens))
        elif structured.kind == "tool" and isinstance(value, dict):
            out.append(Generation(text="", finish="stop", tool_input=value))
        else:
            out.append(_truncate(text, request.max_tokens))
    return out


def _structured_value(structured: Structured, base: Any, index: int, stage: StructuredStage) -> Any:
    text = base if isinstance(base, str) else json.dumps(base)
    schema = structured.schema if structured.kind != "json_object" else {"type": "object"}
    if stage == "invalid":
        if structured.kind == "json_object":
            return [text]
        return invalid_instance_for(schema or {}, text)
    if not isinstance(base, str):
        return base
    if structured.kind == "json_object":
        return {"reply": text}
    return instance_for(schema or {}, text, index)


def _truncate(text: str, max_tokens: int | None) -> Generation:
    if max_tokens is not None:
        words = text.split()
        if len(words) > max_tokens:
            return Generation(text=" ".join(words[:max_tokens]), finish="length")
    return Generation(text=text, finish="stop")
