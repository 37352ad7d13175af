"""How a step travels to the Ray actors that run it.

A step is configuration (pydantic fields) plus runtime state (private attributes: clients,
locks, loaded models), and only the configuration should travel: the actor calls `load()`
to build the rest, exactly as the local engine does. `pack` therefore pickles every
stillroom model as its class and field values, recursively (the step's LLM too), and leaves
the `pipeline` back-reference behind. Anything else in the fields is pickled as usual by
cloudpickle, so a mock LLM scripted with a lambda or a step class defined in a script travels
too. Secrets in the fields (an API key) travel with the step, as the actor needs them.

A class defined in a script is pickled by value, with the functions stillroom wrapped around
its methods; those may use a module's context variable, which cannot be pickled, so a
context variable that is a module global travels as a reference to it.
"""

from __future__ import annotations

import importlib
import io
import sys
from contextvars import ContextVar
from typing import Any

from ray import cloudpickle

from stillroom.utils.serialization import Serializable

_LEFT_BEHIND = frozenset({"pipeline"})
"""Fields that are not configuration: the pipeline a step joined stays on the driver."""


def _rebuild(cls: type[Serializable], values: dict[str, Any]) -> Serializable:
    """The model again, from its class and field values (private state starts afresh)."""
    return cls(**values)


def _module_global(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _where_defined(variable: ContextVar[Any]) -> tuple[str, str] | None:
    """(module, name) of the module global that is `variable`, if there is one."""
    for module_name, module in list(sys.modules.items()):
        for name, value in list(getattr(module, "__dict__", {}).items()):
            if value is variable:
                return module_name, name
    return None


class _ConfigPickler(cloudpickle.CloudPickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, ContextVar):
            where = _where_defined(obj)
            if where is not None:
                return _module_global, where
        if isinstance(obj, Serializable):
            cls = type(obj)
            values = {
                name: getattr(obj, name)
                for name in cls.model_fields
                if name not in _LEFT_BEHIND and name in obj.model_fields_set
            }
            return _rebuild, (cls, values)
        return super().reducer_override(obj)


def pack(obj: Any) -> bytes:
    """`obj` (a step, usually) as bytes an actor turns back into it with `unpack`."""
    buffer = io.BytesIO()
    _ConfigPickler(buffer, protocol=5).dump(obj)
    return buffer.getvalue()


def unpack(data: bytes) -> Any:
    return cloudpickle.loads(data)
