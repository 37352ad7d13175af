"""Column bookkeeping for steps: normalising declarations, checking rows, applying mappings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stillroom.errors import InvalidRowsError, MissingColumnsError, StillroomUserError
from stillroom.steps.typing import Row, StepColumns

_OVERRIDDEN = "__stillroom_overridden__"


def normalize_columns(columns: StepColumns | None) -> dict[str, bool]:
    """`["a", "b"]` or `{"a": True, "b": False}` -> column -> required."""
    if columns is None:
        return {}
    if isinstance(columns, Mapping):
        return {str(k): bool(v) for k, v in columns.items()}
    if isinstance(columns, str):
        return {columns: True}
    return {str(c): True for c in columns}


def check_mapping_keys(
    owner: str, kind: str, mappings: Mapping[str, str], columns: Mapping[str, bool]
) -> None:
    """Raise `StillroomUserError` if a key of `mappings` is not one of `columns` (the step's
    declared input or output columns): the mapping would silently do nothing."""
    for column in mappings:
        if column not in columns:
            raise StillroomUserError(
                f"{owner}: The {kind} column {column!r} doesn't exist in the {kind}s of the "
                f"step, so {kind}_mappings cannot rename it. Its {kind} columns are "
                f"{list(columns)}; fix the key of {kind}_mappings."
            )


def columns_in_rows(rows: Iterable[Row]) -> list[str]:
    """Every column any of the rows has, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def grouped_batches(inputs: tuple[Any, ...]) -> tuple[list[Row], ...] | None:
    """The batches of a call that gives them as one list holding them (`[rows_a, rows_b]`),
    the form distilabel's own tests call a `@step` step with; None for any other call (one
    argument per predecessor, the engine's form)."""
    if len(inputs) != 1 or not isinstance(inputs[0], list) or not inputs[0]:
        return None
    batches = inputs[0]
    return tuple(batches) if all(isinstance(batch, list) for batch in batches) else None


def check_required_columns(
    step_name: str | None,
    required: Iterable[str],
    batches: tuple[list[Row], ...],
    input_mappings: Mapping[str, str],
) -> None:
    """Raise `MissingColumnsError` naming the first row that lacks a required column.

    Batches without any row pass: there is nothing to check (e.g. an earlier filter dropped
    every row of this unit)."""
    required = list(required)
    if not required or not any(batches):
        return
    if len(batches) == 1:
        for index, row in enumerate(batches[0]):
            _check_row(step_name, index, row)
            missing = [c for c in required if c not in row]
            if missing:
                raise _missing(step_name, missing, index, row.keys(), input_mappings)
        return
    available: set[str] = set()
    for batch in batches:
        for index, row in enumerate(batch):
            _check_row(step_name, index, row)
            available.update(row)
    missing = [c for c in required if c not in available]
    if missing:
        raise _missing(step_name, missing, None, available, input_mappings)


def _check_row(step_name: str | None, index: int, row: Any) -> None:
    """A row is a mapping of column -> value; anything else is a clear error."""
    if not isinstance(row, Mapping):
        raise InvalidRowsError(
            f"Step {step_name!r}: row {index} of its input is a {type(row).__name__}, not a "
            f"row (a dict of column -> value): {str(row)[:80]}. Give `process` one list of "
            "dicts per predecessor."
        )


def _missing(
    step_name: str | None,
    missing: list[str],
    index: int | None,
    available: Iterable[str],
    input_mappings: Mapping[str, str],
) -> MissingColumnsError:
    where = f"row {index} has" if index is not None else "the input rows have"
    available = sorted(available)
    hint = (
        f" If the data calls it something else, map it: input_mappings={{{missing[0]!r}: "
        f"'<column in your data>'}}."
    )
    if input_mappings:
        hint += f" (current input_mappings: {dict(input_mappings)})"
    return MissingColumnsError(
        f"Step {step_name!r} needs column(s) {missing} but {where} only {available}.{hint}"
    )


def apply_input_mappings(
    batches: tuple[list[Row], ...], input_mappings: Mapping[str, str]
) -> tuple[list[Row], ...]:
    """Copy each row, exposing data column `input_mappings[c]` under the step's name `c`."""
    if not input_mappings:
        return batches
    mapped: list[list[Row]] = []
    for batch in batches:
        rows = []
        for row in batch:
            if not isinstance(row, Mapping):  # left for check_required_columns to report
                rows.append(row)
                continue
            new = dict(row)
            for step_column, data_column in input_mappings.items():
                if data_column not in row:
                    continue
                if step_column in row and step_column != data_column:
                    new.setdefault(_OVERRIDDEN, {})[step_column] = row[step_column]
                new[step_column] = row[data_column]
            rows.append(new)
        mapped.append(rows)
    return tuple(mapped)


def restore_columns(
    rows: list[Row],
    input_mappings: Mapping[str, str],
    output_mappings: Mapping[str, str],
    outputs: Iterable[str],
) -> list[Row]:
    """Undo `apply_input_mappings` on output rows, then rename outputs per `output_mappings`."""
    if not input_mappings and not output_mappings:
        return rows
    outputs = set(outputs)
    restored = []
    for row in rows:
        new: dict[str, Any] = dict(row)
        overridden = new.pop(_OVERRIDDEN, {})
        for step_column, data_column in input_mappings.items():
            if step_column == data_column or step_column in outputs:
                continue
            if step_column in overridden:
                new[step_column] = overridden[step_column]
            elif data_column in new:
                new.pop(step_column, None)
        for column, renamed in output_mappings.items():
            if column in new:
                new[renamed] = new.pop(column)
        restored.append(new)
    return restored
