"""DataSampler: sizes, batches, reproducibility and resuming."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stillroom.steps import DataSampler

POOL = [{"q": f"q{i}", "a": f"a{i}"} for i in range(10)]


def all_rows(sampler: DataSampler, offset: int = 0) -> list[dict]:
    return [row for rows, _ in sampler.process(offset) for row in rows]


def test_rows_hold_size_draws_of_each_column_in_batches() -> None:
    sampler = DataSampler(data=POOL, size=3, samples=7, batch_size=3, seed=1)
    batches = list(sampler.process())
    assert [(len(rows), last) for rows, last in batches] == [(3, False), (3, False), (1, True)]
    for row in (r for rows, _ in batches for r in rows):
        assert set(row) == {"q", "a"} and len(row["q"]) == 3
        # A draw takes a whole row of the pool: question k comes with answer k.
        assert [q[1:] for q in row["q"]] == [a[1:] for a in row["a"]]
    assert sampler.outputs == ["q", "a"]


def test_seeded_draws_repeat_and_resume_where_they_stopped() -> None:
    first = all_rows(DataSampler(data=POOL, samples=20, seed=7))
    assert first == all_rows(DataSampler(data=POOL, samples=20, seed=7))
    assert first != all_rows(DataSampler(data=POOL, samples=20, seed=8))
    assert all_rows(DataSampler(data=POOL, samples=20, seed=7), offset=15) == first[15:]
    assert len({tuple(r["q"]) for r in first}) > 1  # draws differ from row to row


def test_uneven_pool_rows_zero_samples_and_validation() -> None:
    sampler = DataSampler(data=[{"x": 1}, {"y": "ñ"}], size=4, samples=3, seed=0)
    assert sampler.outputs == ["x", "y"]
    for row in all_rows(sampler):
        assert all((x is None) != (y is None) for x, y in zip(row["x"], row["y"], strict=True))
    assert list(DataSampler(data=POOL, samples=0).process()) == [([], True)]
    with pytest.raises(ValidationError):
        DataSampler(data=[])
    with pytest.raises(ValidationError):
        DataSampler(data=POOL, size=0)
