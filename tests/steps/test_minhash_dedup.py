"""MinHashDedup: near-duplicates flagged with datasketch's MinHash and LSH, in memory or on disk."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stillroom.errors import (
    InvalidRowsError,
    MissingExtraError,
    NotLoadedError,
    StillroomError,
    StillroomUserError,
)
from stillroom.steps import MinHashDedup
from stillroom.steps.filtering.lsh_storage import SqliteTable
from stillroom.steps.filtering.minhash import KEEP_COLUMN, char_ngrams, word_tokens

SRC = Path(__file__).resolve().parents[2] / "src"

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


def test_similar_pairs_are_flagged_and_dissimilar_ones_kept() -> None:
    for jaccard, flagged in ((0.95, True), (0.9, True), (0.5, False), (0.2, False)):
        for seed in range(3):
            first, second = text_pair(jaccard, seed=seed)
            assert flags(dedup(threshold=0.8), [{"text": first}, {"text": second}]) == [
                True,
                not flagged,
            ], (jaccard, seed)


def test_flags_depend_only_on_the_seed() -> None:
    # Pairs right at the threshold: whether each is flagged is a coin toss of the hash functions.
    rows = [{"text": t} for s in range(30) for t in text_pair(0.8, size=100, seed=s)]
    by_seed = {seed: flags(dedup(threshold=0.8, seed=seed), rows) for seed in (1, 2)}
    assert flags(dedup(threshold=0.8, seed=1), rows) == by_seed[1]
    assert by_seed[1] != by_seed[2]


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


def test_disk_storage_holds_the_index_in_a_file_removed_on_unload() -> None:
    step = dedup(storage="disk")
    assert step._tables is not None
    directory = step._tables.directory
    assert [path.name for path in directory.iterdir()] == ["lsh.sqlite"]
    # The engine loads a step and processes its batches on different threads.
    result: list[bool] = []
    rows = [{"text": "alpha beta gamma"}, {"text": "gamma beta alpha"}, {"text": "delta"}]
    worker = threading.Thread(target=lambda: result.extend(flags(step, rows)))
    worker.start()
    worker.join()
    assert result == [True, False, True]
    assert all(isinstance(table, SqliteTable) for table in step._lsh.hashtables)
    step.unload()
    assert not directory.exists()


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasketch", None)  # what an absent package looks like
    with pytest.raises(MissingExtraError, match=r"pip install 'stillroom\[minhash\]'") as error:
        dedup()
    assert error.value.extra == "minhash" and error.value.package == "datasketch"
    assert "min_hash_dedup" in str(error.value)


def test_too_few_permutations_for_an_index() -> None:
    with pytest.raises(StillroomUserError, match="raise num_perm"):
        dedup(num_perm=1)


def test_building_the_step_imports_neither_datasketch_nor_numpy() -> None:
    script = (
        "import json, sys\nfrom stillroom.steps import MinHashDedup\nMinHashDedup(threshold=0.8)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'datasketch', 'numpy', 'scipy'})))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


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
