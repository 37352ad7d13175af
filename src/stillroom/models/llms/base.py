"""The LLM contract every backend implements (docs/architecture.md).

`LLM.generate(inputs, num_generations)` returns one `GenerateOutput` per input. `AsyncLLM`
backends implement `agenerate` for one input; their sync `generate` runs on a private
background event loop so it also works inside a notebook's running loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ClassVar, TypeVar

from pydantic import ConfigDict, Field, PositiveInt, PrivateAttr

from stillroom.errors import (
    StillroomNotImplementedError,
    StillroomTypeError,
)
from stillroom.mixins.loadable import LoadableMixin
from stillroom.mixins.runtime_parameters import (
    RuntimeParameter,
)
from stillroom.models.llms.resilience import RetryCounter
from stillroom.models.llms.settings import GenerationKwargsMixin
from stillroom.typing import (
    FormattedInput,
    GenerateOutput,
    HiddenState,
    StandardInput,
    StructuredOutputType,
)
from stillroom.utils.event_loop import LoopThread
from stillroom.utils.serialization import Serializable, gathered_names, secret_fields

_T = TypeVar("_T")


def _guard_sync(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: LLM, *args: Any, **kwargs: Any) -> Any:
        self._ensure_loaded("generate()")
        _check_inputs(self, args[0] if args else kwargs.get("inputs"))
        outputs = method(self, *args, **kwargs)
        if outputs:
            self._last_output = outputs[-1]
        return outputs

    wrapper.__stillroom_guarded__ = True  # type: ignore[attr-defined]
    return wrapper


def _check_inputs(llm: LLM, inputs: Any) -> None:
    """`generate` takes a list of inputs: say so when it is given one conversation (or a
    string) instead, before a backend fails on it with an unrelated error."""
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        got = "one conversation (a list of messages)"
    elif isinstance(inputs, (str, dict)):
        got = f"a {type(inputs).__name__}"
    else:
        return
    raise StillroomTypeError(
        f"{llm._label()}: generate() takes a list of inputs, each a conversation (a list of "
        f"{{'role': ..., 'content': ...}} messages); it got {got}. Wrap a single "
        "conversation in a list: llm.generate([conversation])."
    )


def _guard_async(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(self: AsyncLLM, *args: Any, **kwargs: Any) -> Any:
        self._ensure_loaded("agenerate()")
        if not self._limits_concurrency or type(self).agenerate is not wrapper:
            # A wrapper LLM (the LLM it wraps holds the slot), or a subclass's `agenerate`
            # calling `super().agenerate(...)`: the caller holds the slot already.
            output = await method(self, *args, **kwargs)
        else:
            async with self._request_slot():
                output = await method(self, *args, **kwargs)
        self._last_output = output
        return output

    wrapper.__stillroom_guarded__ = True  # type: ignore[attr-defined]
    return wrapper


def reply_to_each(
    inputs: Iterable[FormattedInput], reply: Callable[[FormattedInput], GenerateOutput]
) -> list[GenerateOutput | BaseException]:
    """`reply(input)` for each input in turn; an input whose reply raised gets its exception."""
    results: list[GenerateOutput | BaseException] = []
    for formatted_input in inputs:
        try:
            results.append(reply(formatted_input))
        except Exception as exc:
            results.append(exc)
    return results


class LLM(GenerationKwargsMixin, LoadableMixin, Serializable, ABC):
    """Base class of every backend: a model name, generation settings and `generate`."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        validate_assignment=True,
        protected_namespaces=(),
        extra="forbid",
    )

    generation_kwargs: RuntimeParameter[dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings sent with every request (temperature, max_new_tokens, ...).",
    )
    structured_output: RuntimeParameter[StructuredOutputType | None] = Field(
        default=None,
        description="Shape every reply must follow: {'format': 'json', 'schema': ...}.",
    )
    use_offline_batch_generation: RuntimeParameter[bool] = Field(
        default=False,
        description="Send the requests through the provider's batch API (backends that have "
        "one); an LLM without one refuses True before its first request.",
    )
    offline_batch_generation_block_until_done: RuntimeParameter[PositiveInt | None] = Field(
        default=None,
        description="With the batch API: poll every this many seconds until the batch is "
        "done, instead of stopping the run to resume it later.",
    )
    jobs_ids: tuple[str, ...] | None = Field(
        default=None, description="The batch API's job ids of the requests sent (kept to resume)."
    )

    input_price_per_1m: float | None = Field(
        default=None,
        ge=0,
        description="US dollars per million input tokens, for the cost shown while a pipeline "
        "runs and in its summary (default: `pricing.PRICES` by model name, if listed).",
    )
    output_price_per_1m: float | None = Field(
        default=None, ge=0, description="US dollars per million output tokens (see above)."
    )

    _last_output: GenerateOutput | None = PrivateAttr(default=None)
    _retries: RetryCounter = PrivateAttr(default_factory=RetryCounter)

    _one_request_at_a_time: ClassVar[bool] = False
    """True for a backend that answers the inputs of a batch one after another (llama.cpp):
    the progress display then shows 1 request in flight, the rest queued."""

    _limits_concurrency: ClassVar[bool] = True
    """Whether `agenerate` takes one of `max_concurrent_requests` slots (wrappers do not)."""

    _transport_fields: ClassVar[frozenset[str]] = frozenset(
        {
            *("use_offline_batch_generation", "offline_batch_generation_block_until_done"),
            *("jobs_ids", "input_price_per_1m", "output_price_per_1m"),
        }
    )
    """Fields saying how requests are sent (concurrency, timeouts, retries, rate limits, ...),
    not what comes back. Each class lists its own; `transport_fields` gathers them over the
    class's bases. They are left out of request-cache keys (`reply_settings`)."""

    _stillroom_fields: ClassVar[frozenset[str]] = frozenset(
        {"input_price_per_1m", "output_price_per_1m"}
    )
    """Fields stillroom adds to distilabel's for the same class. Each class lists its own;
    `dump` writes them only when set to something other than their default, so the dump of
    an LLM configured as distilabel allows is distilabel's (and loads in either library)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, guard in (("generate", _guard_sync), ("agenerate", _guard_async)):
            method = cls.__dict__.get(name)
            if method is None or getattr(method, "__stillroom_guarded__", False):
                continue
            if not getattr(method, "__isabstractmethod__", False):
                setattr(cls, name, guard(method))
        if "load" in cls.__dict__ and not cls.__module__.startswith("stillroom."):
            # A user's own LLM (a test double, as in distilabel's tests) may skip load():
            # only the loading a stillroom backend below it needs makes load() required.
            cls._needs_load = any(getattr(base, "_needs_load", False) for base in cls.__bases__)

    @classmethod
    def transport_fields(cls) -> frozenset[str]:
        """Every `_transport_fields` name declared by this class or its bases."""
        return gathered_names(cls, "_transport_fields")

    def _ensure_loaded(self, action: str) -> None:
        """Also refuse, before any request, `use_offline_batch_generation` on a backend
        without a batch API (checked here, not when the LLM is built: a task decides first
        whether it can take its replies from a batch at all, as in distilabel)."""
        super()._ensure_loaded(action)
        self._refuse_missing_batch_api()

    def _refuse_missing_batch_api(self) -> None:
        if self.use_offline_batch_generation and not self._has_batch_api():
            raise StillroomNotImplementedError(
                f"{type(self).__name__} has no offline batch generation: leave "
                "use_offline_batch_generation at False, or use a backend whose provider has a "
                "batch API."
            )

    def _has_batch_api(self) -> bool:
        return type(self).offline_batch_generate is not LLM.offline_batch_generate

    def learnt_state(self) -> dict[str, Any]:
        """What the LLM found out about its server during a run (JSON-able), which a resumed
        run gives back through `restore_learnt_state` so it need not find it out again: e.g.
        the structured-output form an OpenAI-compatible server takes, or the `jobs_ids` of a
        batch still running (so a resumed run polls it instead of creating another)."""
        return {"jobs_ids": list(self.jobs_ids)} if self.jobs_ids else {}

    def restore_learnt_state(self, state: dict[str, Any]) -> None:
        """Take back what `learnt_state` returned in an earlier run."""
        jobs_ids = state.get("jobs_ids")
        if isinstance(jobs_ids, list) and jobs_ids:
            self.jobs_ids = tuple(str(job_id) for job_id in jobs_ids)

    def reply_settings(self) -> dict[str, Any]:
        """The configuration that decides the replies: every field but secrets, excluded
        fields and transport fields. A pipeline's request cache keys on it, so changing
        any of these (model, server URL, scripted replies, ...) sends the requests again."""
        fields = type(self).model_fields
        left_out = secret_fields(type(self)) | self.transport_fields()
        return {
            name: getattr(self, name)
            for name, field in fields.items()
            if name not in left_out and not field.exclude
        }

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's name, written into the `model_name` column of every task row."""

    @abstractmethod
    def generate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        """One `GenerateOutput` per input, each with `num_generations` generations."""

    @property
    def retries(self) -> RetryCounter:
        """The requests this LLM retried, by kind: stays empty for a backend that never
        retries, so a pipeline can summarise any LLM's retries the same way."""
        return self._retries

    @property
    def last_reply(self) -> str | None:
        """The first generation of the most recent reply (None before any request)."""
        if self._last_output is None or not self._last_output["generations"]:
            return None
        return self._last_output["generations"][0]

    def get_last_hidden_states(self, inputs: list[StandardInput]) -> list[HiddenState]:
        """The last layer's hidden states for each conversation, as rendered for the model:
        one array of shape [tokens, hidden size] per input (what `GenerateEmbeddings` reads).
        Only in-process backends hold a model to read them from; the others raise this."""
        raise StillroomNotImplementedError(
            f"{self._label()} cannot give hidden states: they need a model run in this "
            "process (TransformersLLM, LlamaCppLLM). For a hosted model's vectors, use "
            "EmbeddingGeneration with an embeddings model."
        )

    def offline_batch_generate(
        self,
        inputs: list[FormattedInput] | None = None,
        num_generations: int = 1,
        **kwargs: Any,
    ) -> list[GenerateOutput]:
        """Replies through the provider's batch API (cheaper, answered within hours). A
        backend with such an API overrides it; the others raise this error."""
        raise StillroomNotImplementedError(
            f"{self._label()} has no offline batch generation: use generate(), or a backend "
            "whose provider has a batch API."
        )

    def generate_outputs(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        """`generate`, or with `use_offline_batch_generation` the batch API: polled until
        done when `offline_batch_generation_block_until_done` is set, else a batch still
        running raises `StillroomOfflineBatchGenerationNotFinishedException`."""
        if not self.use_offline_batch_generation:
            return self.generate(inputs, num_generations, **kwargs)
        from stillroom.models.llms.offline_batch import wait_for_batch

        return wait_for_batch(
            lambda: self.offline_batch_generate(inputs, num_generations, **kwargs),
            self.offline_batch_generation_block_until_done,
            self._label(),
        )

    def offline_batch_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        """`generate_outputs` with `generation_kwargs`, one result per input as
        `generate_results` gives them: an input whose batch entry failed is its error. What a
        task with offline batch generation calls (a pipeline's request cache wraps it)."""
        from stillroom.models.llms.offline_batch import as_results

        kwargs = {**self.generation_kwargs, **kwargs}
        return as_results(self.generate_outputs(inputs, num_generations, **kwargs))

    def generate_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        """One result per input, where a failed request is its exception instead of raising.

        The default sends the batch at once and, if that fails, each input alone so that one
        bad request only costs its own row. Backends that can isolate failures themselves
        (every `AsyncLLM`, the mock LLMs) override it to never resend a request.
        """
        kwargs = {**self.generation_kwargs, **kwargs}
        try:
            outputs: list[GenerateOutput | BaseException] = list(
                self.generate(inputs, num_generations, **kwargs)
            )
        except Exception as exc:
            if len(inputs) <= 1:
                return [exc] * len(inputs)
            return [
                r for i in inputs for r in self.generate_results([i], num_generations, **kwargs)
            ]
        if len(outputs) != len(inputs):
            error = RuntimeError(
                f"{type(self).__name__}.generate returned {len(outputs)} outputs for "
                f"{len(inputs)} inputs"
            )
            return [error] * len(inputs)
        return outputs

    def _label(self) -> str:
        return f"LLM {type(self).__name__}({self.model_name!r})"


class AsyncLLM(LLM):
    """A backend that answers one input at a time, asynchronously (`agenerate`).

    At most `max_concurrent_requests` calls of `agenerate` run at once per event loop,
    however many tasks or rows share this LLM. It is an ordinary field (set when the LLM is
    built, kept in its dump), not a runtime parameter: distilabel's LLMs have none by that
    name, save `MistralLLM`, which declares it as one.
    """

    max_concurrent_requests: PositiveInt = Field(
        default=64, description="Requests in flight at once, at most."
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset({"max_concurrent_requests"})
    _stillroom_fields: ClassVar[frozenset[str]] = frozenset({"max_concurrent_requests"})

    _loop_thread: LoopThread | None = PrivateAttr(default=None)
    _slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = PrivateAttr(default_factory=dict)

    def _request_slot(self) -> asyncio.Semaphore:
        """The semaphore bounding concurrent requests on the running loop."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            self._slots = {
                known: sem for known, sem in self._slots.items() if not known.is_closed()
            }
            slot = self._slots[loop] = asyncio.Semaphore(self.max_concurrent_requests)
        return slot

    @abstractmethod
    async def agenerate(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput:
        """The reply to one formatted input."""

    def _generation_signature(self) -> Callable[..., Any]:
        return type(self).agenerate

    def generate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        """Run `agenerate` for every input concurrently and wait for all of them."""

        async def _all() -> list[GenerateOutput]:
            return list(
                await asyncio.gather(
                    *(self.agenerate(i, num_generations=num_generations, **kwargs) for i in inputs)
                )
            )

        return self.run_sync(_all())

    async def agenerate_result(
        self, input: FormattedInput, num_generations: int = 1, **kwargs: Any
    ) -> GenerateOutput | BaseException:
        """`agenerate` with `generation_kwargs`, returning a failure as its exception."""
        try:
            return await self.agenerate(
                input, num_generations=num_generations, **{**self.generation_kwargs, **kwargs}
            )
        except Exception as exc:
            return exc

    def generate_results(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput | BaseException]:
        async def _all() -> list[GenerateOutput | BaseException]:
            return list(
                await asyncio.gather(
                    *(self.agenerate_result(i, num_generations, **kwargs) for i in inputs)
                )
            )

        return self.run_sync(_all())

    def run_sync(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run a coroutine on this LLM's private loop from synchronous code.

        The coroutine runs in a copy of the caller's context (`LoopThread.run`).
        """
        if self._loop_thread is None:
            self._loop_thread = LoopThread(name=f"stillroom-{type(self).__name__}")
        return self._loop_thread.run(coro)

    def unload(self) -> None:
        if self._loop_thread is not None:
            self._loop_thread.close()
            self._loop_thread = None
        super().unload()


def is_async_llm(llm: LLM) -> bool:
    return isinstance(llm, AsyncLLM) and inspect.iscoroutinefunction(type(llm).agenerate)


async def ask(
    llm: LLM, input: FormattedInput, num_generations: int, kwargs: dict[str, Any]
) -> GenerateOutput | BaseException:
    """One LLM's result for one input, from async code (its failure returned, not raised):
    for LLMs composed of LLMs (`FallbackLLM`, `MixtureOfAgentsLLM`). A synchronous LLM
    answers in a worker thread, so the event loop is not blocked."""
    if is_async_llm(llm):
        return await llm.agenerate_result(input, num_generations, **kwargs)  # type: ignore[attr-defined,no-any-return]
    (result,) = await asyncio.to_thread(llm.generate_results, [input], num_generations, **kwargs)
    return result
