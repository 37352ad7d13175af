"""Throughput and accuracy of MinHashDedup on a synthetic corpus with planted near-duplicates.

Run: `PYTHONPATH=src python benchmarks/minhash_dedup.py [--rows 20000]` (needs the `[minhash]` extra)

The corpus: `rows` texts of about 60 words drawn from a Zipf-like vocabulary; a quarter of
them are near-duplicates of an earlier text (two words replaced, one inserted: word-set
Jaccard similarity about 0.9), the rest are independent. Prints rows/s for each tokenizer and storage, and how many planted
duplicates were flagged (recall) and how many independent texts were wrongly flagged.
"""

from __future__ import annotations

import argparse
import random
import time

from stillroom.steps import MinHashDedup

BATCH = 1000


def corpus(rows: int, seed: int = 0) -> tuple[list[str], list[bool]]:
    """Texts and, for each, whether it was planted as a near-duplicate of an earlier one."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(20000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    texts: list[str] = []
    planted: list[bool] = []
    for _ in range(rows):
        if texts and rng.random() < 0.25:
            words = rng.choice(texts).split()
            for _ in range(2):  # light edits: keep Jaccard similarity high
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
            words.insert(rng.randrange(len(words)), rng.choice(vocabulary))
            texts.append(" ".join(words))
            planted.append(True)
        else:
            texts.append(" ".join(rng.choices(vocabulary, weights, k=60)))
            planted.append(False)
    return texts, planted


def run(texts: list[str], planted: list[bool], **settings: object) -> None:
    step = MinHashDedup(input_batch_size=BATCH, **settings)
    step.load()
    flags: list[bool] = []
    start = time.perf_counter()
    for begin in range(0, len(texts), BATCH):
        batch = [{"text": t} for t in texts[begin : begin + BATCH]]
        flags.extend(row["keep_row_after_minhash_filtering"] for row in next(step.process(batch)))
    elapsed = time.perf_counter() - start
    step.unload()
    found = sum(1 for keep, dup in zip(flags, planted, strict=True) if dup and not keep)
    wrong = sum(1 for keep, dup in zip(flags, planted, strict=True) if not dup and not keep)
    described = ", ".join(f"{k}={v}" for k, v in settings.items())
    print(
        f"{described:<45} {len(texts) / elapsed:>9,.0f} rows/s   "
        f"planted duplicates flagged {found}/{sum(planted)}   "
        f"independent texts flagged {wrong}/{planted.count(False)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    texts, planted = corpus(args.rows)
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{args.rows} texts, {words:.0f} words each on average, batches of {BATCH}")
    run(texts, planted, tokenizer="words", threshold=0.7, storage="dict")
    run(texts, planted, tokenizer="words", threshold=0.7, storage="disk")
    run(texts, planted, tokenizer="words", threshold=0.9, storage="dict")
    run(texts, planted, tokenizer="ngrams", n=5, threshold=0.7, storage="dict")


if __name__ == "__main__":
    main()
