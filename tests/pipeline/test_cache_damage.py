"""A damaged request cache is noticed when it is opened, never silently paid for again.

The database is checked with SQLite's `quick_check`, and compared with the counters its last
commit recorded beside it (`cache-state.json`), which tells a deleted `-wal` file or an older
copy put back; journal lines that cannot be read are counted. Each finding is a warning
saying how many requests may be sent again, or, with `strict_cache`, an error before any
request.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from stillroom.errors import DamagedCacheError
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline.store import SQLiteStore
from stillroom.steps import LoadDataFromDicts
from stillroom.steps.tasks import TextGeneration


def filled_store(directory: Path, replies: int) -> SQLiteStore:
    store = SQLiteStore(directory)
    for i in range(replies):
        store.put_request(i.to_bytes(16, "little"), {"generations": [f"reply {i}"]})
    store.commit()
    return store


def test_a_healthy_cache_reports_nothing(tmp_path: Path) -> None:
    filled_store(tmp_path, 5).close()
    store = SQLiteStore(tmp_path, strict=True)
    assert store.problems == []
    assert store.get_request((3).to_bytes(16, "little")) == {"generations": ["reply 3"]}
    store.close()


def test_a_lost_wal_file_is_reported_with_the_replies_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = tmp_path / "live"
    store = filled_store(live, 0)  # the database file, checkpointed
    store.close()
    store = SQLiteStore(live)
    for i in range(50):  # committed to the -wal file only (the process is then "killed")
        store.put_request(i.to_bytes(16, "little"), {"generations": ["x"]})
    store.commit()
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(live / "cache.sqlite", copy)  # without its -wal
    shutil.copy(live / "cache-state.json", copy)
    store.close()

    with caplog.at_level(logging.WARNING, "stillroom"):
        reopened = SQLiteStore(copy)
    (problem,) = reopened.problems
    assert "older than its last commit" in problem and "50 cached replies are lost" in problem
    assert "50 cached replies are lost" in caplog.text and "strict_cache" in caplog.text
    reopened.close()
    # the warning is given once: the state now describes the database as it is
    assert SQLiteStore(copy).problems == []


def test_strict_cache_refuses_a_lost_wal_file(tmp_path: Path) -> None:
    live, copy = tmp_path / "live", tmp_path / "copy"
    filled_store(live, 0).close()
    store = SQLiteStore(live)
    store.put_request(b"k" * 16, {"generations": ["x"]})
    store.commit()
    copy.mkdir()
    shutil.copy(live / "cache.sqlite", copy)
    shutil.copy(live / "cache-state.json", copy)
    store.close()
    with pytest.raises(DamagedCacheError, match=r"1 cached replies are lost.*Nothing was sent"):
        SQLiteStore(copy, strict=True)


def test_a_truncated_database_is_moved_aside_and_reported(tmp_path: Path) -> None:
    filled_store(tmp_path, 300).close()
    path = tmp_path / "cache.sqlite"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DamagedCacheError, match="integrity check"):
        SQLiteStore(tmp_path, strict=True)
    store = SQLiteStore(tmp_path)
    (problem,) = store.problems
    assert "failed SQLite's integrity check" in problem and "up to 300 cached" in problem
    assert list(tmp_path.glob("cache.damaged-*.sqlite"))
    store.put_request(b"n" * 16, {"generations": ["new"]})  # a new cache works
    store.commit()
    store.close()


def test_unreadable_journal_lines_are_counted(tmp_path: Path) -> None:
    filled_store(tmp_path, 0).close()
    good = (b"a" * 16).hex() + '\t{"generations":["ok"]}\n'
    (tmp_path / "journal-dead.log").write_text(f"{good}garbage line\nnot\thex\n{good}torn")
    store = SQLiteStore(tmp_path)
    (problem,) = store.problems
    assert problem.startswith("2 line(s) of the request journal")
    assert store.get_request(b"a" * 16) == {"generations": ["ok"]}
    store.close()


def _pipeline() -> Pipeline:
    with Pipeline(name="damaged") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(20)])
        load >> TextGeneration(llm=AsyncMockLLM())
    return pipeline


def test_strict_cache_stops_a_run_before_any_request(cache_dir: Path) -> None:
    _pipeline().run(progress=False)
    (database,) = cache_dir.glob("pipelines/damaged/cache.sqlite")
    database.write_bytes(database.read_bytes()[:1000])
    pipeline = _pipeline()
    with pytest.raises(DamagedCacheError, match="integrity check"):
        pipeline.run(progress=False, strict_cache=True)
    (task,) = [s for s in pipeline.dag.steps.values() if isinstance(s, TextGeneration)]
    assert task.llm.calls == []  # type: ignore[attr-defined]
