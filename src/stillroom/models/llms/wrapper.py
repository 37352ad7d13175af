"""LLMs that wrap another LLM and keep its contract, adding one concern each.

A wrapper is an `LLM` (or an `AsyncLLM` around an async one) whose requests go through its
own methods before reaching the wrapped LLM; everything else (`model_name`, fields such as
`max_concurrent_requests`, Magpie helpers, `dump()`) is the wrapped LLM's. The pipeline
wraps each task's LLM for a run (cache, journal, counters: `stillroom.pipeline.cached_llm`),
so a custom `process` calling `self.llm.generate(...)` is cached and resumable by
construction; `FallbackLLM` (`fallback.py`) is a wrapper a user builds. See
docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, ClassVar, TypeVar

from pydantic import SkipValidation

from stillroom.models.llms.base import LLM, AsyncLLM, is_async_llm

_W = TypeVar("_W", bound="WrapperLLM")
_T = TypeVar("_T")


class WrapperLLM(LLM):
    """An LLM in front of `wrapped`: subclasses override the request methods."""

    wrapped: SkipValidation[LLM]
    """The LLM asked for what this wrapper does not answer itself."""

    _limits_concurrency: ClassVar[bool] = False  # the wrapped LLM keeps its own limit

    @property
    def model_name(self) -> str:
        return self.wrapped.model_name

    def __getattr__(self, name: str) -> Any:
        """The wrapped LLM's attributes (its fields, `magpie_pre_query_for`, ...)."""
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if name.startswith("__") or name == "wrapped":
                raise
            return getattr(self.wrapped, name)

    def load(self) -> None:
        self.wrapped.load()

    def unload(self) -> None:
        self.wrapped.unload()
        super().unload()

    def reply_settings(self) -> dict[str, Any]:
        return self.wrapped.reply_settings()

    def learnt_state(self) -> dict[str, Any]:
        return self.wrapped.learnt_state()

    def restore_learnt_state(self, state: dict[str, Any]) -> None:
        self.wrapped.restore_learnt_state(state)

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        """The wrapped LLM's dump: a wrapper added for a run is not configuration."""
        return self.wrapped.dump(**kwargs)

    def _label(self) -> str:
        return self.wrapped._label()

    def generate(self, inputs: list[Any], num_generations: int = 1, **kwargs: Any) -> list[Any]:
        return self.wrapped.generate(inputs, num_generations, **kwargs)

    def get_last_hidden_states(self, inputs: list[Any]) -> list[Any]:
        return self.wrapped.get_last_hidden_states(inputs)

    def offline_batch_results(
        self, inputs: list[Any], num_generations: int = 1, **kwargs: Any
    ) -> list[Any]:
        return self.wrapped.offline_batch_results(inputs, num_generations, **kwargs)


class AsyncWrapperLLM(WrapperLLM, AsyncLLM):
    """A wrapper around an `AsyncLLM`, itself async (so the engine's row path applies)."""

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        return await self.wrapped.agenerate(input, num_generations, **kwargs)  # type: ignore[attr-defined]

    def generate(self, inputs: list[Any], num_generations: int = 1, **kwargs: Any) -> list[Any]:
        return AsyncLLM.generate(self, inputs, num_generations, **kwargs)

    def run_sync(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """On the wrapped LLM's own loop: a wrapper (or a view of one per unit of work)
        starts no loop thread of its own."""
        return self.wrapped.run_sync(coro)  # type: ignore[attr-defined,no-any-return]


def wrapper_class(llm: LLM, sync: type[_W], asynchronous: type[_W]) -> type[_W]:
    """`asynchronous` for an `AsyncLLM`, else `sync`: a wrapper is async when what it wraps is."""
    return asynchronous if is_async_llm(llm) else sync


def unwrap(llm: LLM) -> LLM:
    """The LLM under every wrapper."""
    while isinstance(llm, WrapperLLM):
        llm = llm.wrapped
    return llm
