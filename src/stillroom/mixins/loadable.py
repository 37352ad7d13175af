"""The load/unload lifecycle shared by steps and LLMs.

A class "needs loading" when it (or a base below this mixin) overrides `load`. For those,
calling a guarded method before `load()` raises `NotLoadedError` telling the user to call it.
A configuration that cannot work (`configuration_problems`) makes `load()` raise instead.
The loaded state is kept by wrapping `load`/`unload` at class creation, so user code that
overrides them does not have to remember to call `super()` for the guard to work.

Loads are counted: an object shared by several owners (one LLM used by three tasks) is
loaded by the first `load()` and freed by the last matching `unload()`, so one task finishing
early never pulls the LLM from under the others. Only the outermost call counts; a subclass's
`load` calling `super().load()` is one load.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import PrivateAttr

from stillroom.errors import NotLoadedError, StillroomUserError
from stillroom.mixins.private_attributes import QuickPrivateAttributes


def _wrap(method: Callable[..., Any], loading: bool) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: LoadableMixin, *args: Any, **kwargs: Any) -> Any:
        with self._lifecycle_lock:
            if self._lifecycle_depth:  # super().load() inside a load: part of the same call
                return method(self, *args, **kwargs)
            count = self._load_count
            if (count > 0) if loading else (count > 1):  # still or already held by another
                self._load_count = count + (1 if loading else -1)
                return None
            if loading and (problems := self.configuration_problems()):
                raise StillroomUserError(" ".join(problems))
            self._lifecycle_depth += 1
            try:
                result = method(self, *args, **kwargs)
            finally:
                self._lifecycle_depth -= 1
            self._load_count = 1 if loading else 0
            return result

    wrapper.__stillroom_lifecycle__ = True  # type: ignore[attr-defined]
    return wrapper


class LoadableMixin(QuickPrivateAttributes):
    """`load()`/`unload()` with a guard for use before loading."""

    _load_count: int = PrivateAttr(default=0)
    _lifecycle_depth: int = PrivateAttr(default=0)
    _lifecycle_lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)
    _needs_load: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name in ("load", "unload"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__stillroom_lifecycle__", False):
                setattr(cls, name, _wrap(method, loading=name == "load"))
                if name == "load":
                    cls._needs_load = True

    def load(self) -> None:
        """Build clients, models and other runtime state. Call it before `process`/`generate`."""

    def configuration_problems(self) -> list[str]:
        """What in this configuration cannot work, found without building anything (one
        sentence each, naming the object and what to do). `load()` refuses to run while there
        is any (`StillroomUserError`); a pipeline reports every step's before any step loads.
        """
        return []

    def unload(self) -> None:
        """Free what `load()` built."""

    @property
    def is_loaded(self) -> bool:
        return self._load_count > 0

    def _ensure_loaded(self, action: str) -> None:
        if type(self)._needs_load and self._load_count == 0:
            raise NotLoadedError(
                f"{self._label()}: {action} was called before load(). "
                f"Call `.load()` first (a Pipeline does this for you when it runs)."
            )

    def _label(self) -> str:
        return type(self).__name__


# The mixin's own no-op load/unload count too, so sharing works for classes that keep them.
LoadableMixin.load = _wrap(LoadableMixin.load, loading=True)  # type: ignore[method-assign]
LoadableMixin.unload = _wrap(LoadableMixin.unload, loading=False)  # type: ignore[method-assign]
