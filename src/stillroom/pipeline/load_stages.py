"""Load groups and load stages: which steps are in memory together during a run.

`Pipeline.run(load_groups=...)` takes distilabel's groups: lists of steps (or their names)
loaded together, or "sequential_step_execution" for one step at a time. The run then goes
stage by stage: a stage's steps are loaded when every earlier stage has finished and been
unloaded, which bounds what is in memory at once (two local models on one GPU, say). The
stages are distilabel's: each group is a stage, each global step is one, and the steps in
no group between them form stages of their own, in the graph's order.

Without load groups every step is loaded when the run starts (one stage), so that a step
that cannot load stops the run before any request is paid for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomUserError

if TYPE_CHECKING:
    from stillroom.pipeline.graph import DAG

SEQUENTIAL = "sequential_step_execution"


def resolve_load_groups(dag: DAG, load_groups: Any, pipeline: str) -> list[list[str]] | None:
    """`load_groups` as lists of step names (None: no groups), or a `StillroomUserError`
    listing every problem, before anything runs."""
    if load_groups is None:
        return None
    if load_groups == SEQUENTIAL:
        return [[name] for name in dag.topological_order()]
    if isinstance(load_groups, str) or not _is_list_of_lists(load_groups):
        raise StillroomUserError(
            f"Pipeline {pipeline!r}: load_groups should be a list of lists of steps (or of "
            f"their names), or {SEQUENTIAL!r}; got {load_groups!r}."
        )
    groups = [[getattr(step, "name", step) for step in group] for group in load_groups]
    problems = load_group_problems(dag, groups)
    if not problems:
        problems = stage_order_problems(dag, load_stages(dag, groups))
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise StillroomUserError(
            f"Pipeline {pipeline!r}: load_groups cannot be used; nothing was run:\n{listed}"
        )
    return groups


def _is_list_of_lists(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        isinstance(group, (list, tuple)) for group in value
    )


def load_group_problems(dag: DAG, groups: list[list[Any]]) -> list[str]:
    """Unknown or repeated steps, a global step grouped with others, and groups that would
    need a stage between their own steps (a step outside the group on a path between two of
    its steps)."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, group in enumerate(groups):
        for name in group:
            if not isinstance(name, str) or name not in dag:
                problems.append(
                    f"group {index} names {name!r}, which is not a step of the pipeline "
                    f"(its steps: {list(dag.steps)})."
                )
            elif name in seen:
                problems.append(
                    f"step {name!r} is in group {seen[name]} and in group {index}; a step "
                    "belongs to one group."
                )
            else:
                seen[name] = index
                if dag.steps[name].is_global and len(group) > 1:
                    problems.append(
                        f"global step {name!r} is grouped with other steps; a global step "
                        "runs once all its rows are in, so it has a stage of its own."
                    )
    if problems:
        return problems
    for index, group in enumerate(groups):
        members = set(group)
        below = dag.reachable_from(list(members)) - members
        above = dag.reaching(members) - members
        between = sorted(below & above)
        if between:
            problems.append(
                f"group {index} {group}: {between} lie between steps of the group, so they "
                "would have to be loaded both after and before it. Add them to the group, or "
                "split it."
            )
    return problems


def load_stages(dag: DAG, groups: list[list[str]] | None) -> list[list[str]]:
    """The stages a run loads its steps in, in order (see the module docstring)."""
    order = dag.topological_order()
    if groups is None:
        return [order]
    grouped = [list(group) for group in groups if group]
    in_group = {name for group in grouped for name in group}
    grouped += [[name] for name in order if dag.steps[name].is_global and name not in in_group]
    position = {name: index for index, name in enumerate(order)}
    grouped.sort(key=lambda group: min(position[name] for name in group))
    group_of = {name: group for group in grouped for name in group}
    stages: list[list[str]] = []
    current: list[str] = []
    placed: set[int] = set()
    for name in order:
        group = group_of.get(name)
        if group is None:
            current.append(name)
            continue
        if current:
            stages.append(current)
            current = []
        if id(group) not in placed:
            placed.add(id(group))
            stages.append(sorted(group, key=position.__getitem__))
    if current:
        stages.append(current)
    return stages


def stage_order_problems(dag: DAG, stages: list[list[str]]) -> list[str]:
    """Steps whose predecessor would be loaded in a later stage (the groups' order cannot
    feed them)."""
    stage_of = {name: index for index, stage in enumerate(stages) for name in stage}
    return [
        f"step {name!r} would be loaded in stage {stage_of[name]}, before its predecessor "
        f"{pred!r} (stage {stage_of[pred]}); group them together or reorder the groups."
        for name in dag.topological_order()
        for pred in dag.predecessors(name)
        if stage_of[pred] > stage_of[name]
    ]


def last_steps(dag: DAG, stage: list[str]) -> list[str]:
    """The steps of `stage` that send no rows to another step of it (distilabel's
    "last steps" of a stage), sorted."""
    members = set(stage)
    return sorted(name for name in stage if not members & set(dag.successors(name)))
