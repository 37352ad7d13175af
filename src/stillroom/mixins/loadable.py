"""The load/unload lifecycle shared by steps and LLMs.

A class "needs loading" when it (or a base below this mixin) overrides `load`. For those,
calling a guarded method before `load()` raises `NotLoadedError` telling the user to call it.
The loaded flag is set by wrapping `load`/`unload` at class creation, so user code that
overrides them does not have to remember to call `super()` for the guard to work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, PrivateAttr

from stillroom.errors import NotLoadedError


def _wrap_load(load: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load)
    def wrapper(self: LoadableMixin, *args: Any, **kwargs: Any) -> Any:
        result = load(self, *args, **kwargs)
        self._loaded = True
        return result

    wrapper.__stillroom_lifecycle__ = True  # type: ignore[attr-defined]
    return wrapper


def _wrap_unload(unload: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(unload)
    def wrapper(self: LoadableMixin, *args: Any, **kwargs: Any) -> Any:
        result = unload(self, *args, **kwargs)
        self._loaded = False
        return result

    wrapper.__stillroom_lifecycle__ = True  # type: ignore[attr-defined]
    return wrapper


class LoadableMixin(BaseModel):
    """`load()`/`unload()` with a guard for use before loading."""

    _loaded: bool = PrivateAttr(default=False)
    _needs_load: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, wrap in (("load", _wrap_load), ("unload", _wrap_unload)):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__stillroom_lifecycle__", False):
                setattr(cls, name, wrap(method))
                if name == "load":
                    cls._needs_load = True

    def load(self) -> None:
        """Build clients, models and other runtime state. Call it before `process`/`generate`."""

    def unload(self) -> None:
        """Free what `load()` built."""

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def _ensure_loaded(self, action: str) -> None:
        if type(self)._needs_load and not self._loaded:
            raise NotLoadedError(
                f"{self._label()}: {action} was called before load(). "
                f"Call `.load()` first (a Pipeline does this for you when it runs)."
            )

    def _label(self) -> str:
        return type(self).__name__
