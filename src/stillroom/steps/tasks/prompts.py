"""The package's prompt templates, checked once and rendered by name in the sandbox.

Names are paths under `stillroom/steps/tasks/templates/` without the `.jinja2` suffix,
e.g. `render("ultrafeedback/system", count=2)`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from stillroom.utils import templates

_OWNER = "stillroom"


def _field(name: str) -> str:
    return f"built-in template {name!r}"


@cache
def template(name: str) -> str:
    """The text of package template `name`, checked to parse and to pass the sandbox rules."""
    return templates.check(templates.package_template(name), owner=_OWNER, field=_field(name))


def render(name: str, **values: Any) -> str:
    """Package template `name` rendered with `values`, without surrounding blank space."""
    return templates.render(template(name), owner=_OWNER, field=_field(name), **values).strip()
