"""Jinja2 prompt templates: sandboxed, checked before use, strict about missing variables.

Every template stillroom renders, built-in or given by a user (`TextGeneration.template`,
Evol `mutation_templates`, a template read from a pipeline file), goes through this module.
A template is text that may come from a shared YAML file, so it must never run code:

- `check` parses it and refuses, before anything runs, expressions that reach private or
  interpreter-internal attributes (`x.__class__`, `x['_y']`, `x|attr('__init__')`, ...);
- `render` then renders it in Jinja2's `ImmutableSandboxedEnvironment`, which refuses the
  same at run time (and calls that change lists or dicts), as a second line of defence.

Built-in tasks keep their prompts as `.jinja2` files under `stillroom/steps/tasks/templates/`
(read with `package_template`). jinja2 is imported when a template is first checked or
rendered, not with this module: tasks import it, and `import stillroom` should not pay for
jinja2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment


@cache
def _env() -> ImmutableSandboxedEnvironment:
    """The sandboxed environment every template is parsed and rendered in."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


@cache
def _internal_names() -> frozenset[str]:
    """Public-looking names the sandbox still refuses on some objects (`type.mro`, `gi_frame`...)."""
    from jinja2 import sandbox

    return frozenset(
        {"mro"}
        | sandbox.UNSAFE_FUNCTION_ATTRIBUTES
        | sandbox.UNSAFE_METHOD_ATTRIBUTES
        | sandbox.UNSAFE_GENERATOR_ATTRIBUTES
        | sandbox.UNSAFE_COROUTINE_ATTRIBUTES
        | sandbox.UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
    )


_ATTRIBUTE_FILTERS: dict[str, tuple[int | None, str | None]] = {
    "attr": (0, None),
    "selectattr": (0, None),
    "rejectattr": (0, None),
    "groupby": (0, "attribute"),
    "map": (None, "attribute"),
    "sort": (None, "attribute"),
    "unique": (None, "attribute"),
    "min": (None, "attribute"),
    "max": (None, "attribute"),
    "sum": (0, "attribute"),
}
"""Filters that read an attribute named by a string: (its position, its keyword)."""


class UnsafeTemplateError(StillroomError):
    """A template tries to reach what the sandbox forbids (private or internal attributes)."""


def _forbidden(name: str) -> bool:
    """Whether the sandbox would refuse attribute `name` (on at least some objects)."""
    return name.startswith("_") or name in _internal_names()


def _show(node: nodes.Node) -> str:
    """Template-like text of an expression, for error messages (`cycler.__init__`)."""
    from jinja2 import nodes

    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value)
    if isinstance(node, nodes.Getattr):
        return f"{_show(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        return f"{_show(node.node)}[{_show(node.arg)}]"
    if isinstance(node, nodes.Filter):
        return f"{_show(node.node) if node.node else '...'}|{node.name}(...)"
    if isinstance(node, nodes.Call):
        return f"{_show(node.node)}(...)"
    return "(...)"


def _attribute_names(node: nodes.Filter) -> Iterator[str]:
    """The attribute names an attribute-reading filter is given as constants."""
    from jinja2 import nodes

    position, keyword = _ATTRIBUTE_FILTERS.get(node.name, (None, None))
    given = [node.args[position]] if position is not None and len(node.args) > position else []
    given += [kw.value for kw in node.kwargs if kw.key == keyword]
    for value in given:
        if isinstance(value, nodes.Const) and isinstance(value.value, str):
            yield from value.value.split(".")


def _violations(tree: nodes.Template) -> Iterator[str]:
    """One description per expression in `tree` that the sandbox would refuse."""
    from jinja2 import nodes

    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        where = f"`{_show(node)}` (line {node.lineno})"
        if isinstance(node, nodes.Getattr) and _forbidden(node.attr):
            yield f"{where} reads the attribute {node.attr!r}"
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and _forbidden(node.arg.value)
        ):
            yield f"{where} reads the item {node.arg.value!r}"
        elif isinstance(node, nodes.Filter):
            for name in _attribute_names(node):
                if _forbidden(name):
                    yield f"{where} reads the attribute {name!r} through the {node.name!r} filter"


@lru_cache(maxsize=512)
def _problems(source: str) -> tuple[str, ...]:
    """What the static check refuses in `source` (cached: templates are checked per render)."""
    return tuple(_violations(_env().parse(source)))


def check(source: str, *, owner: str, field: str) -> str:
    """`source` if it is valid Jinja2 and reaches nothing private; else a clear error.

    `owner` names who holds the template (e.g. "Step 'gen' (TextGeneration)") and `field`
    which of its fields, so the message tells the user exactly what to change.
    """
    import jinja2

    try:
        problems = _problems(source)
    except jinja2.TemplateSyntaxError as exc:
        reason = (exc.message or "syntax error").rstrip(".")
        raise StillroomError(
            f"{owner}: {field} is not a valid Jinja2 template (line {exc.lineno}): {reason}."
        ) from exc
    if problems:
        raise UnsafeTemplateError(
            f"{owner}: {field} is refused: {'; '.join(problems)}. Templates render in a "
            "sandbox and may only use the variables they are given and their public "
            "attributes (no names starting with '_', no interpreter internals); remove "
            "that expression."
        )
    return source


@lru_cache(maxsize=512)
def _lone_variable(source: str) -> str | None:
    """The variable a template consisting of `{{ name }}` alone prints, else None (such as
    `TextGeneration`'s default template, rendered for every row)."""
    match = _LONE_VARIABLE.fullmatch(source)
    return match.group(1) if match else None


_LONE_VARIABLE = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")


@lru_cache(maxsize=512)
def _compiled(source: str) -> jinja2.Template:
    return _env().from_string(source)


def render(source: str, *, owner: str, field: str, **values: Any) -> str:
    """`source` checked, then rendered in the sandbox with `values`.

    `{{ missing }}` raises instead of rendering an empty string; what the sandbox refuses at
    run time raises `UnsafeTemplateError` naming `owner` and `field`.
    """
    check(source, owner=owner, field=field)
    name = _lone_variable(source)
    value = values.get(name) if name is not None else None
    if isinstance(value, str):
        return value  # what Jinja renders for it, without its per-render setup
    from jinja2.exceptions import SecurityError  # past the shortcut, which most rows take

    try:
        return _compiled(source).render(**values)
    except SecurityError as exc:
        reason = str(exc).rstrip(".")
        raise UnsafeTemplateError(
            f"{owner}: {field} did something the template sandbox forbids: {reason}. "
            "Templates may only read their variables, not change them or reach Python internals."
        ) from exc


def variables(source: str) -> set[str]:
    """The variables a template reads, e.g. {"instruction"} for "Answer: {{ instruction }}"."""
    from jinja2 import meta

    return meta.find_undeclared_variables(_env().parse(source))


@cache
def package_template(name: str) -> str:
    """The text of a template shipped in `stillroom/steps/tasks/templates/`."""
    return (resources.files("stillroom.steps.tasks") / "templates" / f"{name}.jinja2").read_text(
        encoding="utf-8"
    )
