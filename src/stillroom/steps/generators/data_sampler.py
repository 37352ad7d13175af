"""`DataSampler`: rows made of random draws from a small pool (few-shot examples...)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import islice
from typing import Any

from pydantic import Field, NonNegativeInt, PositiveInt

from stillroom.steps.base import GeneratorStep
from stillroom.steps.bookkeeping import columns_in_rows
from stillroom.steps.generators.batching import batches_with_last
from stillroom.steps.typing import GeneratorStepOutput, Row, StepColumns


class DataSampler(GeneratorStep):
    """Yield `samples` rows, each holding `size` rows drawn at random from `data`.

    Every output row has the columns of `data`, each a list of `size` values (one per draw,
    drawn with replacement), e.g. to give every prompt a different set of few-shot
    examples when combined with another loader. A row of `data` that lacks a column
    contributes `None`. With `seed` set the draws are reproducible, and a resumed run
    (`offset` > 0) continues the same sequence.

    Output columns:
        - dynamic (the columns of `data`): lists of `size` sampled values.

    Example:
        ```python
        sampler = DataSampler(data=[{"q": "a"}, {"q": "b"}, {"q": "c"}], size=2, samples=3, seed=0)
        next(sampler.process())
        # ([{"q": [...two draws...]}, {"q": [...]}, {"q": [...]}], True)
        ```
    """

    data: list[dict[str, Any]] = Field(min_length=1, description="The rows to sample from.")
    size: PositiveInt = Field(default=2, description="Rows drawn for each output row.")
    samples: NonNegativeInt = Field(default=100, description="Output rows in total.")
    seed: int | None = Field(
        default=None, description="Seed of the draws; None draws differently on every run."
    )

    @property
    def outputs(self) -> StepColumns:
        return columns_in_rows(self.data)

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """`(rows, is_last)` batches of `batch_size`, from output row `offset` on."""
        rows = islice(self._draws(random.Random(self.seed)), offset, self.samples)
        yield from batches_with_last(rows, self.batch_size)

    def _draws(self, rng: random.Random) -> Iterator[Row]:
        columns = list(self.outputs)
        while True:
            picks = rng.choices(self.data, k=self.size)
            yield {column: [pick.get(column) for pick in picks] for column in columns}
