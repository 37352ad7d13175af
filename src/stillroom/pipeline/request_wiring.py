"""How the local engine puts each step's models behind the run's request cache.

`RequestWiring` is the part of the engine (`scheduler.Engine`) that, before the steps load,
swaps a task's LLM for a `CachedLLM` and another step's embedding model for a
`CachedEmbeddings` over one `RequestCache` per step, binds them to the ledger of the unit
being run, and puts the step's own model back at the end. The Ray engine overrides
`install_llms` to do the same on its replicas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillroom.pipeline.cached_embeddings import (
    CachedEmbeddings,
    step_embeddings,
    swap_embeddings,
)
from stillroom.pipeline.cached_llm import cached_llm, swap_llm
from stillroom.pipeline.requests import RequestCache
from stillroom.pipeline.store import SQLiteStore
from stillroom.steps.tasks.base import _Task

if TYPE_CHECKING:
    from stillroom.pipeline.contracts import RunConfig, Store
    from stillroom.pipeline.nodes import Node
    from stillroom.pipeline.requests import Ledger


class RequestWiring:
    """The steps' models behind the request cache, for the run's duration."""

    nodes: dict[str, Node]
    config: RunConfig
    store: Store
    run_id: str

    def install_llms(self) -> None:
        """Put each task's LLM, and each other step's embedding model, behind the run's
        request cache (`remove_llms` puts their own back): every request they make is then
        cached, counted and resumable."""
        assert isinstance(self.store, SQLiteStore)  # the local executor's store
        for node in self.nodes.values():
            read = self.config.use_cache and node.step.use_cache
            if isinstance(node.step, _Task):
                node.requests = cache = RequestCache(self.store, self.run_id, node.step, read)
                node.own_llm = node.step.llm
                node.cached = cached_llm(node.own_llm, cache)
                swap_llm(node.step, node.cached)
            elif (model := step_embeddings(node.step)) is not None and not node.cpu_bound:
                node.requests = cache = RequestCache(
                    self.store, self.run_id, node.step, read, model=model
                )
                node.own_embeddings = model
                node.cached_embeddings = CachedEmbeddings(wrapped=model, replies=cache)
                swap_embeddings(node.step, node.cached_embeddings)

    def remove_llms(self) -> None:
        for node in self.nodes.values():
            if node.own_llm is not None:
                swap_llm(node.step, node.own_llm)  # type: ignore[arg-type]
            if node.own_embeddings is not None:
                swap_embeddings(node.step, node.own_embeddings)

    @staticmethod
    def _bind(node: Node, ledger: Ledger) -> None:
        """The step's LLM or embedding model notes its requests in `ledger` (the steps that
        are not on the row path run one unit at a time, so the step holds one unit's view
        at a time)."""
        if node.cached is not None:
            swap_llm(node.step, node.cached.for_unit(ledger))  # type: ignore[arg-type]
        if node.cached_embeddings is not None:
            swap_embeddings(node.step, node.cached_embeddings.for_unit(ledger))
