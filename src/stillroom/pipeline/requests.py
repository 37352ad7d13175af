"""The request cache a pipeline installs on each task, and the counters it keeps.

A request's key hashes what determines its reply: the step, the LLM class, the LLM's
configuration (`LLM.reply_settings()`: model, server URL, generation settings, structured
output, scripted replies, ... but not the transport fields saying how requests are sent, such
as concurrency, timeouts, retries and rate limits), `num_generations`, the messages, and the
request's *occurrence*: how many identical requests the same step sent earlier in the run.
The occurrence is what gives two rows with the same prompt two different replies, and it is
stable across a resume because counts are committed together with the checkpoint that
consumed the rows (see `consume`). API keys never enter a key.

Only successful replies with text for every generation are cached, so a rerun retries
exactly the requests that failed.

Besides the task's own requests (`generate_all`, `agenerate_one`), the cache sees the calls a
custom `process` makes to the task's LLM (`self.llm.generate(...)`, `agenerate`), through
`generate_direct` / `agenerate_direct`: they are counted, cached and resumed the same way.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stillroom.models.llms.base import is_async_llm
from stillroom.pipeline.signature import canonical_json, qualified_name

if TYPE_CHECKING:
    from stillroom.pipeline.store import SQLiteStore
    from stillroom.steps.tasks.base import LLMResult, _Task
    from stillroom.typing import FormattedInput, GenerateOutput

unit_hashes: ContextVar[list[bytes] | None] = ContextVar("stillroom_unit_hashes", default=None)
"""Content hashes of the requests made for the unit of work being processed (set by the engine)."""


@dataclass
class RequestStats:
    """What one task's LLM requests did in this session."""

    model: str
    sent: int = 0
    cache_hits: int = 0
    failed: int = 0
    in_flight: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def cacheable(result: Any) -> bool:
    """A reply worth keeping: not an exception, and text for every generation."""
    if isinstance(result, BaseException) or not isinstance(result, dict):
        return False
    generations = result.get("generations")
    return bool(generations) and all(g is not None for g in generations)


def direct_request(formatted_input: FormattedInput, settings: dict[str, Any]) -> Any:
    """What keys a call the task's own code made: its input, and its other arguments in place
    of the task's `num_generations`."""
    return {"input": formatted_input, "call": settings}


class RequestCache:
    """`RequestHook` for one task: cache lookups and writes, duplicate counting, counters."""

    def __init__(self, store: SQLiteStore, run: str, task: _Task, read: bool) -> None:
        self.store = store
        self.run = run
        self.step = str(task.name)
        self.read = read
        llm = task.llm
        self.stats = RequestStats(model=llm.model_name)
        self._pending: dict[bytes, int] = {}
        settings = {
            "step": task.name,
            "llm": qualified_name(type(llm)),
            "model": llm.model_name,
            "config": llm.reply_settings(),
            "num_generations": task.num_generations,
        }
        self._prefix = canonical_json(settings).encode("utf-8") + b"\x00"

    # --- keys -------------------------------------------------------------------------------

    def key(self, formatted_input: FormattedInput) -> bytes:
        """The cache key of the next request with this input, counting it as sent."""
        text = canonical_json(formatted_input).encode("utf-8", "surrogatepass")  # any str
        content = hashlib.blake2b(self._prefix + text, digest_size=16).digest()
        with self.store.lock:
            earlier = self._pending.get(content, 0)
            occurrence = self.store.seen_count(self.run, self.step, content) + earlier
            self._pending[content] = earlier + 1
        hashes = unit_hashes.get()
        if hashes is not None:
            hashes.append(content)
        return hashlib.blake2b(content + occurrence.to_bytes(8, "little"), digest_size=16).digest()

    def consume(self, hashes: list[bytes]) -> None:
        """The unit that made these requests is finished: make their counts permanent.

        Called by the engine when it records the unit's output, in the same transaction
        as the checkpoint, so a resumed run counts unfinished units' requests again from
        the same base and gives them the same keys.
        """
        if not hashes:
            return
        with self.store.lock:
            self.release(hashes)
            self.store.add_seen(self.run, self.step, hashes)

    def release(self, hashes: list[bytes]) -> None:
        """Forget requests counted as sent by work that will be done again (a Ray replica
        that died), so that the retry gives them the same keys and finds their replies."""
        with self.store.lock:
            for content in hashes:
                left = self._pending[content] - 1
                if left:
                    self._pending[content] = left
                else:
                    del self._pending[content]

    # --- requests ---------------------------------------------------------------------------

    def _cached(self, key: bytes) -> GenerateOutput | None:
        if not self.read:
            return None
        cached = self.store.get_request(key)
        if cached is not None:
            with self.store.lock:
                self.stats.cache_hits += 1
        return cached  # type: ignore[return-value]

    def _record(self, key: bytes, result: LLMResult) -> None:
        with self.store.lock:
            if cacheable(result):  # stored before anything else: a kill may come any moment
                self.store.put_request(key, result)  # type: ignore[arg-type]
            self._count(result)

    def _count(self, result: LLMResult) -> None:
        stats = self.stats
        stats.sent += 1
        if isinstance(result, BaseException):
            stats.failed += 1
            name = type(result).__name__
            stats.errors[name] = stats.errors.get(name, 0) + 1
            return
        statistics = result.get("statistics") or {}
        inputs = statistics.get("input_tokens") or []
        stats.input_tokens += inputs[0] if inputs and inputs[0] else 0
        stats.output_tokens += sum(t for t in statistics.get("output_tokens") or [] if t)

    def generate_all(self, task: _Task, formatted_inputs: list[FormattedInput]) -> list[LLMResult]:
        llm = task.llm
        if is_async_llm(llm):  # each reply recorded as it arrives

            async def _all() -> list[LLMResult]:
                return list(
                    await asyncio.gather(*(self.agenerate_one(task, i) for i in formatted_inputs))
                )

            return llm.run_sync(_all())  # type: ignore[attr-defined,no-any-return]
        return self._many(
            [self.key(i) for i in formatted_inputs],
            lambda misses: llm.generate_results(
                [formatted_inputs[i] for i in misses], num_generations=task.num_generations
            ),
        )

    async def agenerate_one(self, task: _Task, formatted_input: FormattedInput) -> LLMResult:
        return await self._one(
            self.key(formatted_input),
            functools.partial(task.llm.agenerate_result, formatted_input, task.num_generations),  # type: ignore[attr-defined]
        )

    # --- the task's own calls (`self.llm.generate(...)` in a custom process) -----------------

    def generate_direct(
        self,
        inputs: list[FormattedInput],
        settings: dict[str, Any],
        send: Callable[[list[FormattedInput]], list[GenerateOutput]],
    ) -> list[GenerateOutput]:
        """`llm.generate(inputs, ...)` called by the task's code: cached replies, the rest sent."""
        keys = [self.key(direct_request(item, settings)) for item in inputs]
        return self._many(keys, lambda misses: send([inputs[i] for i in misses]))  # type: ignore[return-value]

    async def agenerate_direct(
        self,
        input: FormattedInput,
        settings: dict[str, Any],
        send: Callable[[], Awaitable[GenerateOutput]],
    ) -> GenerateOutput:
        """`llm.agenerate(input, ...)` called by the task's code: the cached reply, or sent."""
        return await self._one(self.key(direct_request(input, settings)), send)  # type: ignore[return-value]

    # --- what every path shares --------------------------------------------------------------

    def _many(
        self, keys: list[bytes], send: Callable[[list[int]], list[LLMResult]]
    ) -> list[LLMResult]:
        """Cached replies for `keys`; `send(indices of the misses)` for the others, recorded.
        Should `send` raise, the failure is counted for each miss and raised."""
        results: list[LLMResult | None] = [self._cached(k) for k in keys]
        misses = [i for i, r in enumerate(results) if r is None]
        if not misses:
            return results  # type: ignore[return-value]
        self._in_flight(len(misses))
        try:
            sent = send(misses)
        except Exception as exc:
            for i in misses:
                self._record(keys[i], exc)
            raise
        finally:
            self._in_flight(-len(misses))
        for i, result in zip(misses, sent, strict=True):
            self._record(keys[i], result)
            results[i] = result
        return results  # type: ignore[return-value]

    async def _one(self, key: bytes, send: Callable[[], Awaitable[LLMResult]]) -> LLMResult:
        """The cached reply for `key`, or `await send()`, recorded (a raise counted, raised)."""
        cached = self._cached(key)
        if cached is not None:
            return cached
        self._in_flight(1)
        try:
            result = await send()
        except Exception as exc:
            self._record(key, exc)
            raise
        finally:
            self._in_flight(-1)
        self._record(key, result)
        return result

    def _in_flight(self, delta: int) -> None:
        with self.store.lock:
            self.stats.in_flight += delta
