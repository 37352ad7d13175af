"""Scripted LLMs for unit tests: fixed replies, a list consumed in order, or a function.

Users test their own tasks with these, so they are public and behave like real backends:
they return `GenerateOutput` with token statistics, honour `num_generations`, and record
every call (`llm.calls`) so a test can assert on the exact prompt a task sent.
A scripted reply may be `None` (a failed generation) or an exception instance (the request
raises it), to test how a task keeps rows when the LLM fails.
They support Magpie's pre-query template (`magpie_pre_query_template=...`): each call records
the template that a real backend would have appended (`MockCall.magpie_pre_query`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from pydantic import Field, PrivateAttr

from stillroom.errors import StillroomError
from stillroom.models.llms.base import LLM, AsyncLLM, reply_to_each
from stillroom.models.mixins.magpie import MagpieChatTemplateMixin
from stillroom.typing import ChatType, FormattedInput, GenerateOutput, StructuredOutputType
from stillroom.utils.chat import content_text

Reply = Union[str, None, BaseException]  # noqa: UP007 (a runtime alias, Python 3.10)
"""One scripted generation: text, None (a failed generation) or an exception to raise."""

Responder = Callable[[ChatType], Reply | list[Reply]]


@dataclass(frozen=True)
class MockCall:
    """One request a mock LLM received."""

    messages: ChatType
    structured_output: StructuredOutputType | None
    num_generations: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    magpie_pre_query: str | None = None
    """The Magpie pre-query template appended to this request, if any (the reply is then
    the user's next message)."""

    @property
    def prompt(self) -> str:
        """The content of the last message: usually the rendered user prompt."""
        return content_text(self.messages[-1]["content"]) if self.messages else ""


def _split_input(input: FormattedInput) -> tuple[ChatType, StructuredOutputType | None]:
    if isinstance(input, tuple):
        return input[0], input[1]
    return input, None


def _count_tokens(text: str) -> int:
    return len(text.split())


class _ScriptedReplies(LLM, MagpieChatTemplateMixin):
    """The scripting and recording shared by `MockLLM` and `AsyncMockLLM`."""

    model: str = Field(default="mock", description="Name reported as `model_name`.")
    responses: Any = Field(
        default="mock reply",
        description="A string (every generation), a list consumed in order, or a function "
        "of the messages returning a reply or a list of replies.",
    )

    _calls: list[MockCall] = PrivateAttr(default_factory=list)
    _cursor: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        value = self.responses
        if callable(value) or (
            isinstance(value, list) and any(isinstance(v, BaseException) for v in value)
        ):
            raise StillroomError(
                f"{type(self).__name__} with a function or exceptions as responses cannot be "
                "serialised; use strings to make it dumpable."
            )
        return super().dump(**kwargs)

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def calls(self) -> list[MockCall]:
        """Every request received, in order."""
        return list(self._calls)

    def reset(self) -> None:
        """Forget recorded calls and restart a list of responses from the beginning."""
        with self._lock:
            self._calls.clear()
            self._cursor = 0

    def _next_scripted(self, messages: ChatType) -> Reply | list[Reply]:
        responses = self.responses
        if callable(responses):
            answer: Reply | list[Reply] = responses(messages)
            return answer
        if isinstance(responses, list):
            if self._cursor >= len(responses):
                raise StillroomError(
                    f"{type(self).__name__} ran out of scripted responses after "
                    f"{len(responses)}; give more responses or a function."
                )
            reply: Reply | list[Reply] = responses[self._cursor]
            self._cursor += 1
            return reply
        single: Reply = responses
        return single

    def _reply(
        self, input: FormattedInput, num_generations: int, kwargs: dict[str, Any]
    ) -> GenerateOutput:
        messages, structured = _split_input(input)
        with self._lock:
            self._calls.append(
                MockCall(
                    messages,
                    structured,
                    num_generations,
                    dict(kwargs),
                    magpie_pre_query=self.magpie_pre_query_for(messages),
                )
            )
            scripted: list[Reply] = []
            while len(scripted) < num_generations:
                reply = self._next_scripted(messages)
                scripted.extend(reply if isinstance(reply, list) else [reply])
        generations: list[str | None] = []
        for reply in scripted[:num_generations]:
            if isinstance(reply, BaseException):
                raise reply
            generations.append(reply)
        prompt_tokens = sum(_count_tokens(str(m.get("content", ""))) for m in messages)
        return {
            "generations": generations,
            "statistics": {
                "input_tokens": [prompt_tokens] * num_generations,
                "output_tokens": [_count_tokens(g) if g else 0 for g in generations],
            },
        }


class MockLLM(_ScriptedReplies):
    """A synchronous scripted LLM."""

    def generate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        return [self._reply(i, num_generations, kwargs) for i in inputs]

    def generate_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        self._ensure_loaded("generate()")
        kwargs = {**self.generation_kwargs, **kwargs}
        return reply_to_each(inputs, lambda i: self._reply(i, num_generations, kwargs))


class AsyncMockLLM(_ScriptedReplies, AsyncLLM):
    """An asynchronous scripted LLM; `latency` seconds are awaited before each reply."""

    latency: float = Field(default=0.0, ge=0.0, description="Seconds to wait per request.")

    _transport_fields: ClassVar[frozenset[str]] = frozenset({"latency"})

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._reply(input, num_generations, kwargs)
