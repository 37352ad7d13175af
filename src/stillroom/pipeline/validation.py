"""Checks run before any step does: graph shape, column flow, runtime parameters and each
step's own `configuration_problems`.

Every problem found is collected, so one run of the checks tells the user everything to fix.
Nothing here loads a step or calls an LLM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from stillroom.errors import StillroomError, did_you_mean
from stillroom.mixins.runtime_parameters import RuntimeParametersMixin
from stillroom.steps.process_signature import generator_process_problem, process_takes_rows

if TYPE_CHECKING:
    from stillroom.pipeline.graph import DAG
    from stillroom.steps.base import _Step


def _label(step: _Step) -> str:
    return f"Step {step.name!r} ({type(step).__name__})"


def graph_problems(dag: DAG) -> list[str]:
    """Cycles, generators with inputs, and steps no generator's rows can reach."""
    if not dag.steps:
        return [
            "it has no steps: create them inside `with Pipeline(...) as pipeline:` so they join it."
        ]
    cycle = dag.find_cycle()
    if cycle:
        return [
            f"steps form a cycle: {' >> '.join(cycle)}. Rows only flow forward, so remove "
            "one of these connections."
        ]
    problems: list[str] = []
    generators = [name for name, step in dag.steps.items() if step.is_generator]
    for step in dag.steps.values():
        if step.is_generator:
            problem = generator_process_problem(type(step))
            if problem is not None:
                problems.append(f"{_label(step)}: {problem}")
        elif not process_takes_rows(type(step)):
            problems.append(
                f"{_label(step)} receives rows, but its process takes none: define it as "
                "`def process(self, inputs: StepInput)` (or `*inputs: StepInput` for several "
                "predecessors)."
            )
    problems.extend(routing_problems(dag))
    for name in generators:
        preds = dag.predecessors(name)
        if preds:
            problems.append(
                f"{_label(dag.steps[name])} is a generator, which creates rows, but receives "
                f"rows from {preds}. Remove those connections, or use a Step instead."
            )
    if not generators:
        problems.append(
            "it has no generator step, so no rows enter it: start it with a GeneratorStep "
            "such as LoadDataFromDicts(data=[...])."
        )
        return problems
    reachable = dag.reachable_from(generators)
    for name, step in dag.steps.items():
        if name in reachable:
            continue
        preds = dag.predecessors(name)
        if not preds:
            problems.append(
                f"{_label(step)} has no predecessor, so no rows reach it. Connect it to a "
                f"step before it (e.g. `{generators[0]} >> {name}`) or remove it."
            )
        else:
            problems.append(
                f"{_label(step)} cannot be reached from any generator (its predecessors: "
                f"{preds}). Connect its branch to a generator."
            )
    return problems


def routing_problems(dag: DAG) -> list[str]:
    """A step that receives routed batches has that one predecessor (as in distilabel): its
    batches then come whole or not at all. A routing step needs successors to choose from."""
    problems = []
    for name, routing in dag.routing.items():
        successors = dag.successors(name)
        if not successors:
            problems.append(
                f"{_label(dag.steps[name])} routes its batches with {routing!r} but has no "
                "step after it; connect the steps it chooses from "
                f"(`{name} >> routing >> [step_a, step_b]`)."
            )
        for successor in successors:
            others = [p for p in dag.predecessors(successor) if p != name]
            if others:
                problems.append(
                    f"{_label(dag.steps[successor])} receives batches that {name!r} routes "
                    f"with {routing!r}, and rows from {others} too; a step receiving routed "
                    "batches takes them from that step alone. Join the branches in a step "
                    "after it instead."
                )
    return problems


def column_problems(dag: DAG) -> list[str]:
    """Required input columns that no step before the step produces.

    A column is available to a step when a step upstream of it outputs it (after that
    step's `output_mappings`). A generator that declares no outputs makes the columns
    below it unknown, and those steps are checked when they run instead.
    """
    problems: list[str] = []
    available: dict[str, set[str] | None] = {}
    for name in dag.topological_order():
        step = dag.steps[name]
        upstream: set[str] | None = set()
        for pred in dag.predecessors(name):
            pred_columns = available[pred]
            if pred_columns is None or upstream is None:
                upstream = None
            else:
                upstream |= pred_columns
        if not step.is_generator and upstream is not None:
            for column, required in step._declared_inputs().items():
                source = step.input_mappings.get(column, column)
                if required and source not in upstream:
                    problems.append(_missing_column(step, column, source, upstream))
        outputs = {step.output_mappings.get(c, c) for c in step._declared_outputs()}
        if step.is_generator:
            available[name] = outputs or None
        else:
            available[name] = None if upstream is None else upstream | outputs
    return problems


def _missing_column(step: _Step, column: str, source: str, upstream: set[str]) -> str:
    mapped = f" (mapped from {source!r})" if source != column else ""
    hint = did_you_mean(source, upstream)
    return (
        f"{_label(step)} needs column {column!r}{mapped}, which no step before it produces. "
        f"Columns available: {sorted(upstream)}.{hint} If your data has it under another "
        f"name, map it: input_mappings={{{column!r}: '<column>'}}."
    )


def apply_parameters(dag: DAG, parameters: Mapping[str, Any] | None) -> list[str]:
    """Set runtime parameters given per step name; return what could not be set."""
    problems: list[str] = []
    if not parameters:
        return problems
    if not isinstance(parameters, dict):
        return [
            f"parameters must be a dict of step name -> {{parameter: value}}, got {parameters!r}."
        ]
    for name, values in parameters.items():
        step = dag.steps.get(name)
        if step is None:
            problems.append(
                f"parameters were given for step {name!r}, which is not in the pipeline."
                f"{did_you_mean(name, dag.steps)} Steps: {', '.join(dag.steps)}."
            )
            continue
        if not isinstance(values, dict):
            problems.append(
                f"parameters for step {name!r} must be a dict of parameter -> value, got "
                f"{values!r}."
            )
            continue
        # set_runtime_parameters only warns about an unknown name: here it stops the run
        unknown = step.unknown_runtime_parameters(values)
        if unknown:
            problems += [_naming_step(step, message) for message in unknown]
            continue
        try:
            step.set_runtime_parameters(values)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            problems.append(f"{_label(step)}: invalid runtime parameter value ({details}).")
        except StillroomError as exc:
            problems.append(_naming_step(step, str(exc)))
    return problems


def _naming_step(step: _Step, message: str) -> str:
    """`message` led by the step's label: a nested object's (the LLM, resources) names only it."""
    label = _label(step)
    return message if message.startswith(label) else f"{label}: {message}"


def missing_parameters(dag: DAG) -> list[str]:
    """Required runtime parameters that are still unset (None)."""
    problems: list[str] = []
    for name, step in dag.steps.items():
        for path in _unset_required(step, ()):
            dotted = ".".join(path)
            nested: str = "{...}"
            for part in reversed(path):
                nested = f"{{{part!r}: {nested}}}"
            problems.append(
                f"{_label(step)} needs the runtime parameter {dotted!r}, which is not set. "
                f"Pass it with run(parameters={{{name!r}: {nested}}}) or on the command line "
                f"with --param {name}.{dotted}=<value>."
            )
    return problems


def _unset_required(obj: RuntimeParametersMixin, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    missing: list[tuple[str, ...]] = []
    for param, optional in obj.runtime_parameters_names.items():
        value = getattr(obj, param, None)
        if isinstance(optional, dict):
            if isinstance(value, RuntimeParametersMixin):
                missing.extend(_unset_required(value, (*prefix, param)))
            elif isinstance(value, list):  # a list of objects with parameters, by index
                for index, item in enumerate(value):
                    missing.extend(_unset_required(item, (*prefix, param, str(index))))
        elif not optional and value is None:
            missing.append((*prefix, param))
    return missing


def configuration_problems(dag: DAG) -> list[str]:
    """What each step's `configuration_problems` finds: the problems its `load()` would
    refuse, reported here before any step loads (with load stages, a later stage loads only
    after the earlier ones have sent their requests)."""
    return [
        _naming_step(step, problem)
        for step in dag.steps.values()
        for problem in step.configuration_problems()
    ]


def validate(dag: DAG, pipeline_name: str, parameter_problems: Sequence[str] = ()) -> None:
    """Raise `PipelineValidationError` listing every problem, or return when it can run."""
    from stillroom.pipeline.errors import PipelineValidationError

    problems = list(parameter_problems)
    shape = graph_problems(dag)
    problems.extend(shape)
    if not shape:
        problems.extend(column_problems(dag))
    problems.extend(missing_parameters(dag))
    problems.extend(configuration_problems(dag))
    if problems:
        raise PipelineValidationError(pipeline_name, problems)
