"""Offline batch generation: what the providers' batch APIs (OpenAI's Batch API, Anthropic's
Message Batches) share, whatever their request shapes.

A batch is created once for the inputs (its ids kept in the LLM's `jobs_ids`), then polled;
while it runs, `StillroomOfflineBatchGenerationNotFinishedException` says so, and a pipeline
stops there and resumes by polling the same job (the ids travel in its checkpoint through
`LLM.learnt_state`). Results are matched to inputs by `custom_id` (providers return them in
any order); an entry that failed becomes its input's output with no text and the error.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from stillroom.errors import StillroomError
from stillroom.exceptions import (
    StillroomGenerationException,
    StillroomOfflineBatchGenerationNotFinishedException,
)
from stillroom.typing import GenerateOutput

logger = logging.getLogger("stillroom.llms")

_T = TypeVar("_T")


class BatchOwner(Protocol):
    """The LLM whose batch jobs are polled: where their ids are kept, and its name."""

    jobs_ids: tuple[str, ...] | None

    def _label(self) -> str: ...


sleep = time.sleep
"""How the polling loop waits (tests replace it)."""

FIRST_POLL_WAIT = 1.0
"""Seconds before the first poll; each wait doubles up to `offline_batch_generation_block_
until_done`, so a batch answered in seconds is picked up in seconds."""


def wait_for_batch(call: Callable[[], _T], interval: int | None, label: str) -> _T:
    """`call()`, polled while it raises the not-finished exception when `interval` (seconds,
    the longest wait between polls) is set; without it the exception is raised as it is."""
    wait = min(FIRST_POLL_WAIT, interval or FIRST_POLL_WAIT)
    while True:
        try:
            return call()
        except StillroomOfflineBatchGenerationNotFinishedException as pending:
            if interval is None:
                raise
            logger.info("%s: %s Polling again in %g s.", label, pending, wait)
            sleep(wait)
            wait = min(wait * 2, interval)


def custom_id(index: int, generation: int = 0) -> str:
    """The id of input `index`'s `generation` in a batch (letters, digits and '-' only, as
    both providers require)."""
    return f"row-{index}-{generation}"


def parse_custom_id(value: Any) -> tuple[int, int] | None:
    """(input index, generation) of a `custom_id`, None for an id this module never made."""
    parts = value.split("-") if isinstance(value, str) else []
    if len(parts) != 3 or parts[0] != "row" or not all(p.isdigit() for p in parts[1:]):
        return None
    return int(parts[1]), int(parts[2])


def result_place(line: Any, inputs: list[Any] | None, label: str) -> tuple[int, int] | None:
    """(input index, generation) of a result line, from its `custom_id`; None (warned
    about) for a line naming no input of this batch."""
    where = parse_custom_id(line.get("custom_id") if isinstance(line, dict) else None)
    if where is None or (inputs and where[0] >= len(inputs)):
        logger.warning("%s: a batch result with an unknown custom_id was left out", label)
        return None
    return where


def json_lines(body: bytes) -> list[Any]:
    """The JSON values of a JSON-lines body (blank lines skipped); `ValueError` on a bad line."""
    return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]


class BatchEntryError(StillroomGenerationException):
    """A batch entry the provider answered with an error (or never answered)."""


def as_results(outputs: list[GenerateOutput]) -> list[GenerateOutput | BaseException]:
    """`outputs` as `generate_results` gives them: an input whose entry failed (no text at
    all, an error) becomes a `BatchEntryError`, so a pipeline counts it as a failed request,
    caches nothing for it and sends it again in a later run."""
    results: list[GenerateOutput | BaseException] = []
    for output in outputs:
        errors = output.get("errors") or []
        failed = all(g is None for g in output["generations"]) and any(errors)
        results.append(BatchEntryError(next(e for e in errors if e)) if failed else output)
    return results


def failed_output(error: str, num_generations: int) -> GenerateOutput:
    """The output of an input whose batch entry failed: no text, the error for each
    generation (a task keeps the row with None outputs and the error)."""
    return {
        "generations": [None] * num_generations,
        "statistics": {},
        "errors": [error] * num_generations,
    }


def inputs_count(inputs: list[Any] | None, indices: list[int]) -> int:
    """How many inputs the batch answers: `len(inputs)`, or when polling without them (a
    resumed job), one more than the highest index seen."""
    if inputs:
        return len(inputs)
    return max(indices, default=-1) + 1


def check_can_create(inputs: list[Any] | None, label: str) -> list[Any]:
    """The inputs of a new batch: an error before any paid call when there are none."""
    if not inputs:
        raise StillroomError(
            f"{label}: offline_batch_generate() has no inputs and no jobs_ids to poll; pass "
            "the inputs (the first call creates the batch), or the jobs_ids of a batch."
        )
    return inputs


def pending(jobs_ids: tuple[str, ...]) -> StillroomOfflineBatchGenerationNotFinishedException:
    """The exception saying the batch jobs `jobs_ids` are still running."""
    return StillroomOfflineBatchGenerationNotFinishedException(jobs_ids)


async def ended_jobs(
    llm: BatchOwner,
    inputs: list[Any] | None,
    create: Callable[[list[Any]], Awaitable[str]],
    retrieve: Callable[[str], Awaitable[dict[str, Any]]],
    running: Callable[[dict[str, Any]], bool],
) -> list[dict[str, Any]]:
    """The batch jobs of `llm.jobs_ids`, once every one has ended.

    With no `jobs_ids`, the first call: `create(inputs)` makes the batch (an error before
    it when there are no inputs), its id goes to `jobs_ids`, and the not-finished exception
    is raised; so it is while any job `retrieve` reads is still `running`.
    """
    if not llm.jobs_ids:
        llm.jobs_ids = (await create(check_can_create(inputs, llm._label())),)
        raise pending(llm.jobs_ids)
    jobs = [await retrieve(job_id) for job_id in llm.jobs_ids]
    if any(running(job) for job in jobs):
        raise pending(llm.jobs_ids)
    return jobs
