"""The filter that spares a query for request contents never counted: it must never miss one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stillroom.models import AsyncMockLLM
from stillroom.pipeline.requests import Ledger, RequestCache, SeenFilter
from stillroom.pipeline.store import SQLiteStore
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(60)


def digest(n: int) -> bytes:
    return hashlib.blake2b(n.to_bytes(8, "little"), digest_size=16).digest()


def test_no_counted_content_is_missed_as_the_filter_grows() -> None:
    table: list[bytes] = []

    def reload(add):  # what the store's `seen` table holds
        for content in table:
            add(content)

    seen = SeenFilter(reload)
    for start in range(0, 400_000, 2_000):  # crosses two rebuilds
        batch = [digest(n) for n in range(start, start + 2_000)]
        table.extend(batch)
        seen.add(batch)
    assert all(seen.may_hold(content) for content in table)
    strangers = sum(seen.may_hold(digest(n)) for n in range(10**6, 10**6 + 20_000))
    assert strangers < 200  # under 1% of contents never counted ask the store for nothing


def test_a_resumed_cache_reads_the_counts_back(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.add_seen("run", "gen", [digest(n) for n in range(100)])
    seen = SeenFilter(lambda add: store.each_seen("run", "gen", add))
    assert all(seen.may_hold(digest(n)) for n in range(100))
    store.close()


def test_keys_count_identical_requests_across_units(tmp_path: Path) -> None:
    """The same request sent again gets a new key, whether its earlier occurrences are still
    pending or already consumed (committed to `seen`), and past the filter's first growth."""
    store = SQLiteStore(tmp_path)
    task = TextGeneration(name="gen", llm=AsyncMockLLM())
    cache = RequestCache(store, "run", task, read=True)
    request = {"input": [{"role": "user", "content": "same"}], "call": {}}
    keys = set()
    for _ in range(3):
        ledger = Ledger()
        keys.add(cache.key(request, ledger))
        for n in range(35_000):  # enough distinct contents to make the filter grow
            cache.key({"input": str(n), "call": {}}, ledger)
        cache.consume(ledger.hashes)
    unfinished = cache.key(request, Ledger())  # its unit never consumed
    keys.add(unfinished)
    assert len(keys) == 4
    resumed = RequestCache(store, "run", task, read=True)  # a new session of the same run
    assert resumed.key(request, Ledger()) == unfinished
    store.close()


def test_counts_are_summed_until_the_commit_and_read_before_it(tmp_path: Path) -> None:
    """`add_seen` counts in memory; lookups see those counts at once, the commit writes one
    row per content with the sum, and a close without a commit keeps none of them."""
    store = SQLiteStore(tmp_path)
    store.add_seen("run", "gen", [digest(1), digest(2)])
    store.add_seen("run", "gen", [digest(1)])
    store.add_seen("other", "gen", [digest(1)])
    assert store.seen_count("run", "gen", digest(1)) == 2
    assert store.seen_count("run", "other step", digest(1)) == 0
    held: list[bytes] = []
    store.each_seen("run", "gen", held.append)
    assert sorted(held) == sorted([digest(1), digest(2)])
    store.commit()
    rows = store._conn.execute("SELECT run, hash, n FROM seen ORDER BY run, n").fetchall()
    assert rows == [("other", digest(1), 1), ("run", digest(2), 1), ("run", digest(1), 2)]
    store.add_seen("run", "gen", [digest(1)])
    assert store.seen_count("run", "gen", digest(1)) == 3  # committed 2 + 1 not yet
    store.clear_run("signature", run="other")  # a run started over forgets its counts
    store.add_seen("run", "gen", [digest(3)])
    store.close()  # not committed: the counts since the last commit are dropped
    reopened = SQLiteStore(tmp_path)
    assert reopened.seen_count("run", "gen", digest(1)) == 2
    assert reopened.seen_count("run", "gen", digest(3)) == 0
    assert reopened.seen_count("other", "gen", digest(1)) == 1  # cleared, but not committed
    reopened.clear_run("signature", run="other")
    reopened.add_seen("other", "gen", [digest(4)])
    reopened.clear_run("signature", run="other")
    assert reopened.seen_count("other", "gen", digest(4)) == 0
    reopened.commit()
    assert reopened.seen_count("other", "gen", digest(1)) == 0
    reopened.close()
