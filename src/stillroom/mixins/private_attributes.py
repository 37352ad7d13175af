"""Private attributes read at the cost of a dict lookup (the request path reads several).

pydantic reaches a private attribute (`_load_count`, an LLM's `_chain`) through
`BaseModel.__getattr__`, which first asks the attribute's declaration whether its default
is a descriptor: a `hasattr` that fails through a second `__getattr__`, about a
microsecond each time. Every request reads a handful of them (the load guard, the
concurrency slot, the sending chain), so this mixin answers those whose default is no
descriptor straight from the instance's private values, and leaves everything else
(descriptors, unknown names, the error for a missing one) to pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

_PLAIN: dict[type, frozenset[str]] = {}
"""Per class, the private attributes pydantic would read from `__pydantic_private__`."""


def _plain_private_names(cls: type[BaseModel]) -> frozenset[str]:
    names = _PLAIN.get(cls)
    if names is None:
        names = _PLAIN[cls] = frozenset(
            name
            for name, declared in cls.__private_attributes__.items()
            if not hasattr(declared, "__get__")
        )
    return names


class QuickPrivateAttributes(BaseModel):
    """`BaseModel` whose plain private attributes are read without pydantic's probe."""

    if not TYPE_CHECKING:

        def __getattr__(self, item: str) -> Any:
            try:  # not `self.__pydantic_private__`: unset (mid-construction), it would recurse
                private = object.__getattribute__(self, "__pydantic_private__")
            except AttributeError:
                private = None
            if private and item in private and item in _plain_private_names(type(self)):
                return private[item]
            return super().__getattr__(item)
