"""How one unit of work runs on one step, independent of any scheduler.

A *unit* is the rows a step receives for one source batch: one list per predecessor,
aligned (they derive from the same generator batch). These functions are what the local
engine calls, in a worker thread, a process pool or on its event loop, and what a
distributed runner (Ray actors) can call too:

- `execute_unit(step, inputs)`: a normal step on one unit, in chunks of its
  `input_batch_size`; returns every output row, in order. A chunk the step raises on is
  kept (`kept_on_failure`): its rows go on with the step's outputs None and the error in
  the metadata column, so one bad batch never stops a long run nor loses rows. A
  `StorageError` (the run's own files cannot be written) is never kept: it stops the run.
- `execute_global(step, inputs)`: a global step on all its rows; returns its output batches.
- `uses_row_path(step)` / `prepare_rows` / `process_row` / `finish_rows`: a task using
  the default `process` with an `AsyncLLM`, one request per row (no batch barrier).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any

from stillroom.errors import StorageError
from stillroom.models.llms.base import LLM, is_async_llm
from stillroom.steps.process_signature import _input_parameters
from stillroom.steps.tasks.base import METADATA_COLUMN, Task, _Task, describe_error
from stillroom.utils.metadata import add_metadata

if TYPE_CHECKING:
    from stillroom.steps.base import GeneratorStep, Step, _Step
    from stillroom.steps.typing import Row

logger = logging.getLogger("stillroom.pipeline")


@functools.cache
def _input_count(cls: type[Step]) -> int | None:
    """How many row lists `cls.process` takes: None when any number (`*inputs`)."""
    params = _input_parameters(cls, cls.process)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return None
    return max(len(params), 1)


def merge_inputs(step: _Step, inputs: list[list[Row]]) -> list[list[Row]]:
    """The aligned lists as the step's `process` takes them.

    A step whose `process` takes one list of rows but has several predecessors gets their
    rows for the same source batch concatenated, in predecessor order.
    """
    if len(inputs) <= 1:
        return inputs
    count = _input_count(type(step))
    if count is None or count >= len(inputs):
        return inputs
    return [[row for rows in inputs for row in rows]]


def _copies(inputs: list[list[Row]]) -> list[list[Row]]:
    """Shallow copies, so a step that edits its rows in place cannot change a sibling's rows
    or the checkpoint of the batch it is processing."""
    return [[dict(row) for row in rows] for rows in inputs]


def _chunks(step: Step, inputs: list[list[Row]]) -> list[list[list[Row]]]:
    size = step.input_batch_size
    lengths = {len(rows) for rows in inputs}
    if len(lengths) != 1:  # lists of different lengths cannot be split in step
        return [inputs]
    total = lengths.pop()
    if total <= size:
        return [inputs]
    return [[rows[i : i + size] for rows in inputs] for i in range(0, total, size)]


def execute_unit(step: Step, inputs: list[list[Row]]) -> list[Row]:
    """Run a normal step on one unit of aligned rows; every output row, in order."""
    outputs: list[Row] = []
    for chunk in _chunks(step, _copies(merge_inputs(step, inputs))):
        try:
            produced = [row for rows in step.process_applying_mappings(*chunk) for row in rows]
        except StorageError:
            raise  # not the rows' fault: the run stops
        except Exception as exc:
            produced = kept_on_failure(step, _zip_rows(chunk), exc)
        outputs.extend(produced)
    return outputs


def kept_on_failure(step: _Step, rows: list[Row], error: Exception) -> list[Row]:
    """`rows` as they leave a step that raised on them: the step's output columns None (a
    task's `model_name` still set) and the error in the metadata column under
    `error_<step>`, where failed LLM requests are recorded too."""
    message = describe_error(error)
    logger.debug(  # the engine reports failed rows in periodic summaries, not one by one
        "Step %r raised on %d rows (%s); they go on with its outputs None and the error in "
        "%s['error_%s'].",
        step.name,
        len(rows),
        message,
        METADATA_COLUMN,
        step.name,
        exc_info=True,
    )
    values: dict[str, Any] = dict.fromkeys(step._declared_outputs())
    if isinstance(step, _Task):
        values["model_name"] = step.llm.model_name
    outputs = {step.output_mappings.get(column, column): value for column, value in values.items()}
    kept = []
    for row in rows:
        metadata = add_metadata(row.get(METADATA_COLUMN), {f"error_{step.name}": message})
        kept.append({**row, **outputs, METADATA_COLUMN: metadata})
    return kept


def _zip_rows(inputs: list[list[Row]]) -> list[Row]:
    """One row list from a step's input lists: aligned lists merged row by row, otherwise
    concatenated."""
    if len(inputs) == 1:
        return inputs[0]
    if len({len(rows) for rows in inputs}) == 1:
        return [
            {k: v for part in parts for k, v in part.items()} for parts in zip(*inputs, strict=True)
        ]
    return [row for rows in inputs for row in rows]


def execute_global(step: Step, inputs: list[list[Row]]) -> list[list[Row]]:
    """Run a global step on all its rows; the batches it yields."""
    return [
        list(rows) for rows in step.process_applying_mappings(*_copies(merge_inputs(step, inputs)))
    ]


def generator_batches(step: GeneratorStep, offset: int) -> Any:
    """A generator step's `(rows, is_last)` batches from row `offset` on."""
    return step.process_applying_mappings(offset)


def uses_row_path(step: _Step) -> bool:
    """True for a task with the default `Task.process` and an `AsyncLLM`: the engine then
    sends its requests row by row instead of calling `process` on whole batches."""
    return isinstance(step, Task) and type(step).process is Task.process and is_async_llm(step.llm)


def prepare_rows(task: Task, inputs: list[list[Row]]) -> list[Row]:
    """The rows of a unit as `format_input` sees them: merged, then `task.map_inputs` (the
    mappings and checks of the batch path too)."""
    return [row for rows in task.map_inputs(*merge_inputs(task, inputs)) for row in rows]


async def process_row(task: Task, row: Row, llm: LLM | None = None) -> list[Row]:
    """`task.aprocess_row(row, llm)` on the row path (`llm`: the task's LLM as the engine
    wraps it for the row's unit); should it raise, the row is kept with the task's outputs
    None and the error recorded, as a failed request's row is."""
    try:
        return await task.aprocess_row(row, llm)
    except StorageError:
        raise  # not the row's fault: the run stops
    except Exception as exc:
        return task.rows_from_result(row, None, exc)


def finish_rows(task: Task, rows: list[Row]) -> list[Row]:
    """Output rows of the row path, as the batch path leaves them (`task.restore_outputs`)."""
    return task.restore_outputs(rows)
