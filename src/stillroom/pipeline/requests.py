"""The request cache behind the LLM a pipeline gives each task, and the counters it keeps.

A request's key hashes what determines its reply: the step, the LLM class, the LLM's
configuration (`LLM.reply_settings()`: model, server URL, generation settings, structured
output, scripted replies, ... but not the transport fields saying how requests are sent, such
as concurrency, timeouts, retries and rate limits), the input, the call's own settings
(`num_generations`, keyword arguments), and the request's *occurrence*: how many identical
requests the same step sent earlier in the run. The occurrence is what gives two rows with
the same prompt two different replies, and it is stable across a resume because counts are
committed together with the checkpoint that consumed the rows (see `consume`), from the
`Ledger` of each unit of work. API keys never enter a key.

Only successful replies with text for every generation (or, from an embedding model, a
vector) are cached, so a rerun retries exactly the requests that failed. `cached_llm.py`
puts this cache in front of a task's LLM, `cached_embeddings.py` in front of the embedding
model of a step such as `EmbeddingGeneration`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from stillroom.models.llms.pricing import llm_prices
from stillroom.models.llms.wrapper import unwrap
from stillroom.pipeline.signature import canonical_json, qualified_name

if TYPE_CHECKING:
    from stillroom.models.embeddings.base import Embeddings
    from stillroom.models.llms.base import LLM
    from stillroom.steps.base import _Step
    from stillroom.steps.tasks.base import LLMResult, _Task
    from stillroom.typing import FormattedInput, GenerateOutput


@dataclass
class Ledger:
    """The requests one unit of work made (content hashes, in order). The engine makes their
    counts permanent with the checkpoint that records the unit (`RequestCache.consume`),
    which is what makes a resume key every request as the first run did. `attempt` names
    a Ray replica's try at the unit (see `StepCounter` in `pipeline/ray/counter.py`)."""

    hashes: list[bytes] = field(default_factory=list)
    attempt: str | None = None


def request_content(
    formatted_input: FormattedInput, num_generations: int, kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """What keys one request besides the task and its LLM: the input and the call's settings."""
    return {"input": formatted_input, "call": {"num_generations": num_generations, **kwargs}}


class SeenFilter:
    """The request contents that may have a count in the store's `seen` table (one run and
    step): a Bloom filter, so that a content never counted before, the usual case, costs
    no query. It never misses a counted content, so occurrences, hence keys, are exactly
    what querying every time gives.

    `reload(add)` calls `add` with every content the table counts; the filter reads them
    once at the start (a resumed run) and again whenever it grows fourfold, which keeps
    its false positives under 1% (at most 12 bits of memory per content, four set per
    content). It starts at 128 KiB, room for about 87,000 contents before the first
    rebuild.
    """

    _BITS_PER_CONTENT = 12
    _SMALLEST = 20  # log2 of the bits to start with

    def __init__(self, reload: Callable[[Callable[[bytes], None]], None]) -> None:
        self._reload = reload
        self._size = self._SMALLEST
        self._rebuild()

    def _rebuild(self) -> None:
        self._mask = (1 << self._size) - 1
        self._bits = bytearray(1 << (self._size - 3))
        self._count = 0
        self._reload(self._add)

    def _add(self, content: bytes) -> None:
        value, mask, bits = int.from_bytes(content, "little"), self._mask, self._bits
        for shift in (0, 32, 64, 96):  # four slices of the 128-bit digest
            position = (value >> shift) & mask
            bits[position >> 3] |= 1 << (position & 7)
        self._count += 1

    def may_hold(self, content: bytes) -> bool:
        value, mask, bits = int.from_bytes(content, "little"), self._mask, self._bits
        for shift in (0, 32, 64, 96):
            position = (value >> shift) & mask
            if not bits[position >> 3] & (1 << (position & 7)):
                return False
        return True

    def add(self, contents: list[bytes]) -> None:
        """Note contents just counted in the store (`add_seen` first)."""
        for content in contents:
            self._add(content)
        size = self._size
        while self._count * self._BITS_PER_CONTENT > 1 << size and size < 32:
            size = min(size + 2, 32)
        if size != self._size:
            self._size = size
            self._rebuild()


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
    cached_tokens: int = 0
    """Input and output tokens of the replies taken from the cache (what they saved)."""
    prices: tuple[float, float] | None = None
    """(input, output) dollars per million tokens, when known (`pricing.llm_prices`)."""
    limit: int | None = None
    """Most requests the LLM answers at once (`max_concurrent_requests`, 1 for llama.cpp)."""


def cacheable(result: Any) -> bool:
    """A reply worth keeping: not an exception, and text for every generation (or a
    non-empty vector, for an embedding request)."""
    if isinstance(result, BaseException) or not isinstance(result, dict):
        return False
    if "embedding" in result:
        vector = result["embedding"]
        return isinstance(vector, list) and bool(vector)
    generations = result.get("generations")
    return isinstance(generations, list) and bool(generations) and None not in generations


def _requests_at_once(llm: Any) -> int | None:
    if getattr(llm, "_one_request_at_a_time", False):
        return 1
    limit = getattr(llm, "max_concurrent_requests", None)
    return limit if isinstance(limit, int) else None


def _tokens(statistics: Any) -> tuple[int, int]:
    """(input, output) tokens of one reply's `statistics`: the prompt once, every generation."""
    if not isinstance(statistics, dict):
        return 0, 0
    inputs = statistics.get("input_tokens") or []
    input_tokens = inputs[0] if inputs and inputs[0] else 0
    return input_tokens, sum(t for t in statistics.get("output_tokens") or [] if t)


class RequestStore(Protocol):
    """What a `RequestCache` reads and writes: `SQLiteStore` locally, a replica's
    `ReplicaJournal` on Ray."""

    lock: Any

    def get_request(self, key: bytes) -> dict[str, Any] | None: ...

    def put_request(self, key: bytes, value: dict[str, Any]) -> bool: ...

    def put_requests(self, items: list[tuple[bytes, dict[str, Any]]]) -> list[bool]:
        """Store the replies of one request to a model (an embeddings request's texts) with
        one journal write, so that a kill does not fall between two of them."""
        ...

    def seen_count(self, run: str, step: str, digest: bytes) -> int: ...

    def each_seen(self, run: str, step: str, add: Callable[[bytes], None]) -> None: ...

    def add_seen(self, run: str, step: str, digests: Iterable[bytes]) -> None: ...


class RequestCache:
    """One step's requests: keys, cache lookups and writes, duplicate counting, counters.

    The requests are a task's to its LLM, or with `model` those of another step to that
    model (an `Embeddings`: anything with `model_name` and `reply_settings()`).
    """

    def __init__(
        self,
        store: RequestStore,
        run: str,
        task: _Task | _Step,
        read: bool,
        model: LLM | Embeddings | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.step = str(task.name)
        self.read = read
        llm = model if model is not None else unwrap(task.llm)  # type: ignore[union-attr]
        self.stats = RequestStats(
            model=llm.model_name, prices=llm_prices(llm), limit=_requests_at_once(llm)
        )
        self._pending: dict[bytes, int] = {}
        settings = {
            "step": task.name,
            "llm": qualified_name(type(llm)),
            "model": llm.model_name,
            "config": llm.reply_settings(),
        }
        prefix = canonical_json(settings).encode("utf-8") + b"\x00"
        self._hasher = hashlib.blake2b(prefix, digest_size=16)  # copied for each key
        self._seen = SeenFilter(lambda add: store.each_seen(run, self.step, add))

    # --- keys -------------------------------------------------------------------------------

    def key(self, request: Any, ledger: Ledger | None) -> bytes:
        """The cache key of the next request with this content (`request_content`),
        counting it as sent, in `ledger` too."""
        content = self.content(request)
        with self.store.lock:
            earlier = self._pending.get(content, 0)
            occurrence = earlier
            if self._seen.may_hold(content):
                occurrence += self.store.seen_count(self.run, self.step, content)
            self._pending[content] = earlier + 1
        if ledger is not None:
            ledger.hashes.append(content)
        return self.occurrence_key(content, occurrence)

    def content(self, request: Any) -> bytes:
        """The hash of what determines a request's reply, its occurrence aside."""
        text = canonical_json(request).encode("utf-8", "surrogatepass")  # any str
        hasher = self._hasher.copy()
        hasher.update(text)
        return hasher.digest()

    @staticmethod
    def occurrence_key(content: bytes, occurrence: int) -> bytes:
        """The cache key of the `occurrence`-th request (from 0) with this content."""
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
            self._seen.add(hashes)

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
            saved = sum(_tokens(cached.get("statistics")))
            with self.store.lock:
                self.stats.cache_hits += 1
                self.stats.cached_tokens += saved
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
        input_tokens, output_tokens = _tokens(result.get("statistics"))
        stats.input_tokens += input_tokens
        stats.output_tokens += output_tokens

    def many(
        self,
        requests: list[Any],
        ledger: Ledger | None,
        send: Callable[[list[int]], list[LLMResult]],
    ) -> list[LLMResult]:
        """Results for `requests` (`request_content`): cached replies, and `send(indices of
        the misses)` for the others, recorded together (their replies in one journal
        write, so a resumed run never sends part of one batched request again). Should
        `send` raise, the failure is counted for each miss and raised."""
        keys = [self.key(request, ledger) for request in requests]
        results: list[LLMResult | None] = [self._cached(k) for k in keys]
        misses = [i for i, r in enumerate(results) if r is None]
        if not misses:
            return results  # type: ignore[return-value]
        self._in_flight(len(misses))
        try:
            sent = send(misses)
        except Exception as exc:
            with self.store.lock:
                for _ in misses:
                    self._count(exc)
            raise
        finally:
            self._in_flight(-len(misses))
        with self.store.lock:  # all of one request's replies journaled in one write, first
            replies = [(keys[i], r) for i, r in zip(misses, sent, strict=True) if cacheable(r)]
            self.store.put_requests(replies)  # type: ignore[arg-type]
            for i, result in zip(misses, sent, strict=True):
                self._count(result)
                results[i] = result
        return results  # type: ignore[return-value]

    async def one(
        self, request: Any, ledger: Ledger | None, send: Callable[[], Awaitable[LLMResult]]
    ) -> LLMResult:
        """The result for one request: the cached reply, or `await send()`, recorded (a
        raise counted, and raised)."""
        key = self.key(request, ledger)
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
