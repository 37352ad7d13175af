"""`Embeddings`: the contract of every embedding model (distilabel's `Embeddings`).

An embedding model turns texts into vectors: `encode(inputs) -> list[list[float]]`, one
vector per text, in order. Like an LLM it is configured by fields, builds its model or client
in `load()` and frees it in `unload()`; `reply_settings()` is what decides its vectors (every
field but secrets and `_transport_fields`), so a cache can key on it as it keys LLM requests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import ConfigDict

from stillroom.mixins.loadable import LoadableMixin
from stillroom.mixins.runtime_parameters import RuntimeParametersMixin
from stillroom.utils.serialization import Serializable, secret_fields


class Embeddings(RuntimeParametersMixin, LoadableMixin, Serializable, ABC):
    """Base class of the embedding models."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        validate_assignment=True,
        protected_namespaces=(),
        extra="forbid",
    )

    _transport_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields saying where or how fast vectors are computed, not which ones come back."""

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's name."""

    @abstractmethod
    def encode(self, inputs: list[str]) -> list[list[float]]:
        """One vector per text of `inputs`, in order."""

    def reply_settings(self) -> dict[str, Any]:
        """The configuration that decides the vectors (for cache keys): every field but
        secrets, excluded fields and the `_transport_fields` of the class and its bases."""
        left_out = secret_fields(type(self)).union(
            *(vars(base).get("_transport_fields", ()) for base in type(self).__mro__)
        )
        return {
            name: getattr(self, name)
            for name, field in type(self).model_fields.items()
            if name not in left_out and not field.exclude
        }

    def _label(self) -> str:
        return f"Embeddings {type(self).__name__}({self.model_name!r})"
