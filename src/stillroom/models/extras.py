"""Importing the heavy library behind an in-process model only when it is needed.

The in-process backends and embedding models import torch, transformers, vllm, mlx or
sentence-transformers inside `load()`, through `import_extra`, so that importing their class
stays light and a missing library is an error naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from stillroom.errors import MissingExtraError


def import_extra(module: str, feature: str, extra: str, package: str | None = None) -> ModuleType:
    """`module`, imported; `MissingExtraError` naming `extra` (and `package`, by default the
    module's top-level name) when it or a library it needs is not installed (the original
    ImportError is its cause)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # the library, or one it needs (torch), is missing
        raise MissingExtraError(feature, extra, package or module.partition(".")[0]) from exc
