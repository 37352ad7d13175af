"""What the run's own files cannot hold never loses rows silently.

Rows holding text UTF-8 cannot encode (lone surrogates) are written escaped; a write that
fails (a full disk) stops the run at once with an error naming the file, keeps every reply
it had saved, and never turns a received reply into a failed row.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from stillroom.errors import StorageError
from stillroom.models import AsyncMockLLM
from stillroom.pipeline import Pipeline
from stillroom.pipeline import store as store_module
from stillroom.steps import LoadDataFromDicts, LoadDataFromFileSystem
from stillroom.steps.tasks import TextGeneration

pytestmark = pytest.mark.timeout(60)


class CountingLLM(AsyncMockLLM):
    """Counts the prompts it answered, across runs of a test (a class-level list)."""

    answered: list[str] = []

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:
        output = await super().agenerate(input, num_generations, **kwargs)
        type(self).answered.append(input[-1]["content"])
        return output


def test_a_lone_surrogate_in_a_file_keeps_every_row(
    tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [json.dumps({"instruction": f"q{i}"}) for i in range(11)]
    lines[7] = '{"instruction": "q7 \\ud800"}'  # valid JSON, not valid UTF-8 once decoded
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with Pipeline(name="surrogates") as pipeline:
        load = LoadDataFromFileSystem(data_files=str(path), batch_size=5)
        load >> TextGeneration(llm=AsyncMockLLM())
    with caplog.at_level(logging.WARNING, logger="stillroom.distiset"):
        distiset = pipeline.run(progress=False)
    rows = distiset["default"]["train"].to_list()
    # Arrow's strings are UTF-8: the dataset holds U+FFFD where the surrogate was, and says so
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(7)] + [
        "q7 \ufffd",
        *(f"q{i}" for i in range(8, 11)),
    ]
    assert any("lone surrogate" in r.getMessage() for r in caplog.records)
    assert all(r["generation"] for r in rows)
    assert distiset.summary is not None and distiset.summary.completed
    # the run's file is valid UTF-8 JSON and keeps the escaped text as it was
    (data,) = cache_dir.glob("pipelines/surrogates/*/data/default/train/00000.jsonl")
    raw = data.read_bytes()
    raw.decode("utf-8")
    assert b"\\ud800" in raw


def answer(messages: list[dict[str, str]]) -> str:
    return "answer to " + messages[-1]["content"]


def _pipeline(name: str, rows: int = 40) -> Pipeline:
    with Pipeline(name=name) as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(rows)], batch_size=8)
        load >> TextGeneration(llm=CountingLLM(responses=answer, max_concurrent_requests=4))
    return pipeline


def test_a_full_disk_stops_the_run_and_a_rerun_resends_nothing_saved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    CountingLLM.answered = []
    real_write = os.write
    journaled: list[bytes] = []

    def write(fd: int, data: Any) -> int:
        if len(journaled) >= 15:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        journaled.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(store_module.os, "write", write)
    with pytest.raises(StorageError) as caught:
        _pipeline("full").run(progress=False)
    message = str(caught.value)
    assert "No space left on device" in message and "journal" in message
    assert "run the pipeline again to resume" in message
    first = list(CountingLLM.answered)
    assert len(first) >= 15

    monkeypatch.setattr(store_module.os, "write", real_write)
    CountingLLM.answered = []
    distiset = _pipeline("full").run(progress=False)
    rows = distiset["default"]["train"].to_list()
    assert [r["instruction"] for r in rows] == [f"q{i}" for i in range(40)]
    assert all(r["generation"] == f"answer to {r['instruction']}" for r in rows)
    assert not any(r.get("stillroom_metadata", {}).get("error_text_generation") for r in rows)
    saved = {json.loads(line.split(b"\t", 1)[1])["generations"][0] for line in journaled}
    resent = {f"answer to {p}" for p in CountingLLM.answered} & saved
    assert not resent, f"replies saved before the failure were asked again: {sorted(resent)}"


def test_a_failed_write_in_a_loop_callback_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting a finished unit's requests happens in a loop callback on the row path; its
    failure used to be logged by asyncio and the run to hang."""

    def add_seen(*args: Any) -> None:
        raise StorageError("the request cache", "cache.sqlite", OSError(errno.ENOSPC, "full"))

    monkeypatch.setattr(store_module.SQLiteStore, "add_seen", add_seen)
    with pytest.raises(StorageError, match="full"):
        _pipeline("callback", rows=10).run(progress=False)


def test_an_unwritable_dataset_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from stillroom.pipeline import writers

    def dumps_rows(rows: list[Any]) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(writers, "dumps_rows", dumps_rows)
    with pytest.raises(StorageError, match=r"dataset.*Input/output error"):
        _pipeline("dataset", rows=10).run(progress=False)


def test_store_refuses_every_write_after_one_failed(tmp_path: Path) -> None:
    store = store_module.SQLiteStore(tmp_path)
    store._conn.close()  # any SQLite call now fails
    with pytest.raises(StorageError) as first:
        store.clear_run("signature", run="run")
    with pytest.raises(StorageError) as again:
        store.commit()
    with pytest.raises(StorageError) as counting:  # counts only in memory, refused all the same
        store.add_seen("run", "step", [b"x"])
    assert counting.value is again.value is first.value is store.failure
    store.close()  # closing after a failure does not raise a second error
