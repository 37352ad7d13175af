"""Tasks that talk to the LLM several times per row: Evol rounds, Magpie turns.

Each row's dialogue with the LLM is written once, as an *exchange*: a generator that yields
each request and receives its result (`GenerateOutput`, or the exception that ended the
request), and finally returns what it built. The same exchange then runs two ways:

* `run_lockstep` drives many exchanges together, sending the requests of one round as a
  single batch (what `process` does, so batch backends stay efficient);
* `run_alone` drives one exchange through an `AsyncLLM`, request by request (what an engine
  scheduling rows independently calls, through `aprocess_row`).

A `Transcript` keeps every request and reply of one row for the metadata column, each under
the stage that asked it (EvolInstruct's `instruction` and `answer` rounds), as distilabel keys
them: `statistics_<stage>_<task name>`. A failed
request, a missing reply or a reply the task cannot read ends the exchange with a
`ReplyError`; a row with a None input, or one the rounds reject (`RowInputError`), ends it
before any request. The row is then kept with `None` outputs and the error recorded.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, field_validator

from stillroom.errors import StillroomError
from stillroom.models.llms.base import LLM
from stillroom.steps.base import StepInput
from stillroom.steps.tasks.base import (
    METADATA_COLUMN,
    LLMResult,
    RowInputError,
    Task,
    _Task,
    describe_error,
)
from stillroom.steps.typing import Row, StepOutput
from stillroom.typing import ChatType, FormattedInput
from stillroom.utils.metadata import add_metadata

logger = logging.getLogger("stillroom.tasks")

T = TypeVar("T")
Exchange = Generator[FormattedInput, LLMResult, T]
"""A row's dialogue with the LLM: yields requests, receives their results, returns a value."""


class ReplyError(StillroomError):
    """A request of an exchange failed, returned nothing, or returned something unreadable."""


def _messages(request: FormattedInput) -> ChatType:
    return request[0] if isinstance(request, tuple) else request


@dataclass
class Transcript:
    """The requests one row sent and the replies it got, in order."""

    inputs: list[ChatType] = field(default_factory=list)
    outputs: list[str | None] = field(default_factory=list)
    input_tokens: list[int | None] = field(default_factory=list)
    output_tokens: list[int | None] = field(default_factory=list)
    stages: list[str | None] = field(default_factory=list)

    def ask(
        self,
        request: FormattedInput,
        parse: Callable[[str], T] | None = None,
        stage: str | None = None,
    ) -> Generator[FormattedInput, LLMResult, T]:
        """Send `request` (`yield from` it inside an exchange) and return the parsed reply.

        `stage` names the kind of request in the metadata keys (None: the task's name only).
        Raises `ReplyError` when the request failed, gave no text, or `parse` raised.
        """
        result = yield request
        return self.read(request, result, parse, stage)

    def read(
        self,
        request: FormattedInput,
        result: LLMResult,
        parse: Callable[[str], T] | None = None,
        stage: str | None = None,
    ) -> T:
        """Record `request` and its `result` and return the parsed reply, as `ask` does, for
        a task that sends its requests itself."""
        self.stages.append(stage)
        text = self._record(request, result)
        if parse is None:
            return text  # type: ignore[return-value]
        try:
            return parse(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise ReplyError(f"could not read the reply: {describe_error(exc)}") from exc

    def _record(self, request: FormattedInput, result: LLMResult) -> str:
        self.inputs.append(_messages(request))
        if isinstance(result, BaseException):
            self.outputs.append(None)
            self.input_tokens.append(None)
            self.output_tokens.append(None)
            raise ReplyError(f"LLM request failed: {describe_error(result)}")
        generations = result.get("generations") or [None]
        text = generations[0]
        statistics = result.get("statistics") or {}
        self.outputs.append(text)
        self.input_tokens.append(_first(statistics.get("input_tokens")))
        self.output_tokens.append(_first(statistics.get("output_tokens")))
        if text is None:
            raise ReplyError("the LLM returned no text for this request")
        return text

    def metadata(self, task: _Task) -> dict[str, Any]:
        """The metadata entries of this transcript: one list item per request, token counts
        per stage; the raw requests and replies only for a task that records them
        (`records_transcript`) and asks for them (`add_raw_output` / `add_raw_input`)."""
        name = task.name
        meta: dict[str, Any] = {}
        if task.records_transcript and task.add_raw_output:
            meta[f"raw_output_{name}"] = list(self.outputs)
        if task.records_transcript and task.add_raw_input:
            meta[f"raw_input_{name}"] = list(self.inputs)
        for stage in dict.fromkeys(self.stages):
            key = f"statistics_{stage}_{name}" if stage else f"statistics_{name}"
            meta[key] = self.statistics(stage)
        return meta

    def statistics(self, stage: str | None = None) -> dict[str, list[int | None]]:
        """The token counts of the requests asked under `stage`, one item per request."""
        picked = [i for i, s in enumerate(self.stages) if s == stage]
        return {
            "input_tokens": [self.input_tokens[i] for i in picked],
            "output_tokens": [self.output_tokens[i] for i in picked],
        }


def _first(values: list[int] | None) -> int | None:
    return values[0] if values else None


def row_with_transcript(
    task: _Task,
    row: Row,
    outputs: dict[str, Any],
    transcript: Transcript,
    error: str | None = None,
) -> Row:
    """`row` plus `outputs`, with the transcript (and error, if any) in the metadata column."""
    entries = transcript.metadata(task)
    if error is not None:
        entries[f"error_{task.name}"] = error
        logger.debug("%s: row kept, error recorded: %s", task._label(), error)  # summarised
    meta = add_metadata(row.get(METADATA_COLUMN), entries)
    built = {**row, **outputs, METADATA_COLUMN: meta}
    return task._finalize_rows([built])[0]


def run_lockstep(
    exchanges: list[Exchange[T]], send: Callable[[list[FormattedInput]], list[LLMResult]]
) -> list[T]:
    """Run exchanges together: each round's pending requests go to `send` as one batch."""
    results: dict[int, T] = {}
    pending: dict[int, FormattedInput] = {}
    for index, exchange in enumerate(exchanges):
        _advance(index, exchange, None, pending, results)
    while pending:
        indices = list(pending)
        replies = send([pending[index] for index in indices])
        pending = {}
        for index, reply in zip(indices, replies, strict=True):
            _advance(index, exchanges[index], reply, pending, results)
    return [results[index] for index in range(len(exchanges))]


def _advance(
    index: int,
    exchange: Exchange[T],
    reply: LLMResult | None,
    pending: dict[int, FormattedInput],
    results: dict[int, T],
) -> None:
    try:
        pending[index] = exchange.send(reply)  # type: ignore[arg-type]
    except StopIteration as stop:
        results[index] = stop.value


async def run_alone(exchange: Exchange[T], send_one: Callable[[FormattedInput], Any]) -> T:
    """Run one exchange, awaiting `send_one(request)` for each of its requests."""
    reply: LLMResult | None = None
    while True:
        try:
            request = exchange.send(reply)  # type: ignore[arg-type]
        except StopIteration as stop:
            result: T = stop.value
            return result
        reply = await send_one(request)


class OneGenerationPerRequest(BaseModel):
    """For tasks whose rows take several requests: each request asks for one generation."""

    @field_validator("num_generations", check_fields=False)
    @classmethod
    def _one_generation(cls, value: int) -> int:
        if value != 1:
            raise ValueError(
                f"{cls.__name__} sends several requests per row, each for one generation, so "
                f"num_generations must be 1 (got {value}). To get several results per row, "
                "duplicate the rows or run the task again with another seed."
            )
        return value


def exchange_row(
    task: _Task, row: Row, rounds: Callable[[Row, Transcript], Exchange[dict[str, Any]]]
) -> Exchange[Row]:
    """Run `rounds` for `row` and return the finished row; a `ReplyError` gives None outputs,
    and so does a row the task cannot use (a None input, a `RowInputError`), with no request
    sent for it."""
    transcript = Transcript()
    failed = task._output_on_failure()
    problem = task._input_problem(row)
    if problem is not None:
        return row_with_transcript(task, row, failed, transcript, describe_error(problem))
    try:
        outputs = yield from rounds(row, transcript)
    except RowInputError as exc:
        return row_with_transcript(task, row, failed, transcript, describe_error(exc))
    except ReplyError as exc:
        return row_with_transcript(task, row, failed, transcript, str(exc))
    return row_with_transcript(task, row, outputs, transcript)


class RepliesReadInRounds:
    """For tasks that read each reply as it arrives: `format_output` does not apply."""

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Not applicable: the outputs come from several replies, read as they arrive."""
        raise StillroomError(
            f"{self._label()} builds its outputs from several replies per row; call "  # type: ignore[attr-defined]
            "process() instead of format_output()."
        )


class MultiRoundTask(OneGenerationPerRequest, RepliesReadInRounds, Task, ABC):
    """A task whose rows need several requests each, one after the other.

    Subclasses write `_rounds(row, transcript)`: an exchange that asks through
    `transcript.ask(...)` and returns the output columns. Requests go through the task's
    `generate_all` / `agenerate_one`, like any task's, one generation each.
    """

    @abstractmethod
    def _rounds(self, row: Row, transcript: Transcript) -> Exchange[dict[str, Any]]:
        """The requests for one row, returning its output columns."""

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        """The first request sent for `input` (what `print()` shows)."""
        return next(self._rounds(input, Transcript()))

    def exchange(self, row: Row) -> Exchange[Row]:
        """The whole dialogue for one row, returning the finished row."""
        return exchange_row(self, row, self._rounds)

    def process(self, inputs: StepInput) -> StepOutput:
        """Run every row's rounds, batching the requests of each round."""
        yield run_lockstep([self.exchange(row) for row in inputs], self.generate_all)

    async def aprocess_row(self, row: Row, llm: LLM | None = None) -> list[Row]:
        return [await run_alone(self.exchange(row), functools.partial(self.agenerate_one, llm=llm))]
