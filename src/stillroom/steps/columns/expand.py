"""`ExpandColumns`: one row per item of list columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import InvalidRowsError
from stillroom.steps.base import Step, StepInput
from stillroom.steps.typing import Row, StepColumns, StepOutput

_TOKEN_COUNTS = ("input_tokens", "output_tokens")


class ExpandColumns(Step):
    """Turn each row into one row per item of its list column(s).

    Several columns are expanded together, item *k* of each going to row *k*, so their lists
    must have the same length (different lengths are an error naming the row). A column
    whose value is `None` (a failed generation upstream) gives `None` in every new row, and
    a row whose lists are all empty or `None` is kept as one row with `None` items, so no
    row disappears silently. Other columns are copied into every new row; when a column is
    renamed (`columns={"generations": "generation"}`) the original list is kept too.

    Attributes:
        columns: the columns to expand, or a dict column -> name of the expanded column.
        encoded: `True` (or a list of some of `columns`) when the values are JSON-encoded
            lists, as written by steps that store lists as strings; they are decoded first.
        split_statistics: divide the token counts in `stillroom_metadata`'s
            `statistics_<step>` entries among the new rows, so that adding them up later does
            not count one LLM call several times. Every new row gets the same share, the
            count divided by the number of new rows and rounded down (distilabel's rule):
            the remainder, fewer tokens than new rows, is not attributed to any row.

    Input columns:
        - dynamic (the keys of `columns`): lists (or JSON strings of lists, see `encoded`).

    Output columns:
        - dynamic (the values of `columns`): one item each.

    Example:
        ```python
        expand = ExpandColumns(columns=["generation"])
        next(expand.process([{"instruction": "Hi", "generation": ["Hello", "Hey"]}]))
        # [{"instruction": "Hi", "generation": "Hello"}, {"instruction": "Hi", "generation": "Hey"}]
        ```
    """

    columns: dict[str, str] = Field(
        min_length=1,
        description="Columns to expand (a list), or column -> name of the expanded column.",
    )
    encoded: bool | list[str] = Field(
        default=False, description="Whether (or which of) the columns hold JSON-encoded lists."
    )
    split_statistics: bool = Field(
        default=False,
        description="Divide token statistics in the metadata among the expanded rows.",
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_as_dict(cls, value: Any) -> Any:
        return {column: column for column in value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _encoded_are_expanded(self) -> Self:
        if isinstance(self.encoded, list):
            unknown = [c for c in self.encoded if c not in self.columns]
            if unknown:
                raise ValueError(
                    f"ExpandColumns: encoded columns {unknown} are not among the columns to "
                    f"expand {list(self.columns)}; list only columns being expanded."
                )
        return self

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        return list(self.columns.values())

    def _encoded_columns(self) -> set[str]:
        if isinstance(self.encoded, list):
            return set(self.encoded)
        return set(self.columns) if self.encoded else set()

    def process(self, inputs: StepInput) -> StepOutput:
        """One batch holding the expanded rows of every input row, in order."""
        encoded = self._encoded_columns()
        yield [new for index, row in enumerate(inputs) for new in self._expand(index, row, encoded)]

    def _expand(self, index: int, row: Row, encoded: set[str]) -> Iterator[Row]:
        lists = {column: self._list_value(index, row, column, encoded) for column in self.columns}
        lengths = {column: len(value) for column, value in lists.items() if value is not None}
        if len(set(lengths.values())) > 1:
            raise InvalidRowsError(
                f"{self._label()}: row {index} has lists of different lengths {lengths}; "
                "columns expanded together must hold the same number of items (item k of each "
                "goes to new row k). Expand them in separate ExpandColumns steps if they are "
                "unrelated."
            )
        count = max(lengths.values(), default=0)
        metadata = self._split_metadata(row.get(STILLROOM_METADATA_KEY), max(count, 1))
        for k in range(max(count, 1)):
            new = dict(row)
            for column, target in self.columns.items():
                items = lists[column]
                new[target] = items[k] if items else None
            if metadata is not None:
                new[STILLROOM_METADATA_KEY] = metadata[k]
            yield new

    def _list_value(self, index: int, row: Row, column: str, encoded: set[str]) -> list[Any] | None:
        value = row[column]
        if column in encoded and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InvalidRowsError(
                    f"{self._label()}: column {column!r} of row {index} should be a JSON-encoded "
                    f"list (encoded={self.encoded!r}) but is not valid JSON ({exc.msg}): "
                    f"{value[:80]!r}"
                ) from exc
        if value is None or isinstance(value, list):
            return value
        hint = " Set encoded=True if it holds a JSON list." if isinstance(value, str) else ""
        raise InvalidRowsError(
            f"{self._label()}: column {column!r} of row {index} holds a value of "
            f"type {type(value).__name__}, not a list, so it cannot be expanded.{hint}"
        )

    def _split_metadata(self, metadata: Any, parts: int) -> list[Any] | None:
        """The row's metadata for each new row, with token counts divided when asked.

        A grouped row's list (one dict per generation) gives item k to new row k when it
        has one per new row: each generation keeps its own metadata."""
        if isinstance(metadata, list) and len(metadata) == parts:
            return list(metadata)
        if not isinstance(metadata, dict):
            return None if metadata is None else [metadata] * parts
        copies: list[dict[str, Any]] = [dict(metadata) for _ in range(parts)]
        if not self.split_statistics:
            return copies
        for key, value in metadata.items():
            if not key.startswith("statistics_") or not isinstance(value, dict):
                continue
            for copy in copies:  # a dict of its own per row: rows never share a list
                copy[key] = {
                    name: _share(count, parts) if name in _TOKEN_COUNTS else count
                    for name, count in value.items()
                }
        return copies


def _share(value: Any, parts: int) -> Any:
    """What each of `parts` rows gets of a token count (an int, a list of ints, or None):
    `value // parts`, item by item for a list; anything else is kept as it is."""
    if isinstance(value, list):
        return [_share(item, parts) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value // parts
    return value
