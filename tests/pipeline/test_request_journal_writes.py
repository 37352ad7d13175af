"""The replies of one batched request (an embeddings request's texts, each its own cache
entry) reach the local journal in one `write`: a kill keeps all of them or none, so a resumed
run never sends the rest of a request again as a smaller request of its own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from stillroom.models.embeddings.base import Embeddings
from stillroom.pipeline import Pipeline
from stillroom.pipeline.cached_embeddings import CachedEmbeddings
from stillroom.pipeline.requests import Ledger, RequestCache
from stillroom.pipeline.store import SQLiteStore
from stillroom.steps.embeddings.embedding_generation import EmbeddingGeneration

pytestmark = pytest.mark.timeout(60)


class Vectors(Embeddings):
    """Each text's vector is its length (an empty one for "" : a reply not worth caching);
    the texts of each call are kept."""

    calls: list[list[str]] = Field(default_factory=list, exclude=True)  # not in the key
    fail: bool = False

    @property
    def model_name(self) -> str:
        return "vectors"

    def encode(self, inputs: list[str]) -> list[list[float]]:
        self.calls.append(list(inputs))
        if self.fail:
            raise ConnectionError("the server went away")
        return [[float(len(text))] if text else [] for text in inputs]


def cached(store: SQLiteStore, model: Vectors, run: str = "run") -> CachedEmbeddings:
    """`model` behind the request cache of an `EmbeddingGeneration` step, for one unit of
    work of `run` (each run counts identical texts from 0: a run's first text is a hit)."""
    with Pipeline(name="journal-writes"):
        step = EmbeddingGeneration(name="embed", embeddings=model)
    replies = RequestCache(store, run, step, read=True, model=model)
    return CachedEmbeddings(wrapped=model, replies=replies).for_unit(Ledger())


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every `os.write`: (file descriptor, number of lines written)."""
    seen: list[tuple[int, int]] = []
    write = os.write

    def counted(fd: int, data: Any) -> int:
        seen.append((fd, bytes(data).count(b"\n")))
        return write(fd, data)

    monkeypatch.setattr(os, "write", counted)
    return seen


def journal_writes(store: SQLiteStore, writes: list[tuple[int, int]]) -> list[int]:
    """The store's journal writes, each as the number of records it held."""
    return [lines for fd, lines in writes if fd == store._journal_fd]


def test_one_batched_request_is_journaled_in_one_write(
    tmp_path: Path, writes: list[tuple[int, int]]
) -> None:
    store = SQLiteStore(tmp_path)
    model = Vectors(calls=[])
    embeddings = cached(store, model)
    assert embeddings.encode(["a", "bb", "", "dddd", "eeeee"]) == [[1], [2], [], [4], [5]]
    # the four vectors in one write (the empty one is not worth keeping)
    assert journal_writes(store, writes) == [4]
    stats = embeddings.replies.stats
    assert (stats.sent, stats.cache_hits, stats.failed) == (5, 0, 0)
    rerun = cached(store, model, run="rerun")
    assert rerun.encode(["a", "bb", "ccc"]) == [[1], [2], [3]]  # two cache hits, one sent
    assert model.calls[-1] == ["ccc"] and journal_writes(store, writes) == [4, 1]
    stats = rerun.replies.stats
    assert (stats.sent, stats.cache_hits, stats.failed) == (1, 2, 0)
    store.close()
    reopened = SQLiteStore(tmp_path)  # the journal replayed: every vector kept is there
    again = cached(reopened, model, run="resumed")
    assert again.encode(["a", "bb", "ccc", "dddd", "eeeee"]) == [[1], [2], [3], [4], [5]]
    assert len(model.calls) == 2 and again.replies.stats.cache_hits == 5
    reopened.close()


def test_a_failed_batched_request_is_counted_for_each_text_and_journals_nothing(
    tmp_path: Path, writes: list[tuple[int, int]]
) -> None:
    store = SQLiteStore(tmp_path)
    embeddings = cached(store, Vectors(calls=[], fail=True))
    with pytest.raises(ConnectionError, match="went away"):
        embeddings.encode(["a", "bb", "ccc"])
    stats = embeddings.replies.stats
    assert (stats.sent, stats.failed, stats.errors, stats.in_flight) == (
        3,
        3,
        {"ConnectionError": 3},
        0,
    )
    assert journal_writes(store, writes) == []
    store.close()


def test_a_reply_that_is_not_json_is_left_out_of_the_write(
    tmp_path: Path, writes: list[tuple[int, int]]
) -> None:
    store = SQLiteStore(tmp_path)
    items = [
        (b"a" * 16, {"embedding": [1.0]}),
        (b"b" * 16, {"embedding": [object()]}),  # cannot be JSON
        (b"c" * 16, {"generations": ["\ud800 a lone surrogate"]}),  # written escaped
    ]
    assert store.put_requests(items) == [True, False, True]
    assert journal_writes(store, writes) == [2]
    assert store.put_requests([]) == []
    assert journal_writes(store, writes) == [2]  # nothing to write: no write
    store.commit()
    assert store.get_request(b"a" * 16) == {"embedding": [1.0]}
    assert store.get_request(b"b" * 16) is None
    assert store.get_request(b"c" * 16) == {"generations": ["\ud800 a lone surrogate"]}
    store.close()
