"""`PairRM`: rank candidate responses with the PairRM pairwise reward model (LLM-Blender).

distilabel runs PairRM through the `llm-blender` package, which is unmaintained and not
installable here; this step runs the same network directly on transformers
(`pair_rm_network.py`, imported in `load()`, extra `[transformers]`).
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from pydantic import Field, PositiveInt, PrivateAttr

from stillroom.models.extras import import_extra
from stillroom.steps.base import Step, StepInput
from stillroom.steps.tasks.base import METADATA_COLUMN
from stillroom.steps.typing import Row, StepColumns, StepOutput
from stillroom.utils.metadata import add_metadata

_HF_LAYOUT = {"llm-blender/PairRM": "llm-blender/PairRM-hf"}
"""Repositories whose weights are published in the transformers layout under another name."""


class PairRM(Step):
    """Rank each row's `candidates` for its `input`, best first.

    Every ordered pair of candidates is compared (2 * n * (n - 1) / 2 forward passes per
    row, in batches of `input_batch_size`); a candidate's score is the sum, over the
    others, of how much it wins minus how much it loses. `ranks[i]` is candidate i's place
    (1 = best); `ranked_candidates` lists them best first. `instructions`, when set, is
    put before every input. A row without candidates keeps None outputs and the error.

    `model` is a Hub id or a local folder in the `llm-blender/PairRM-hf` layout
    (`llm-blender/PairRM` is read from that repository).

    Columns: inputs = `input`, `candidates` (list of str); outputs = `ranks` (list of
    int), `ranked_candidates`, `model_name`.
    """

    model: str = Field(default="llm-blender/PairRM", description="Hub id or local folder.")
    instructions: str | None = Field(default=None, description="Text put before each input.")
    max_length: PositiveInt = Field(default=2048, description="Tokens per compared pair.")
    source_max_length: PositiveInt = Field(default=1224, description="Tokens kept of the input.")

    _network: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    @property
    def inputs(self) -> StepColumns:
        return ["input", "candidates"]

    @property
    def outputs(self) -> StepColumns:
        return ["ranks", "ranked_candidates", "model_name"]

    def load(self) -> None:
        super().load()
        import_extra("torch", "PairRM", "transformers")
        transformers = import_extra("transformers", "PairRM", "transformers")
        network = import_extra("stillroom.steps.tasks.pair_rm_network", "PairRM", "transformers")
        source = _HF_LAYOUT.get(self.model, self.model)
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        self._network = network.PairRMNetwork.from_pretrained(source).eval()

    def unload(self) -> None:
        self._network = self._tokenizer = None
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:
        yield [self._rank_row(row) for row in inputs]

    def _rank_row(self, row: Row) -> Row:
        candidates = row.get("candidates")
        if not isinstance(candidates, list) or not candidates or row.get("input") is None:
            error = "'input' is None or 'candidates' is not a non-empty list: nothing to rank"
            meta = add_metadata(row.get(METADATA_COLUMN), {f"error_{self.name}": error})
            return {
                **row,
                "ranks": None,
                "ranked_candidates": None,
                "model_name": self.model,
                METADATA_COLUMN: meta,
            }
        source = f"{self.instructions}\n{row['input']}" if self.instructions else str(row["input"])
        scores = self.scores(source, [str(c) for c in candidates])
        ranks = [1 + sum(other > score for other in scores) for score in scores]
        order = sorted(range(len(candidates)), key=lambda i: (ranks[i], i))
        return {
            **row,
            "ranks": ranks,
            "ranked_candidates": [candidates[i] for i in order],
            "model_name": self.model,
        }

    def scores(self, source: str, candidates: list[str]) -> list[float]:
        """Each candidate's total margin over the others (higher is better)."""
        pairs = list(permutations(range(len(candidates)), 2))
        logits: dict[tuple[int, int], float] = {}
        size = self.input_batch_size
        for start in range(0, len(pairs), size):
            batch = pairs[start : start + size]
            values = self.compare(source, [(candidates[i], candidates[j]) for i, j in batch])
            logits.update(zip(batch, values, strict=True))
        return [
            sum(logits[(i, j)] - logits[(j, i)] for j in range(len(candidates)) if j != i)
            for i in range(len(candidates))
        ]

    def compare(self, source: str, pairs: list[tuple[str, str]]) -> list[float]:
        """One logit per (first, second) pair: positive when `first` is better for `source`."""
        import torch

        from stillroom.steps.tasks.pair_rm_network import (
            CANDIDATE1_PREFIX,
            CANDIDATE2_PREFIX,
            SOURCE_PREFIX,
        )

        encode = self._tokenizer.encode
        source_ids = encode(
            SOURCE_PREFIX + source, max_length=self.source_max_length, truncation=True
        )
        room = max(1, (self.max_length - len(source_ids)) // 2)
        sequences = [
            source_ids
            + encode(CANDIDATE1_PREFIX + first, max_length=room, truncation=True)
            + encode(CANDIDATE2_PREFIX + second, max_length=room, truncation=True)
            for first, second in pairs
        ]
        batch = self._tokenizer.pad({"input_ids": sequences}, return_tensors="pt")
        with torch.no_grad():
            logits = self._network(batch["input_ids"], batch["attention_mask"])
        return [float(value) for value in logits]
