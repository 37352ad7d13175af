"""MinHashDedup, its MinHash signatures and its LSH banding."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from stillroom.errors import InvalidRowsError, NotLoadedError, StillroomError
from stillroom.steps import MinHashDedup
from stillroom.steps.filtering.lsh import LSHIndex, MinHasher, SqliteBuckets, optimal_bands
from stillroom.steps.filtering.minhash import KEEP_COLUMN, char_ngrams, word_tokens

VOCABULARY = [f"word{i}" for i in range(5000)]


def text_pair(jaccard: float, size: int = 300, seed: int = 0) -> tuple[str, str]:
    """Two texts whose word sets have (about) the given Jaccard similarity."""
    words = random.Random(seed).sample(VOCABULARY, 2 * size)
    shared = round(2 * size * jaccard / (1 + jaccard))
    first = words[:size]
    second = words[:shared] + words[size : size + size - shared]
    return " ".join(first), " ".join(second)


def flags(step: MinHashDedup, *batches: list[dict]) -> list[bool]:
    return [row[KEEP_COLUMN] for batch in batches for row in next(step.process(batch))]


def dedup(**kwargs) -> MinHashDedup:
    step = MinHashDedup(**kwargs)
    step.load()
    return step


def test_tokenizers() -> None:
    assert word_tokens("Hello, WÖRLD! hello") == {b"hello", "wörld".encode()}
    assert char_ngrams("abcd", 3) == {b"abc", b"bcd"}
    assert char_ngrams("ab", 3) == {b"ab"} and char_ngrams("", 3) == set()


def test_signature_agreement_estimates_jaccard() -> None:
    hasher = MinHasher(num_perm=256, seed=3)
    for jaccard in (0.2, 0.5, 0.9):
        a, b = text_pair(jaccard)
        sa, sb = hasher.signature(word_tokens(a)), hasher.signature(word_tokens(b))
        agreement = sum(x == y for x, y in zip(sa, sb, strict=True)) / 256
        assert abs(agreement - jaccard) < 0.1, (jaccard, agreement)


def test_signatures_are_reproducible_for_a_seed() -> None:
    tokens = word_tokens("the same tokens every time")
    assert MinHasher(64, seed=1).signature(tokens) == MinHasher(64, seed=1).signature(tokens)
    assert MinHasher(64, seed=1).signature(tokens) != MinHasher(64, seed=2).signature(tokens)
    assert MinHasher(8, 1).signature([]) == [0xFFFFFFFF] * 8
    assert MinHasher(8, 1).signature([b"x"]) == MinHasher(8, 1).signature({b"x"})


def test_bands_follow_the_threshold() -> None:
    for threshold in (0.5, 0.7, 0.9):
        bands, rows = optimal_bands(threshold, 128)
        assert bands * rows <= 128
        # The S-curve's steepest point (1/bands)^(1/rows) lands near the threshold.
        assert abs((1 / bands) ** (1 / rows) - threshold) < 0.1
    assert optimal_bands(0.9, 128)[1] > optimal_bands(0.5, 128)[1]


def test_near_duplicates_are_flagged_and_first_occurrence_kept() -> None:
    step = dedup(threshold=0.8)
    rows = [
        {"text": "The quick brown fox jumps over the lazy dog."},
        {"text": "The lazy dog, the quick brown fox jumps over."},  # same word set
        {"text": "Completely different sentence about sailing boats."},
        {"text": "The quick brown fox jumps over the lazy dog."},
    ]
    assert flags(step, rows) == [True, False, True, False]


def test_threshold_decides_between_similar_and_duplicate() -> None:
    similar = text_pair(0.6)
    close = text_pair(0.8, seed=1)
    strict = dedup(threshold=0.9)
    assert flags(strict, [{"text": t} for t in similar]) == [True, True]
    loose = dedup(threshold=0.5)
    assert flags(loose, [{"text": t} for t in close]) == [True, False]


def test_duplicates_are_found_across_batches_and_reload_resets() -> None:
    step = dedup()
    assert flags(step, [{"text": "alpha beta gamma"}], [{"text": "gamma beta alpha"}]) == [
        True,
        False,
    ]
    step.unload()
    step.load()  # a fresh run starts from an empty index
    assert flags(step, [{"text": "gamma beta alpha"}]) == [True]


def test_ngrams_tokenizer_handles_unspaced_text() -> None:
    base = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。" * 4
    step = dedup(tokenizer="ngrams", n=3, threshold=0.7)
    rows = [{"text": base}, {"text": base + "。"}, {"text": "全く別の文章です。" * 6}]
    assert flags(step, rows) == [True, False, True]


def test_empty_none_and_bad_text() -> None:
    step = dedup()
    assert flags(step, [{"text": ""}, {"text": None}, {"text": "x"}]) == [True, False, True]
    with pytest.raises(InvalidRowsError, match="input_mappings"):
        next(step.process([{"text": 42}]))


def test_same_result_on_every_run_and_with_disk_storage() -> None:
    rows = [{"text": t} for pair in (text_pair(0.95, seed=s) for s in range(5)) for t in pair]
    rows += [{"text": t} for t in text_pair(0.3, seed=9)]
    expected = flags(dedup(threshold=0.8), rows)
    assert expected == [True, False] * 5 + [True, True]
    assert flags(dedup(threshold=0.8), rows) == expected
    assert flags(dedup(threshold=0.8, storage="disk"), rows) == expected


def test_disk_storage_is_removed_on_unload() -> None:
    buckets = SqliteBuckets()
    directory = Path(buckets._directory)
    index = LSHIndex(2, 2, buckets)
    assert index.is_duplicate([1, 2, 3, 4]) is False
    assert index.is_duplicate([9, 9, 3, 4]) is True  # shares the second band
    index.close()
    assert not directory.exists()


def test_lifecycle_errors_and_mappings() -> None:
    with pytest.raises(NotLoadedError):
        next(MinHashDedup().process([{"text": "x"}]))
    step = MinHashDedup()
    step.resources.replicas = 2
    with pytest.raises(StillroomError, match="one replica"):
        step.load()
    mapped = dedup(input_mappings={"text": "generation"})
    (rows,) = mapped.process_applying_mappings([{"generation": "a b"}, {"generation": "b a"}])
    assert rows == [
        {"generation": "a b", KEEP_COLUMN: True},
        {"generation": "b a", KEEP_COLUMN: False},
    ]
