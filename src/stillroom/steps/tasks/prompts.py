"""The package's prompt templates, compiled once and rendered by name.

Names are paths under `stillroom/steps/tasks/templates/` without the `.jinja2` suffix,
e.g. `render("ultrafeedback/system", count=2)`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from stillroom.utils import templates


@cache
def template(name: str) -> jinja2.Template:
    """The compiled package template `name`."""
    return templates.from_string(templates.package_template(name))


def render(name: str, **values: Any) -> str:
    """Package template `name` rendered with `values`, without surrounding blank space."""
    return template(name).render(**values).strip()
