"""The per-item scores `QualityScorer` and `ComplexityScorer` ask for: schema, parsing, base task."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from stillroom.steps.tasks import parsing
from stillroom.steps.tasks.base import Task
from stillroom.steps.tasks.default_structured_output import json_schema, with_item_count
from stillroom.steps.typing import Row, StepColumns
from stillroom.typing import StructuredOutputType

_SCORE_LINE = re.compile(r"\[\s*(\d+)\s*\]\s*(?:score)?\s*[:=]?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


def score_range(count: int) -> tuple[int, int]:
    """The lowest and highest score for `count` items, on distilabel's (Deita's) scale: 1 to
    `count`, and `count + 1` kept for an item beyond the scale (a response that cannot be
    improved, an instruction too complex to answer)."""
    return 1, count + 1


def scores_schema(count: int | None = None) -> StructuredOutputType:
    """JSON schema of `{"scores": [number, ...]}`; for `count` items, exactly `count` scores
    within `score_range(count)`."""
    score: dict[str, Any] = {"type": "number", "minimum": 1}
    if count is not None:
        score["maximum"] = score_range(count)[1]
    schema = json_schema({"scores": {"type": "array", "items": score}})
    if count is not None:
        schema = with_item_count(schema, count)
    return {"format": "json", "schema": schema}


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


class ItemScoresTask(Task):
    """A task scoring each item of a row's list column `_scored_column` (`scores` output).

    A None item (an earlier step failed for it) is left out of the prompt and gets a None
    score; the others are numbered 1..N and scored on `score_range(N)`.
    """

    _scored_column: ClassVar[str]

    @property
    def outputs(self) -> StepColumns:
        return ["scores", "model_name"]

    def get_structured_output(self) -> StructuredOutputType:
        return scores_schema()

    def _present(self, input: dict[str, Any]) -> list[int]:
        """Positions of the row's items that are not None."""
        items = input.get(self._scored_column) or []
        return [index for index, item in enumerate(items) if item is not None]

    def _items(self, input: dict[str, Any]) -> list[Any]:
        """The items sent for scoring; a row with none raises (nothing to send)."""
        items = [input[self._scored_column][index] for index in self._present(input)]
        if not items:
            raise ValueError(f"every item of {self._scored_column!r} is None: nothing to score")
        return items

    def structured_output_for(self, row: Row) -> StructuredOutputType | None:
        """The schema for as many scores as the row has items to score."""
        if not self.use_default_structured_output:
            return None
        return scores_schema(len(self._present(row)))

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`{"scores": [...]}`, one per item (None for a None item); all None when the reply
        holds no score."""
        try:
            return self._read_reply(output or "", input)
        except ValueError:
            return {"scores": [None] * self._item_count(input)}

    def _read_reply(self, text: str, row: dict[str, Any] | None) -> dict[str, Any]:
        """The scores, raising ValueError when none can be read (a run records why)."""
        present = self._present(row or {})
        read = parse_scores(text, len(present), self.use_default_structured_output)
        scores: list[float | None] = [None] * self._item_count(row)
        for index, score in zip(present, read, strict=True):
            scores[index] = score
        return {"scores": scores}

    def _item_count(self, row: dict[str, Any] | None) -> int:
        return len((row or {}).get(self._scored_column) or [])
