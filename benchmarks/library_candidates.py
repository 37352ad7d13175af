"""Our rate limiter next to aiolimiter, and MinHashDedup next to a bare datasketch loop, in one run.

    PYTHONPATH=src python benchmarks/library_candidates.py [--rows 5000] [--repeats 5]

Needs `aiolimiter` (pip install aiolimiter), which stillroom does not depend on, and the
`[minhash]` extra. Each figure is the median (and range) of `--repeats` runs, the two sides
alternating, so both see the same load on the machine.

- rate limiter: microseconds per `acquire()` when the limit never makes a caller wait (the cost
  every request pays), and the rate reached when it does (a 60,000 requests/minute limit, past its burst).
- MinHash + LSH (128 permutations, threshold 0.8, the minhash_dedup corpus): rows/s to sign
  every text and keep the first of each near-duplicate group, and how many rows each keeps.
  `MinHashDedup` has used datasketch since 2026-12-04; this compares the step (batches of 1,000)
  with the plainest datasketch loop (a new `MinHash` per row), both tokenizing the texts: the
  difference is the step's overhead less what it saves by copying one MinHash's permutations.
  The hand-written MinHash/LSH it replaced is in benchmarks/README.md's figures.
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
from stillroom.steps import MinHashDedup
from stillroom.steps.filtering.minhash import KEEP_COLUMN, word_tokens

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


def _dedup_step(texts: list[str]) -> int:
    step = MinHashDedup(threshold=THRESHOLD, num_perm=NUM_PERM, seed=0)
    step.load()
    kept = 0
    for begin in range(0, len(texts), 1000):
        (rows,) = step.process([{"text": text} for text in texts[begin : begin + 1000]])
        kept += sum(row[KEEP_COLUMN] for row in rows)
    step.unload()
    return kept


def _dedup_datasketch(texts: list[str]) -> int:
    token_sets = [sorted(word_tokens(text)) for text in texts]
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
        for name, dedup in (("MinHashDedup", _dedup_step), ("bare datasketch", _dedup_datasketch)):
            start = time.perf_counter()
            kept[name] = dedup(texts)
            record(f"minhash+lsh {name}: rows/s", args.rows / (time.perf_counter() - start))

    print(f"{args.repeats} runs each; median (min to max)")
    for name, values in figures.items():
        print(f"{name:<44} {_summary(values)}")
    for name, count in kept.items():
        print(f"minhash+lsh {name}: rows kept of {args.rows:<14} {count:>10,}")


if __name__ == "__main__":
    main()
