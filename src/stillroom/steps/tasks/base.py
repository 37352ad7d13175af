"""Tasks: steps that turn rows into LLM requests and replies back into rows (docs/architecture.md).

`Task.process` formats each row, asks the LLM, formats each reply and keeps the input
columns. Nothing the LLM does can lose a row: a request that fails, or a reply that
`format_output` cannot parse, yields the row with `None` outputs and the error and raw reply
recorded in the `stillroom_metadata` column. `model_name` is written into every row a task
yields, whatever the task's own code did.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field, PositiveInt, PrivateAttr, model_validator
from typing_extensions import Self

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import StillroomError, StillroomUserError
from stillroom.mixins.runtime_parameters import RuntimeParameter
from stillroom.models.image_generation.base import ImageGenerationModel
from stillroom.models.llms.base import LLM, AsyncLLM
from stillroom.models.llms.wrapper import unwrap
from stillroom.steps.base import GeneratorStep, GlobalStep, Step, StepInput, _Step
from stillroom.steps.tasks.display import RequestPrintMixin
from stillroom.steps.typing import Row, StepColumns, StepOutput
from stillroom.typing import ChatType, FormattedInput, GenerateOutput, StructuredOutputType
from stillroom.utils.metadata import add_metadata, grouped_metadata

logger = logging.getLogger("stillroom.tasks")

METADATA_COLUMN = STILLROOM_METADATA_KEY
"""Column holding raw inputs/outputs, token statistics and errors, keyed by step name."""

LLMResult = GenerateOutput | BaseException
"""What one request produced: the reply, or the exception that ended it."""


def _wrap_format_output(method: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(method)
    def format_output(
        self: _Task, output: Any, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return method(self, self._reply_text(output), input)

    format_output.__stillroom_wrapped__ = True  # type: ignore[attr-defined]
    return format_output


def describe_error(error: BaseException) -> str:
    """One line for the metadata column and logs: the exception type and its message."""
    return f"{type(error).__name__}: {error}"


class RowInputError(StillroomError):
    """A row the task cannot turn into a request: a required input is None (an earlier step
    failed for it) or `format_input` rejected it. The row is kept with None outputs and this
    error recorded, like a failed request, and nothing is sent for it."""


def _loads_more_than_its_llm(cls: type) -> bool:
    """True when a class between `cls` and `_Task` has its own `load`."""
    return any("load" in vars(base) for base in cls.__mro__[: cls.__mro__.index(_Task)])


class _Task(_Step, RequestPrintMixin, ABC):
    """What every task has: an LLM, generation settings and reply formatting."""

    llm: LLM
    group_generations: bool = Field(
        default=False,
        description="One row holding lists of all generations, instead of one row each.",
    )
    add_raw_output: RuntimeParameter[bool] = Field(
        default=True, description="Keep the raw reply in the metadata column."
    )
    add_raw_input: RuntimeParameter[bool] = Field(
        default=True, description="Keep the messages sent in the metadata column."
    )
    num_generations: RuntimeParameter[PositiveInt] = Field(
        default=1, description="Generations per input row."
    )
    use_default_structured_output: bool = Field(
        default=False,
        description="Ask the LLM for JSON following the task's own schema "
        "(`get_structured_output()`; tasks that have one).",
    )

    _can_be_used_with_offline_batch_generation: ClassVar[bool] = False
    """Whether this task can take its replies from a provider's batch API (all its rows sent
    at once, read back later): tasks making one request per row."""

    @property
    def records_transcript(self) -> bool:
        """Whether a task sending several requests per row keeps them and their replies in the
        metadata column (with `add_raw_input` / `add_raw_output`); the Evol tasks keep only
        their token counts unless asked, as distilabel's do."""
        return True

    _warned_reply_text: bool = PrivateAttr(default=False)

    def get_structured_output(self) -> StructuredOutputType | None:
        """The JSON schema replies must follow when `use_default_structured_output` is on
        (None: this task has none)."""
        return None

    def structured_output_for(self, row: Row) -> StructuredOutputType | None:
        """The structured output sent with the request for `row`: the task's own schema
        when `use_default_structured_output` is on, else None. A task whose schema depends
        on the row (lists bound to how many items the row holds) overrides this."""
        return self.get_structured_output() if self.use_default_structured_output else None

    def paired(self, messages: ChatType, row: Row) -> FormattedInput:
        """`messages` with `structured_output_for(row)`, or alone when there is none (for
        tasks that build requests besides `format_input`'s)."""
        structured = self.structured_output_for(row)
        return messages if structured is None else (messages, structured)

    @model_validator(mode="after")
    def _default_structured_output_exists(self) -> Self:
        if self.use_default_structured_output and self.get_structured_output() is None:
            raise ValueError(
                f"{type(self).__name__} has no default structured output; leave "
                "use_default_structured_output False, or pass a structured_output to its LLM."
            )
        return self

    @model_validator(mode="after")
    def _batch_generation_possible(self) -> Self:
        if (
            self.llm.use_offline_batch_generation
            and not self._can_be_used_with_offline_batch_generation
        ):
            raise ValueError(
                f"`{type(self).__name__}` task cannot be used with offline batch generation "
                "(it does not take its replies from a provider's batch API). Set "
                "use_offline_batch_generation=False on its LLM."
            )
        return self

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        method = cls.__dict__.get("format_output")
        if method is None or getattr(method, "__stillroom_wrapped__", False):
            return
        if not getattr(method, "__isabstractmethod__", False):
            cls.format_output = _wrap_format_output(method)  # type: ignore[method-assign]

    def _reply_text(self, output: Any) -> str | None:
        """What `format_output` receives: the reply text, whatever the caller handed over.

        `format_output` is documented to take the reply text. Custom `process` code may pass
        `llm.generate`'s result instead (a list of GenerateOutput) or, as the GeneratorTask
        docs page does by mistake, a dict that replaced the reply; both become the text of
        the LLM's most recent reply, so that code still produces the reply it meant.
        """
        if output is None or isinstance(output, str):
            return output
        if isinstance(output, list) and output and isinstance(output[0], dict):
            output = output[0]
        if isinstance(output, dict) and isinstance(output.get("generations"), list):
            return output["generations"][0] if output["generations"] else None
        last = self.llm.last_reply
        if last is None:
            return output  # type: ignore[no-any-return]  # whatever the caller passed
        if not self._warned_reply_text:
            self._warned_reply_text = True
            logger.warning(
                "%s: format_output received %s instead of the reply text; using the LLM's "
                "latest reply. Pass the text: outputs[0]['generations'][0].",
                self._label(),
                type(output).__name__,
            )
        return last

    def model_post_init(self, context: Any, /) -> None:
        """Offline batch generation sends the requests of `Task.process` as one batch; a task
        making its requests otherwise (a generator, its own `process`) cannot use it: said
        before the task joins a pipeline."""
        if unwrap(self.llm).use_offline_batch_generation and not (
            isinstance(self, Task) and type(self).process is Task.process
        ):
            named = f" {self.name!r}" if self.name else ""
            raise StillroomUserError(
                f"{type(self).__name__}{named} cannot use offline batch generation: only a "
                "task sending its requests through Task.process (e.g. TextGeneration) can. "
                "Set use_offline_batch_generation=False on its LLM."
            )
        super().model_post_init(context)

    @property
    def is_global(self) -> bool:
        """True with offline batch generation: the task's requests go out as one batch, so
        it takes every row at once (as distilabel's)."""
        return unwrap(self.llm).use_offline_batch_generation or super().is_global

    def load(self) -> None:
        self.llm.load()

    def _ensure_loaded(self, action: str) -> None:
        """As in distilabel, a task may process before load() when nothing needs loading:
        neither the task (no `load` of its own) nor its LLM (a test double). A backend that
        must be loaded still gets the clear error."""
        if self.is_loaded or _loads_more_than_its_llm(type(self)) or type(self.llm)._needs_load:
            super()._ensure_loaded(action)

    def unload(self) -> None:
        self.llm.unload()

    @property
    @abstractmethod
    def outputs(self) -> StepColumns:
        """Columns the task writes; `model_name` is added when missing."""

    @abstractmethod
    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Turn one reply (None when it failed) into the task's output columns."""

    def _declared_outputs(self) -> dict[str, bool]:
        outputs = super()._declared_outputs()
        outputs.setdefault("model_name", True)
        return outputs

    def _finalize_rows(self, rows: list[Row]) -> list[Row]:
        model_name = self.llm.model_name
        for row in rows:
            row["model_name"] = model_name
        return rows

    def _output_on_failure(self) -> dict[str, Any]:
        return {column: None for column in self._declared_outputs() if column != "model_name"}

    def _input_problem(self, row: Row) -> RowInputError | None:
        """Why `row` cannot be sent: a required input column holding None, else None."""
        for column, required in self._declared_inputs().items():
            if required and row.get(column) is None:
                source = self.input_mappings.get(column)
                origin = f" (fed by column {source!r})" if source else ""
                return RowInputError(
                    f"input column {column!r}{origin} is None (an earlier step produced no "
                    "value); no request was sent for this row"
                )
        return None

    def _read_reply(self, text: str, row: Row | None) -> dict[str, Any]:
        """The outputs of one reply as a run reads it: `format_output`, unless a task whose
        `format_output` returns Nones for an unreadable reply (as distilabel's do) overrides
        this to raise instead, so that the row's metadata says why its outputs are None."""
        return self.format_output(text, row)

    def _format_one(self, text: str | None, row: Row | None) -> tuple[dict[str, Any], str | None]:
        """`_read_reply` that never raises: failures give `None` outputs and the error."""
        if text is None:
            return self._output_on_failure(), None
        try:
            formatted = self._read_reply(text, row)
        except Exception as exc:
            return self._output_on_failure(), f"format_output failed: {describe_error(exc)}"
        if not isinstance(formatted, dict):
            return self._output_on_failure(), (
                f"format_output returned {type(formatted).__name__}, expected a dict"
            )
        return formatted, None

    def rows_from_result(
        self, row: Row, formatted_input: FormattedInput | None, result: LLMResult
    ) -> list[Row]:
        """The rows one input row becomes, given what its LLM request produced.

        One row per generation, or a single row of lists with `group_generations`. Each
        carries the input columns, the formatted outputs, `model_name` and its metadata.
        """
        count = self.num_generations
        request_error: str | None = None
        if isinstance(result, BaseException):
            request_error = describe_error(result)
            logger.debug(  # per row; the engine reports failed rows in periodic summaries
                "%s: no reply for this row, kept with None outputs: %s",
                self._label(),
                request_error,
            )
            generations: list[str | None] = [None] * count
            statistics: dict[str, list[int]] = {}
            generation_errors: list[str | None] = []
        else:
            generations = list(result["generations"])
            statistics = dict(result.get("statistics") or {})  # type: ignore[arg-type]
            generation_errors = list(result.get("errors") or [])
            generations += [None] * (count - len(generations))

        name = self.name
        generated: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for index, text in enumerate(generations):
            outputs, format_error = self._format_one(text, row)
            meta: dict[str, Any] = {}
            if self.add_raw_output:
                meta[f"raw_output_{name}"] = text
            if self.add_raw_input and formatted_input is not None:
                meta[f"raw_input_{name}"] = _messages(formatted_input)
            if statistics:  # a row beyond the counts (an extra choice) repeats the request's
                meta[f"statistics_{name}"] = {
                    key: values[index % len(values)] for key, values in statistics.items() if values
                }
            error = request_error or format_error
            if error is None and index < len(generation_errors):
                error = generation_errors[index]
            if error is None and text is None:
                error = "the LLM returned no text for this generation"
            if error is not None:
                meta[f"error_{name}"] = error
            generated.append((outputs, meta))

        base = row.get(METADATA_COLUMN)
        if self.group_generations:
            columns = {key for outputs, _ in generated for key in outputs}
            grouped = {c: [outputs.get(c) for outputs, _ in generated] for c in columns}
            metas = grouped_metadata(base, [meta for _, meta in generated])
            built = [{**row, **grouped, METADATA_COLUMN: metas}]
        else:
            built = [
                {**row, **outputs, METADATA_COLUMN: add_metadata(base, meta)}
                for outputs, meta in generated
            ]
        return self._finalize_rows(built)

    # --- calling the LLM ---------------------------------------------------------------------

    def generate_all(self, formatted_inputs: list[FormattedInput]) -> list[LLMResult]:
        """One result per input (the reply, or the exception that ended its request).

        With offline batch generation the inputs go into one batch of the provider's batch
        API (see `LLM.offline_batch_results`); a batch still running raises
        `StillroomOfflineBatchGenerationNotFinishedException`, which stops a pipeline until
        it is run again."""
        if unwrap(self.llm).use_offline_batch_generation:
            return self.llm.offline_batch_results(formatted_inputs, self.num_generations)
        return self.llm.generate_results(formatted_inputs, num_generations=self.num_generations)

    async def agenerate_one(
        self, formatted_input: FormattedInput, llm: LLM | None = None
    ) -> LLMResult:
        """One request through an `AsyncLLM` (`llm`, by default the task's own: an engine
        passes the task's LLM as it wraps it for one unit of work); an exception is returned,
        not raised."""
        llm = llm or self.llm
        if not isinstance(llm, AsyncLLM):
            raise StillroomError(f"{self._label()}: agenerate_one needs an AsyncLLM.")
        return await llm.agenerate_result(formatted_input, self.num_generations)


def _messages(formatted_input: FormattedInput) -> ChatType:
    return formatted_input[0] if isinstance(formatted_input, tuple) else formatted_input


class Task(_Task, Step, ABC):
    """A task fed by predecessors: one LLM request per input row (`num_generations` replies)."""

    @property
    @abstractmethod
    def inputs(self) -> StepColumns:
        """Columns `format_input` reads."""

    @abstractmethod
    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        """Turn one row into the conversation sent to the LLM; a task whose rows each carry
        their own schema (StructuredGeneration) returns `(messages, structured_output)`."""

    def formatted_request(self, row: Row) -> FormattedInput:
        """What is sent for `row`: `format_input(row)`, paired with `structured_output_for(row)`
        when there is one. The pairing lives here, not in each task, so that `format_input`
        returns the conversation alone (as distilabel's do) whatever the settings."""
        formatted = self.format_input(row)
        return formatted if isinstance(formatted, tuple) else self.paired(formatted, row)

    def request_for(self, row: Row) -> FormattedInput | RowInputError:
        """The request for `row`, or why none can be sent (a None input, `format_input`
        raising); such a row is then kept with None outputs and the error recorded."""
        problem = self._input_problem(row)
        if problem is not None:
            return problem
        try:
            return self.formatted_request(row)
        except Exception as exc:
            return RowInputError(f"format_input failed: {describe_error(exc)}")

    def process(self, inputs: StepInput) -> StepOutput:
        """Format every row, ask the LLM, and yield the rows its replies become, in order.

        Rows that cannot be formatted send no request (see `request_for`)."""
        requests = [self.request_for(row) for row in inputs]
        sendable = [r for r in requests if not isinstance(r, RowInputError)]
        results = iter(self.generate_all(sendable) if sendable else [])
        rows: list[Row] = []
        for row, request in zip(inputs, requests, strict=True):
            if isinstance(request, RowInputError):
                rows.extend(self.rows_from_result(row, None, request))
            else:
                rows.extend(self.rows_from_result(row, request, next(results)))
        yield rows

    def _sample_row(self) -> Row:
        """A row with a `<PLACEHOLDER_COLUMN>` string for each required input column."""
        return {
            column: f"<PLACEHOLDER_{column.upper()}>"
            for column, required in self._declared_inputs().items()
            if required
        }

    def _sample_input(self) -> FormattedInput:
        return self.formatted_request(self._sample_row())

    async def aprocess_row(self, row: Row, llm: LLM | None = None) -> list[Row]:
        """The rows one input row becomes, for engines that schedule requests row by row
        (`llm` as for `agenerate_one`)."""
        request = self.request_for(row)
        if isinstance(request, RowInputError):
            return self.rows_from_result(row, None, request)
        result = await self.agenerate_one(request, llm)
        return self.rows_from_result(row, request, result)


class GeneratorTask(_Task, GeneratorStep, ABC):
    """A task with no predecessors: its `process(offset)` uses the LLM to create rows."""


class GlobalTask(_Task, GlobalStep, ABC):
    """A task that receives every row at once."""

    @property
    @abstractmethod
    def inputs(self) -> StepColumns:
        """Columns the task reads."""


class ImageTask(Task, ABC):
    """A task turning each row into a prompt for an `ImageGenerationModel`."""

    llm: LLM | None = Field(  # type: ignore[assignment]
        default=None,
        exclude=True,
        description="Set from image_generation_model; not given by users.",
    )
    image_generation_model: ImageGenerationModel = Field(description="The model making the images.")

    def model_post_init(self, context: Any, /) -> None:
        if self.llm is not None and self.llm is not self.image_generation_model:
            raise StillroomError(
                f"{type(self).__name__}: an image task takes its model as "
                "image_generation_model=..., not llm=... (got an llm)."
            )
        self.__dict__["llm"] = self.image_generation_model  # the same object, unvalidated
        super().model_post_init(context)

    @abstractmethod
    def format_input(self, input: dict[str, Any]) -> str:  # type: ignore[override]
        """The prompt for one row."""

    @abstractmethod
    def format_output(  # type: ignore[override]
        self, output: dict[str, Any] | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The task's columns from one image, given as `{"images": [base64 image]}`."""

    def _reply_text(self, output: Any) -> Any:
        return output  # an image dict, passed to format_output as it is

    def _format_one(self, text: str | None, row: dict[str, Any] | None) -> Any:
        image = None if text is None else {"images": [text]}
        return super()._format_one(image, row)  # type: ignore[arg-type]
