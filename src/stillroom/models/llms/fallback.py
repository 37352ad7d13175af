"""`FallbackLLM`: the next LLM answers when one fails.

Each request goes to the first LLM; when it fails for good (its own retries included), the
same request goes to the next, and so on. Every LLM keeps its own settings, concurrency limit
and retries. When all of them fail, the error names each failure, so the row kept with it
says what happened at every step.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from stillroom.errors import LLMRequestError
from stillroom.models.llms.base import LLM, AsyncLLM, ask
from stillroom.typing import FormattedInput, GenerateOutput


class FallbackLLM(AsyncLLM):
    """Asks `llms` in order until one answers: `FallbackLLM(llms=[primary, backup])`.

    `model_name` joins their names ("gpt-4o-mini | claude-3-5-haiku"), since a row may have
    been answered by any of them.
    """

    llms: list[LLM] = Field(min_length=1, description="The LLMs to ask, in order.")

    _limits_concurrency: ClassVar[bool] = False  # each LLM keeps its own limit

    @property
    def model_name(self) -> str:
        return " | ".join(llm.model_name for llm in self.llms)

    def load(self) -> None:
        for llm in self.llms:
            llm.load()

    def unload(self) -> None:
        for llm in self.llms:
            llm.unload()
        super().unload()

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput:
        failures: list[str] = []
        for llm in self.llms:
            result = await ask(llm, input, num_generations, kwargs)
            if not isinstance(result, BaseException):
                return result
            failures.append(f"{llm._label()}: {type(result).__name__}: {result}")
        raise LLMRequestError(
            f"{self._label()}: every LLM failed for this request: " + "; ".join(failures)
        )
