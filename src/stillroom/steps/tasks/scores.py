"""The per-item scores `QualityScorer` and `ComplexityScorer` ask for: schema, parsing, base task."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from stillroom.steps.tasks import parsing
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import (
    DefaultStructuredOutputMixin,
    json_schema,
)
from stillroom.steps.typing import StepColumns
from stillroom.typing import StructuredOutputType

_SCORE_LINE = re.compile(r"\[\s*(\d+)\s*\]\s*(?:score)?\s*[:=]?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


SCORE_RANGE = (1, 6)
"""The lowest and highest score the scorers' prompts ask for."""


def scores_schema() -> StructuredOutputType:
    """JSON schema of `{"scores": [number, ...]}`, each score within `SCORE_RANGE` (requests
    also bound the list to the row's number of items)."""
    low, high = SCORE_RANGE
    score = {"type": "number", "minimum": low, "maximum": high}
    return {"format": "json", "schema": json_schema({"scores": {"type": "array", "items": score}})}


def parse_scores(reply: str, count: int, structured: bool) -> list[float | None]:
    """`count` scores from `[i] Score: x` lines (or `{"scores": [...]}` when `structured`).

    An item without a readable score gets None; a reply with no score at all raises.
    """
    scores: list[float | None] = [None] * count
    if structured:
        values = parsing.json_object(reply).get("scores")
        if not isinstance(values, list):
            raise ValueError("'scores' is not a list")
        for index, value in enumerate(values[:count]):
            scores[index] = parsing.number(value)
    else:
        for match in _SCORE_LINE.finditer(reply):
            index = int(match.group(1)) - 1
            if 0 <= index < count and scores[index] is None:
                scores[index] = float(match.group(2))
    if count and all(score is None for score in scores):
        raise ValueError(f"no score could be read for any of the {count} items")
    return scores


class ItemScoresTask(DefaultStructuredOutputMixin, Task):
    """A task scoring each item of a row's list column `_scored_column` (`scores` output)."""

    _scored_column: ClassVar[str]

    @property
    def outputs(self) -> StepColumns:
        return ["scores", "model_name"]

    def get_structured_output(self) -> StructuredOutputType:
        return scores_schema()

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`{"scores": [...]}`, one per item; all None when the reply holds no score."""
        try:
            return self._read_reply(output or "", input)
        except ValueError:
            return {"scores": [None] * self._item_count(input)}

    def _read_reply(self, text: str, row: dict[str, Any] | None) -> dict[str, Any]:
        """The scores, raising ValueError when none can be read (a run records why)."""
        count = self._item_count(row)
        return {"scores": parse_scores(text, count, self.use_default_structured_output)}

    def _item_count(self, row: dict[str, Any] | None) -> int:
        return len((row or {}).get(self._scored_column) or [])
