"""Our rate limiter and MinHash/LSH next to the libraries that could replace them, in one run.

    PYTHONPATH=src python benchmarks/library_candidates.py [--rows 5000] [--repeats 5]

Needs `aiolimiter` and `datasketch` (pip install aiolimiter datasketch), which stillroom
itself does not depend on. Each figure is the median (and range) of `--repeats` runs, ours and
the library's alternating, so both see the same load on the machine.

- rate limiter: microseconds per `acquire()` when the limit never makes a caller wait (the cost
  every request pays), and the rate reached when it does (a 60,000 requests/minute limit, past its burst).
- MinHash + LSH (128 permutations, threshold 0.8, word sets of the minhash_dedup corpus):
  rows/s to sign every text and keep the first of each near-duplicate group, and how many rows
  each keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from functools import partial

from aiolimiter import AsyncLimiter
from datasketch import MinHash, MinHashLSH
from minhash_dedup import corpus

from stillroom.models.llms.rate_limit import RateLimiter
from stillroom.steps.filtering.lsh import LSHIndex, MemoryBuckets, MinHasher, optimal_bands
from stillroom.steps.filtering.minhash import word_tokens

NUM_PERM = 128
THRESHOLD = 0.8


def _acquire_cost(make_acquire: Callable[[], Callable[[], object]], calls: int) -> float:
    """Microseconds per acquire, with a limit far above what the loop can reach."""

    async def run() -> float:
        acquire = make_acquire()
        start = time.perf_counter()
        for _ in range(calls):
            await acquire()  # type: ignore[misc]
        return (time.perf_counter() - start) / calls * 1e6

    return asyncio.run(run())


def _throttled_rate(make_acquire: Callable[[], Callable[[], object]], calls: int) -> float:
    """Requests/s reached by 20 tasks sharing a 1,000 requests/s limit, once its 10 s burst
    (the first 10,000 acquires) is spent: `calls` must be well over 10,000."""

    async def run() -> float:
        acquire = make_acquire()
        times: list[float] = []

        async def worker() -> None:
            while len(times) < calls:
                await acquire()  # type: ignore[misc]
                times.append(time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(20)))
        steady = times[10_000:]
        return (len(steady) - 1) / (steady[-1] - steady[0])

    return asyncio.run(run())


def _ours(per_minute: int) -> Callable[[], object]:
    return RateLimiter(requests_per_minute=per_minute).acquire


def _aiolimiter(per_minute: int) -> Callable[[], object]:
    return AsyncLimiter(per_minute / 6, 10).acquire  # the same 10-second burst as ours


def _dedup_ours(token_sets: list[list[bytes]]) -> int:
    bands, rows = optimal_bands(THRESHOLD, NUM_PERM)
    hasher, index = MinHasher(NUM_PERM, 0), LSHIndex(bands, rows, MemoryBuckets(bands))
    return sum(not index.is_duplicate(hasher.signature(tokens)) for tokens in token_sets)


def _dedup_datasketch(token_sets: list[list[bytes]]) -> int:
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    kept = 0
    for i, tokens in enumerate(token_sets):
        signature = MinHash(num_perm=NUM_PERM, seed=0)
        signature.update_batch(tokens)
        if not lsh.query(signature):
            lsh.insert(i, signature)
            kept += 1
    return kept


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):>10,.1f}  ({min(values):,.1f} to {max(values):,.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    figures: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    texts, _ = corpus(args.rows)
    token_sets = [sorted(word_tokens(text)) for text in texts]
    kept: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, make in (("ours", _ours), ("aiolimiter", _aiolimiter)):
            record(
                f"rate limiter {name}: us per acquire", _acquire_cost(partial(make, 10**9), 50_000)
            )
            record(
                f"rate limiter {name}: requests/s at 1,000/s",
                _throttled_rate(partial(make, 60_000), 11_000),
            )
        for name, dedup in (("ours", _dedup_ours), ("datasketch", _dedup_datasketch)):
            start = time.perf_counter()
            kept[name] = dedup(token_sets)
            record(f"minhash+lsh {name}: rows/s", args.rows / (time.perf_counter() - start))

    print(f"{args.repeats} runs each; median (min to max)")
    for name, values in figures.items():
        print(f"{name:<44} {_summary(values)}")
    for name, count in kept.items():
        print(f"minhash+lsh {name}: rows kept of {args.rows:<14} {count:>10,}")


if __name__ == "__main__":
    main()
