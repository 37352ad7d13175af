"""The LLM a task sees while a pipeline runs it: its own LLM behind the request cache.

`cached_llm(task.llm, replies)` wraps the task's LLM for the run (`Engine.install_llms`
puts it on the task, `remove_llms` puts the task's own back). Every request the task makes,
through its default `process` or through a custom `process` calling `self.llm.generate(...)`
or `agenerate(...)`, goes through `replies`: answered from the cache when the run or an
earlier one has the reply, else sent, counted and journaled, and noted in the ledger of the
unit of work it belongs to (`for_unit`). `replies` is a `RequestCache`: over the local
SQLite store, or on Ray over the replica's own journal (`pipeline/ray/journal.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field, SkipValidation

from stillroom.models.llms.wrapper import AsyncWrapperLLM, WrapperLLM, wrapper_class
from stillroom.pipeline.requests import Ledger, request_content

if TYPE_CHECKING:
    from stillroom.models.llms.base import LLM
    from stillroom.steps.tasks.base import LLMResult, _Task
    from stillroom.typing import FormattedInput, GenerateOutput


class Replies(Protocol):
    """Where a `CachedLLM` keys, looks up and records requests (see `requests.py`)."""

    def many(
        self,
        requests: list[Any],
        ledger: Ledger | None,
        send: Callable[[list[int]], list[LLMResult]],
    ) -> list[LLMResult]: ...

    def one(
        self, request: Any, ledger: Ledger | None, send: Callable[[], Awaitable[LLMResult]]
    ) -> Coroutine[Any, Any, LLMResult]: ...


class CachedLLM(WrapperLLM):
    """A task's LLM behind the pipeline's request cache (a sync LLM)."""

    replies: SkipValidation[Replies]
    ledger: SkipValidation[Ledger | None] = Field(default=None, exclude=True)
    """Where the requests of one unit of work are noted (`for_unit`). A field, not a private
    attribute: it is read for every request, and a wrapper's private attributes are reached
    through two `__getattr__` calls."""

    def for_unit(self, ledger: Ledger) -> CachedLLM:
        """This wrapper, noting the requests it keys in `ledger` (one unit of work's)."""
        return self.model_copy(update={"ledger": ledger})

    def _requests(
        self, inputs: list[FormattedInput], num_generations: int, kwargs: dict[str, Any]
    ) -> list[Any]:
        return [request_content(item, num_generations, kwargs) for item in inputs]

    def generate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        """Cached replies, the others from the wrapped LLM; a failure raises, as it would."""
        inputs = list(inputs)

        def send(misses: list[int]) -> list[LLMResult]:
            return list(
                self.wrapped.generate([inputs[i] for i in misses], num_generations, **kwargs)
            )

        return self.replies.many(  # type: ignore[return-value]  # send raised on any failure
            self._requests(inputs, num_generations, kwargs), self.ledger, send
        )

    def generate_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        inputs = list(inputs)
        return self.replies.many(
            self._requests(inputs, num_generations, kwargs),
            self.ledger,
            lambda misses: self.wrapped.generate_results(
                [inputs[i] for i in misses], num_generations, **kwargs
            ),
        )

    def offline_batch_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        """Cached replies, the others through the wrapped LLM's batch API (offline batch
        generation): a completed run's replies are not paid for twice, and a batch still
        running raises (nothing recorded as a reply), so a resumed run asks for the same
        inputs and polls the same job."""
        inputs = list(inputs)
        return self.replies.many(
            self._requests(inputs, num_generations, kwargs),
            self.ledger,
            lambda misses: self.wrapped.offline_batch_results(
                [inputs[i] for i in misses], num_generations, **kwargs
            ),
        )


class AsyncCachedLLM(CachedLLM, AsyncWrapperLLM):
    """A task's `AsyncLLM` behind the pipeline's request cache: each reply is recorded as it
    arrives, and sync calls run on the wrapped LLM's own loop."""

    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput:
        request = request_content(input, num_generations, kwargs)
        return await self.replies.one(  # type: ignore[return-value]
            request,
            self.ledger,
            lambda: self.wrapped.agenerate(input, num_generations, **kwargs),  # type: ignore[attr-defined]
        )

    def agenerate_result(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> Coroutine[Any, Any, GenerateOutput | BaseException]:
        """The cache's coroutine for this request, to be awaited as `AsyncLLM`'s is (not one
        of its own around it: every row on the row path comes this way)."""
        request = request_content(input, num_generations, kwargs)
        return self.replies.one(
            request,
            self.ledger,
            lambda: self.wrapped.agenerate_result(input, num_generations, **kwargs),  # type: ignore[attr-defined]
        )

    def generate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        return AsyncWrapperLLM.generate(self, inputs, num_generations, **kwargs)

    def generate_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        return AsyncWrapperLLM.generate_results(self, inputs, num_generations, **kwargs)


def cached_llm(llm: LLM, replies: Replies) -> CachedLLM:
    """`llm` behind `replies`: async when `llm` is, so the engine's row path still applies."""
    cls = wrapper_class(llm, CachedLLM, AsyncCachedLLM)
    mirrored = {name: getattr(llm, name) for name in _MIRRORED if name in cls.model_fields}
    return cls(wrapped=llm, replies=replies, **mirrored)


_MIRRORED = ("generation_kwargs", "structured_output", "max_concurrent_requests")
"""Fields a wrapper has too, shown as the wrapped LLM's (the row path reads the limit)."""


def swap_llm(task: _Task, llm: LLM) -> None:
    """Set `task.llm` without its field's validation: a wrapper is not configuration, and a
    validator (Magpie's checks the LLM's class) would judge the wrapper, not the LLM."""
    task.__dict__["llm"] = llm
