"""The embedding model a step sees while a pipeline runs it: its own behind the request cache.

What `cached_llm.py` does for a task's LLM, for a step's `embeddings` (`EmbeddingGeneration`,
or any step with an `Embeddings` in that field): `Engine.install_llms` puts a
`CachedEmbeddings` on the step for the run and `remove_llms` puts the step's own model back.
Each text is one request of the cache: looked up first, the misses encoded together by the
wrapped model (so its own batching, retries and limits apply), and their vectors recorded
as they come back, journaled together with one write (a kill does not fall between two), in the
ledger of the unit of work. A resumed or repeated run
therefore does not send again the texts already embedded, whatever the model (a remote
`/v1/embeddings` server above all, where each text costs money).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from pydantic import Field, SkipValidation

from stillroom.models.embeddings.base import Embeddings
from stillroom.pipeline.cached_llm import Replies  # imported at run time: pydantic reads
from stillroom.pipeline.requests import Ledger  # the field annotations

if TYPE_CHECKING:
    from stillroom.steps.base import _Step
    from stillroom.steps.tasks.base import LLMResult

EMBEDDINGS_FIELD = "embeddings"
"""The step field holding the model, as in distilabel's `EmbeddingGeneration`."""


class CachedEmbeddings(Embeddings):
    """A step's embedding model behind the pipeline's request cache."""

    wrapped: SkipValidation[Embeddings]
    replies: SkipValidation[Replies]
    ledger: SkipValidation[Ledger | None] = Field(default=None, exclude=True)
    """Where one unit of work's requests are noted (`for_unit`)."""

    @property
    def model_name(self) -> str:
        return self.wrapped.model_name

    def for_unit(self, ledger: Ledger) -> CachedEmbeddings:
        """This wrapper, noting the requests it keys in `ledger` (one unit of work's)."""
        return self.model_copy(update={"ledger": ledger})

    def load(self) -> None:
        self.wrapped.load()

    def unload(self) -> None:
        self.wrapped.unload()

    def reply_settings(self) -> dict[str, Any]:
        return self.wrapped.reply_settings()

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        """The wrapped model's dump: a wrapper added for a run is not configuration."""
        return self.wrapped.dump(**kwargs)

    def _label(self) -> str:
        return self.wrapped._label()

    def encode(self, inputs: list[str]) -> list[list[float]]:
        """Cached vectors, the others from the wrapped model in one `encode` call; should it
        fail, the failure is counted for each text and raised, as it would be."""
        texts = list(inputs)

        def send(misses: list[int]) -> list[LLMResult]:
            vectors = self.wrapped.encode([texts[i] for i in misses])
            if len(vectors) != len(misses):
                raise ValueError(
                    f"{self.wrapped._label()} returned {len(vectors)} vectors for "
                    f"{len(misses)} texts."
                )
            return [{"embedding": vector} for vector in vectors]  # type: ignore[misc]

        requests = [{"input": text} for text in texts]
        results = cast("list[dict[str, Any]]", self.replies.many(requests, self.ledger, send))
        return [result["embedding"] for result in results]  # every miss is a vector or raised

    async def aencode(self, inputs: list[str]) -> list[list[float]]:
        """`encode` from a coroutine (in a thread, as the cache's lookups block)."""
        return await asyncio.to_thread(self.encode, inputs)


def step_embeddings(step: _Step) -> Embeddings | None:
    """The embedding model in `step`'s `embeddings` field, if it has one."""
    model = step.__dict__.get(EMBEDDINGS_FIELD)
    return model if isinstance(model, Embeddings) else None


def swap_embeddings(step: _Step, embeddings: Embeddings) -> None:
    """Set the step's model without its field's validation (see `cached_llm.swap_llm`)."""
    step.__dict__[EMBEDDINGS_FIELD] = embeddings
