"""Jinja2 prompt templates: compiled once, strict about missing variables.

Built-in tasks keep their prompts as `.jinja2` files under `stillroom/steps/tasks/templates/`
(read with `package_template`); users pass template strings (`from_string`).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2
from jinja2 import meta

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def from_string(source: str) -> jinja2.Template:
    """Compile a template; `{{ missing }}` raises instead of rendering an empty string."""
    return _ENV.from_string(source)


def variables(source: str) -> set[str]:
    """The variables a template reads, e.g. {"instruction"} for "Answer: {{ instruction }}"."""
    return meta.find_undeclared_variables(_ENV.parse(source))


@cache
def package_template(name: str) -> str:
    """The text of a template shipped in `stillroom/steps/tasks/templates/`."""
    return (resources.files("stillroom.steps.tasks") / "templates" / f"{name}.jinja2").read_text(
        encoding="utf-8"
    )
