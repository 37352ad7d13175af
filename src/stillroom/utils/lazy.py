"""Package attributes imported on first access, so that importing a package stays cheap.

`stillroom.steps` and `stillroom.steps.tasks` list many classes; a script uses a few. Each
package names where its classes live and resolves a name from its module `__getattr__`;
type checkers read the same names from the package's `TYPE_CHECKING` imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any


def import_lazily(package: str, where: Mapping[str, str], name: str) -> Any:
    """`name` from the module `where` maps it to, kept on `package` for the next access."""
    module = where.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    setattr(sys.modules[package], name, value)
    return value
