"""`QuickPrivateAttributes` answers as pydantic would, only faster."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import PrivateAttr

from stillroom.mixins.private_attributes import QuickPrivateAttributes


class _Descriptor:
    def __get__(self, instance: Any, owner: Any) -> str:
        return "from the descriptor"


class _Model(QuickPrivateAttributes):
    value: int = 0
    _count: int = PrivateAttr(default=3)
    _cache: dict[str, int] = PrivateAttr(default_factory=dict)
    _described: Any = PrivateAttr(default=_Descriptor())


def test_plain_private_attributes_are_read_and_written() -> None:
    model = _Model()
    assert model._count == 3
    model._count = 7
    assert model._count == 7
    model._cache["a"] = 1
    assert model._cache == {"a": 1}
    assert _Model()._cache == {}  # each instance its own


def test_a_descriptor_default_is_left_to_pydantic() -> None:
    assert _Model()._described == "from the descriptor"


def test_unknown_names_raise_attribute_error() -> None:
    model = _Model()
    with pytest.raises(AttributeError, match="_missing"):
        model._missing  # noqa: B018
    with pytest.raises(AttributeError, match="missing"):
        model.missing  # type: ignore[attr-defined]  # noqa: B018
    assert getattr(model, "_missing", "default") == "default"


def test_copies_keep_their_private_values() -> None:
    model = _Model()
    model._count = 11
    assert model.model_copy()._count == 11
