"""The step hierarchy: `_Step` -> `Step` / `GeneratorStep` / `GlobalStep` (docs/architecture.md).

Steps are pydantic models: configuration is fields, runtime state private attributes.
Every `process` a subclass defines is checked when the class is created (a generator's
`process` must take `offset`, not input rows) and wrapped so that calling it checks that
the step was loaded and its input rows carry the required columns, and normalises what it
yields. That is what lets `next(task.process())` work the same standalone and in a pipeline.
"""

from __future__ import annotations

import inspect
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar, overload

from pydantic import ConfigDict, Field, PositiveInt, PrivateAttr
from typing_extensions import Self

from stillroom.constants import STILLROOM_METADATA_KEY
from stillroom.errors import StillroomError, did_you_mean
from stillroom.mixins.loadable import LoadableMixin
from stillroom.mixins.requirements import RequirementsMixin
from stillroom.mixins.runtime_parameters import RuntimeParameter, RuntimeParametersMixin
from stillroom.mixins.signature import SignatureMixin
from stillroom.steps.artifacts import ArtifactsMixin
from stillroom.steps.bookkeeping import (
    apply_input_mappings,
    check_mapping_keys,
    check_required_columns,
    grouped_batches,
    normalize_columns,
    restore_columns,
)
from stillroom.steps.context import current_pipeline
from stillroom.steps.process_signature import StepInput as StepInput  # distilabel's path
from stillroom.steps.process_signature import StepKind, _wrap_process
from stillroom.steps.typing import GeneratorStepOutput, Row, StepColumns, StepOutput
from stillroom.utils.serialization import TYPE_INFO_KEY, Serializable

logger = logging.getLogger("stillroom.steps")


_StepT = TypeVar("_StepT", bound="_Step")
"""The step (or steps, in a list) on the right of `>>`, which `>>` returns as it is."""

_END = object()
"""Marks the end of a `process` iteration."""


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class StepResources(RuntimeParametersMixin, Serializable):
    """What each replica of a step needs when the pipeline runs on Ray."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    replicas: RuntimeParameter[PositiveInt] = Field(default=1, description="Copies of the step.")
    cpus: RuntimeParameter[float | None] = Field(default=None, description="CPUs per replica.")
    gpus: RuntimeParameter[float | None] = Field(default=None, description="GPUs per replica.")
    memory: RuntimeParameter[int | None] = Field(
        default=None, description="Memory per replica, in bytes."
    )
    resources: RuntimeParameter[dict[str, float] | None] = Field(
        default=None, description="Custom Ray resources per replica."
    )


class _Step(
    RuntimeParametersMixin,
    LoadableMixin,
    ArtifactsMixin,
    RequirementsMixin,
    SignatureMixin,
    Serializable,
    ABC,
):
    """Fields, lifecycle, columns and graph wiring common to every step."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        validate_assignment=True,
        protected_namespaces=(),
        extra="forbid",
    )

    name: str | None = Field(
        default=None,
        pattern=r"^[a-zA-Z0-9_-]+$",
        description="Unique name in the pipeline; inferred from the class name when omitted.",
    )
    resources: StepResources = Field(default_factory=StepResources)
    input_mappings: dict[str, str] = Field(
        default_factory=dict,
        description="Step input column -> column of the incoming rows that feeds it.",
    )
    output_mappings: dict[str, str] = Field(
        default_factory=dict, description="Step output column -> name it gets in the rows."
    )
    use_cache: bool = Field(default=True, description="Reuse cached results when re-running.")
    pipeline: Any = Field(default=None, exclude=True, repr=False)

    _step_kind: ClassVar[StepKind] = "normal"
    _name_inferred: bool = PrivateAttr(default=False)
    _built_from_decorator: bool = PrivateAttr(default=False)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        method = cls.__dict__.get("process")
        if method is None or getattr(method, "__stillroom_wrapped__", False):
            return
        if getattr(method, "__isabstractmethod__", False):
            return
        cls.process = _wrap_process(cls, method)  # type: ignore[attr-defined]  # `process` is declared by the subclasses

    @classmethod
    def _step_family(cls) -> str:
        names = [c.__name__ for c in cls.__mro__]
        for family in ("GeneratorTask", "GlobalTask", "Task", "GeneratorStep", "GlobalStep"):
            if family in names:
                return family
        return "Step"

    def model_post_init(self, context: Any, /) -> None:
        if self.pipeline is None:
            self.pipeline = current_pipeline()
        if self.name is None:
            # distilabel's scheme: `<snake_case class name>_0`, the index raised by the
            # pipeline while the name is taken (see `Pipeline._add_step`).
            self.name = f"{camel_to_snake(type(self).__name__)}_0"
            self._name_inferred = True
        if self.pipeline is not None:
            self.pipeline._add_step(self)
        else:
            logging.getLogger(f"stillroom.step.{self.name}").warning(
                "Step %r hasn't received a pipeline: it was created outside a `with "
                "Pipeline(...)` block, so it can be used on its own but not connected to other "
                "steps. Create it inside the block to make it part of a pipeline.",
                self.name,
            )

    def _label(self) -> str:
        return f"Step {self.name!r} ({type(self).__name__})"

    # --- columns -------------------------------------------------------------------------

    @property
    def inputs(self) -> StepColumns:
        """Columns this step reads (list, or dict column -> required)."""
        return []

    @property
    def outputs(self) -> StepColumns:
        """Columns this step writes (list, or dict column -> required)."""
        return []

    def _declared_inputs(self) -> dict[str, bool]:
        return normalize_columns(self.inputs)

    def _declared_outputs(self) -> dict[str, bool]:
        return normalize_columns(self.outputs)

    def get_inputs(self) -> dict[str, bool]:
        """Columns this step reads, as the incoming rows name them (`input_mappings`
        applied) -> required."""
        declared = self._declared_inputs().items()
        return {self.input_mappings.get(c, c): required for c, required in declared}

    def get_outputs(self) -> dict[str, bool]:
        """Columns this step writes, as the outgoing rows name them (`output_mappings`
        applied) -> always written."""
        declared = self._declared_outputs().items()
        return {self.output_mappings.get(c, c): written for c, written in declared}

    def verify_inputs_mappings(self) -> None:
        """Raise if `input_mappings` names a column this step does not read."""
        check_mapping_keys(self._label(), "input", self.input_mappings, self._declared_inputs())

    def verify_outputs_mappings(self) -> None:
        """Raise if `output_mappings` names a column this step does not write."""
        check_mapping_keys(self._label(), "output", self.output_mappings, self._declared_outputs())

    def _required_inputs(self) -> list[str]:
        return [c for c, required in self._declared_inputs().items() if required]

    @property
    def is_generator(self) -> bool:
        return self._step_kind == "generator"

    @property
    def is_global(self) -> bool:
        return self._step_kind == "global"

    @property
    def is_normal(self) -> bool:
        return self._step_kind == "normal"

    # --- output normalisation --------------------------------------------------------------

    def _finalize_rows(self, rows: list[Row]) -> list[Row]:
        """Hook applied to every batch a step yields (tasks write `model_name` here)."""
        return rows

    def _as_rows(self, value: Any) -> list[Row]:
        if isinstance(value, dict):
            rows = [value]
        elif isinstance(value, list) and all(isinstance(r, dict) for r in value):
            rows = value
        else:
            raise StillroomError(
                f"{self._label()} yielded {type(value).__name__} {_short(value)}; expected a row "
                "dict or a list of row dicts"
                + (", or a (rows, is_last) tuple." if self.is_generator else ".")
            )
        return self._finalize_rows(rows)

    def _normalized(self, result: Any, generator: bool) -> Iterator[Any]:
        items: Iterator[Any] = iter(
            result if inspect.isgenerator(result) or isinstance(result, Iterator) else [result]
        )
        while True:
            item = next(items, _END)
            if item is _END:
                return
            if generator and isinstance(item, tuple) and len(item) == 2:
                yield self._as_rows(item[0]), bool(item[1])
            else:
                yield self._as_rows(item)

    def restore_outputs(self, rows: list[Row]) -> list[Row]:
        """Rows `process` produced, as the pipeline passes them on: `input_mappings` undone
        and the outputs renamed by `output_mappings` (the other end of `map_inputs`)."""
        undone = {} if self.is_generator else self.input_mappings  # a generator reads no rows
        return restore_columns(rows, undone, self.output_mappings, self._declared_outputs())

    # --- graph wiring ------------------------------------------------------------------------

    def connect(self, *steps: _Step, routing_batch_function: Any = None) -> None:
        """Send this step's rows to `steps` (same as `self >> steps`); with a
        `routing_batch_function`, each batch to those of them it chooses."""
        if self.pipeline is None:
            raise StillroomError(
                f"{self._label()} is not part of a pipeline, so it cannot be connected. Create "
                "it inside `with Pipeline(name=...) as pipeline:`."
            )
        for other in steps:
            self.pipeline._add_edge(self.name, other.name)
        if routing_batch_function is not None:
            self.pipeline._add_routing(self.name, routing_batch_function)

    @overload
    def __rshift__(self, other: list[_StepT]) -> list[_StepT]: ...

    @overload
    def __rshift__(self, other: _StepT) -> _StepT: ...

    @overload
    def __rshift__(self, other: Any) -> Any: ...  # a RoutingBatchFunction, returned attached

    def __rshift__(self, other: Any) -> Any:
        """`a >> b` returns `b` and `a >> [b, c]` returns the list, so chains read left to
        right: `load >> [answer, judge] >> combine`."""
        if isinstance(other, list):
            self.connect(*other)
            return other
        if isinstance(other, _Step):
            self.connect(other)
            return other
        attach = getattr(other, "_attach_upstream", None)  # a RoutingBatchFunction
        if callable(attach):
            return attach(self)
        return NotImplemented

    def __rrshift__(self, other: list[_StepT]) -> Self:
        """`[a, b] >> c` sends the rows of both to `c`, and returns `c`."""
        if isinstance(other, list) and all(isinstance(s, _Step) for s in other):
            for step in other:
                step.connect(self)
            return self
        return NotImplemented

    # --- serialisation -----------------------------------------------------------------------

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        """The configuration in distilabel's shape: `resources` as a plain mapping (its type
        is the field's) and the runtime parameters described (`runtime_parameters_info`,
        ignored when loading)."""
        data = super().dump(**kwargs)
        if self._name_inferred:
            data["name"] = self.name
        resources = data.get("resources")
        if isinstance(resources, dict):
            resources.pop(TYPE_INFO_KEY, None)
        data["runtime_parameters_info"] = self.get_runtime_parameters_info()
        return data


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Step(_Step, ABC):
    """A step that receives batches of rows from its predecessors and yields new batches."""

    input_batch_size: RuntimeParameter[PositiveInt] = Field(
        default=50, description="Rows per batch this step processes."
    )

    @abstractmethod
    def process(self, *inputs: Any, **kwargs: Any) -> StepOutput:
        """Yield lists of rows built from the input batches (one per predecessor).

        Each input is a `StepInput` (a list of rows). Declared with `Any` so that a subclass
        may name its inputs as it likes, `process(self, inputs: StepInput)` for one
        predecessor as distilabel's steps do, and still type-check as an override.
        """

    def process_applying_mappings(self, *inputs: list[Row]) -> StepOutput:
        """`process` with `input_mappings`/`output_mappings` applied; what the engine calls."""
        for rows in self.process(*self.map_inputs(*inputs)):
            yield self.restore_outputs(rows)

    def map_inputs(self, *inputs: list[Row]) -> tuple[list[Any], ...]:
        """The rows as `process` receives them in a pipeline: `input_mappings` applied and
        the required columns checked, on a loaded step (a clear error otherwise). Both ways
        the engine feeds a step, batch by batch or row by row, start here. A `@step` step
        called with its batches in one list gets them back in one list (`grouped_batches`)."""
        self._ensure_loaded("process()")
        grouped = grouped_batches(inputs) if self._built_from_decorator else None
        mapped = apply_input_mappings(grouped or inputs, self.input_mappings)
        check_required_columns(self.name, self._required_inputs(), mapped, self.input_mappings)
        return mapped if grouped is None else (list(mapped),)  # as the caller grouped them


class GlobalStep(Step, ABC):
    """A step that receives every row at once (deduplication, sampling, sorting...)."""

    _step_kind: ClassVar[StepKind] = "global"


class GeneratorStep(_Step, ABC):
    """A step with no predecessors that creates rows, batch by batch."""

    _step_kind: ClassVar[StepKind] = "generator"

    batch_size: RuntimeParameter[PositiveInt] = Field(
        default=50, description="Rows per batch this step yields."
    )

    @abstractmethod
    def process(self, offset: int = 0) -> GeneratorStepOutput:
        """Yield rows from `offset` on: `(rows, is_last)`, a list of rows or one row at a time."""

    def _check_yielded_columns(self, row: Row) -> None:
        """Warn, naming this step, when its first row's columns differ from its declared
        `outputs`: otherwise the next step is blamed for a column this one never wrote."""
        declared = self.get_outputs()
        if not declared or not isinstance(row, dict):
            return
        extra = [c for c in row if c not in declared and c != STILLROOM_METADATA_KEY]
        missing = [c for c, required in declared.items() if required and c not in row]
        if not extra and not missing:
            return
        parts = []
        if extra:
            hints = "".join(did_you_mean(column, declared) for column in extra).strip()
            parts.append(
                f"yields {', '.join(map(repr, extra))}, not in its outputs"
                + (f" ({hints})" if hints else "")
            )
        if missing:
            parts.append(f"declares {', '.join(map(repr, missing))} but does not yield it")
        logger.warning(
            "Step %r (%s) %s. Declared outputs: %s. Steps after it see the declared columns, "
            "so fix the rows it yields or its `outputs`.",
            self.name,
            type(self).__name__,
            "; ".join(parts),
            list(declared),
        )

    def process_applying_mappings(self, offset: int = 0) -> Iterator[tuple[list[Row], bool]]:
        """`process` as `(rows, is_last)` batches, with `output_mappings` applied.

        When `process` does not say which batch is last, the end of the generator does, with
        a last, empty batch: each batch leaves as soon as it is made, never held back while
        the next one is computed, so what a stopped run saved matches what it sent.
        """
        checked = False
        for item in self.process(offset):
            rows, is_last = item if isinstance(item, tuple) else (item, False)
            if rows and not checked:
                checked = True
                self._check_yielded_columns(rows[0] if isinstance(rows, list) else rows)
            yield self.restore_outputs(rows), is_last
            if is_last:
                return
        yield [], True
