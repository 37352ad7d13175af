"""Cutting a stream of rows into `(rows, is_last)` batches without reading it all first."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from stillroom.steps.typing import Row


def batches_with_last(rows: Iterable[Row], size: int) -> Iterator[tuple[list[Row], bool]]:
    """Lists of `size` rows, each flagged with whether it is the last.

    One batch is read ahead to know whether another follows; an empty stream gives a single
    `([], True)` so that downstream steps still learn that the source is done.
    """
    iterator = iter(rows)
    current = list(islice(iterator, size))
    while True:
        following = list(islice(iterator, size)) if current else []
        if not following:
            yield current, True
            return
        yield current, False
        current = following
