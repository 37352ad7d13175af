"""`SignatureMixin`: `signature`, a SHA-1 of a step's settings, as distilabel's steps have.

The settings are the step's `dump()`, flattened to `path-value` pairs (nested keys joined
with "_", list items numbered), minus the keys named in `exclude_from_signature`: how a step
runs (`resources`, `input_batch_size`, ...), the class's import path (`type_info`) and the
runtime parameters' descriptions (`runtime_parameters_info`), which are documentation. A
name there drops the whole entry at any depth, under its own key or its flattened path.

Runs do not key on it: the pipeline's cache and resume use `Pipeline.step_signatures()`
(`pipeline/signature.py`), which also covers the steps upstream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

SIGNATURE_EXCLUDED_BY_DEFAULT = frozenset(
    {
        "type_info",  # utils.serialization.TYPE_INFO_KEY (mixins sit below utils)
        "runtime_parameters_info",
        "exclude_from_signature",
        "resources",
        "input_batch_size",
        "disable_cuda_device_placement",
        "gpu_memory_utilization",
        "llm_jobs_ids",
        "llm_offline_batch_generation_block_until_done",
    }
)
"""Keys left out of a signature unless `exclude_from_signature` is set otherwise."""


class SignatureMixin(BaseModel):
    """`signature`: a hash of the settings, without the keys in `exclude_from_signature`."""

    exclude_from_signature: set[str] = Field(
        default_factory=lambda: set(SIGNATURE_EXCLUDED_BY_DEFAULT), exclude=True
    )

    @property
    def signature(self) -> str:
        """SHA-1 (hex) of the flattened `dump()`: equal settings give equal signatures."""
        pairs = _flatten(self.dump(), "", self.exclude_from_signature)  # type: ignore[attr-defined]
        text = "-".join(f"{path}-{value}" for path, value in pairs)
        return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _flatten(value: dict[str, Any], prefix: str, excluded: set[str]) -> Iterator[tuple[str, Any]]:
    """`(path, leaf value)` pairs of a dumped mapping; lists of scalars become one
    "a-b-c" value, lists of mappings are walked item by item."""
    for key, item in value.items():
        path = f"{prefix}_{key}" if prefix else key
        if key in excluded or path in excluded:
            continue
        if isinstance(item, dict):
            yield from _flatten(item, path, excluded)
        elif isinstance(item, list) and item and all(isinstance(e, dict) for e in item):
            for index, element in enumerate(item):
                yield from _flatten(element, f"{path}-{index}", excluded)
        elif isinstance(item, list):
            yield path, "-".join(map(str, item))
        else:
            yield path, item
